"""Rendering letters: Jinja2 templates to Typst (PDF) and HTML, in parallel processes for large batches.

The templates are package data (``maler/brev.typ.j2``, ``maler/brev.html.j2``); a file of the same name
in ``--brevmal DIR`` takes their place. In the Typst template every ``{{ value }}`` is written as text:
each character Typst would read as markup is escaped (:func:`typst_tekst`), so a name such as «#1 *AS*»
prints as it is; :func:`kode` marks text that is Typst code, :func:`streng` makes a Typst string literal.

``samlet.pdf`` is made in chunks: each worker compiles its letters one by one (``<id>.pdf``) and once more
as one document (each letter starting on an odd page, so the bundle prints duplex); the chunks are then
joined in order (pikepdf, qpdf's bindings: ten times faster than a pure-Python join).
"""

from __future__ import annotations

import html
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigurationError
from .modell import Brev
from .tekster import PAKKE, Tekster, les_tekster

MALER = ("brev.typ.j2", "brev.html.j2")
FILMODUS = 0o640  # names and addresses, never a full fødselsnummer
CHUNK = 100  # letters per bundle chunk (the footer's page total looks up the letter's end within a chunk)
PARALLELL_FRA = 300  # letters: below this, render in this process


class kode(str):
    """Typst code, written into the template as it is."""


_TYPST_SPESIELLE = re.compile(r"([\\#$*_`<>@\[\]~=\-+/'\".{}])")


def typst_tekst(value: Any) -> str:
    """Text in Typst markup: every character with a meaning of its own escaped, line breaks as spaces."""
    if isinstance(value, kode):
        return value
    if value is None:
        return ""
    return _TYPST_SPESIELLE.sub(r"\\\1", " ".join(str(value).split()) if "\n" in str(value) else str(value))


def streng(value: Any) -> kode:
    """A Typst string literal: «"…"» with backslashes and quotes escaped."""
    return kode('"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"')


def _miljoe(mal: Path | None, typst: bool):  # type: ignore[no-untyped-def]
    import jinja2

    loaders = [jinja2.FileSystemLoader(str(mal))] if mal else []
    loaders.append(jinja2.FileSystemLoader(str(PAKKE)))
    common = dict(loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined, trim_blocks=True,
                  lstrip_blocks=True, keep_trailing_newline=True)
    if typst:
        env = jinja2.Environment(autoescape=False, finalize=typst_tekst, **common)
        env.globals.update(kode=kode, streng=streng)
    else:
        env = jinja2.Environment(autoescape=True, **common)
    return env


@dataclass
class Gjengiver:
    """Templates, sentences and a Typst compiler, made once per process."""

    mal: Path | None

    def __post_init__(self) -> None:
        try:
            import typst
        except ImportError:  # pragma: no cover - the [brev] extra is not installed
            raise ConfigurationError("vedtaksbrev trenger Typst og Jinja2: pip install 'fee-engine[brev]'") from None
        import jinja2

        try:
            self.typ = _miljoe(self.mal, True).get_template("brev.typ.j2")
            self.html = _miljoe(self.mal, False).get_template("brev.html.j2")
        except jinja2.TemplateError as exc:
            raise ConfigurationError(f"brevmalen kan ikke leses: {exc}") from None
        self.tekster = les_tekster(self.mal)
        self._t: dict[str, Tekster] = {}
        self.compiler = typst.Compiler(b"", font_paths=[str(self.mal)] if self.mal else [])

    def t(self, maalform: str) -> Tekster:
        if maalform not in self._t:
            self._t[maalform] = Tekster(self.tekster, maalform)
        return self._t[maalform]

    def typst_kilde(self, b: Brev) -> str:
        return self.typ.render(brev=b, t=self.t(b.maalform))

    def html_kilde(self, b: Brev) -> str:
        return self.html.render(brev=b, t=self.t(b.maalform))

    def pdf(self, kilde: str, tittel: str = "", forfatter: str = "", tagget: bool = True) -> bytes:
        """Compile Typst source; ``tagget``: a tagged PDF (structure for screen readers), as a letter on its own."""
        head = f"#set document(title: {streng(tittel)}, author: {streng(forfatter)})\n" if tittel else ""
        try:
            return self.compiler.compile(input=(head + kilde).encode("utf-8"), pdf_tags=tagget)
        except Exception as exc:  # typst raises its own error type with the source position
            raise ConfigurationError(f"brevmalen gir ugyldig Typst: {str(exc)[:2000]}") from None

    def brev(self, b: Brev, mappe: Path) -> str:
        """Write ``<id>.pdf`` and ``<id>.html``; return the Typst source for the bundle."""
        kilde = self.typst_kilde(b)
        _skriv(mappe / f"{b.filnavn}.pdf", self.pdf(kilde, b.tittel, f"{b.kommune} kommune"))
        _skriv(mappe / f"{b.filnavn}.html", self.html_kilde(b).encode("utf-8"))
        return kilde


def _skriv(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILMODUS)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, FILMODUS)  # also when the file was there


def samlet_kilde(kilder: list[str]) -> str:
    """Letters as one document: each starts on an odd page and keeps its set and show rules to itself
    (unscoped, every letter's rules would pile up and make the layout quadratic in the number of letters)."""
    return "".join(f'#pagebreak(weak: true, to: "odd")\n#[\n{k}\n]\n' for k in kilder)


@lru_cache(maxsize=4)
def _gjengiver(mal: str | None) -> Gjengiver:
    return Gjengiver(Path(mal) if mal else None)


def _bit(args: tuple[list[Brev], str | None, str, str]) -> int:
    """Render one chunk: each letter, then the chunk as one document for the bundle."""
    brev, mal, mappe, bit = args
    g = _gjengiver(mal)
    kilder = [g.brev(b, Path(mappe)) for b in brev]
    Path(bit).write_bytes(g.pdf(samlet_kilde(kilder), tagget=False))  # for printing: no tags
    return len(brev)


def gjengi(brev: list[Brev], mappe: Path, mal: Path | None, tick: Callable[[int], None] | None = None,
           prosesser: int | None = None) -> Path:
    """Every letter as PDF and HTML in ``mappe``, and ``mappe/samlet.pdf``. Returns the bundle's path."""
    import pikepdf

    mappe.mkdir(parents=True, exist_ok=True)
    _gjengiver(str(mal) if mal else None)  # a broken template stops here, before any worker starts
    biter = [brev[i:i + CHUNK] for i in range(0, len(brev), CHUNK)]
    deler = [str(mappe / f".samlet-{i:05d}.pdf") for i in range(len(biter))]
    jobber = [(b, str(mal) if mal else None, str(mappe), d) for b, d in zip(biter, deler)]
    n = prosesser or min(os.cpu_count() or 1, len(biter))
    if len(brev) < PARALLELL_FRA or n <= 1:
        for job in jobber:
            k = _bit(job)
            if tick:
                tick(k)
    else:
        with ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn")) as pool:
            for k in pool.map(_bit, jobber):
                if tick:
                    tick(k)
    samlet = mappe / "samlet.pdf"
    with pikepdf.Pdf.new() as pdf:
        kilder = [pikepdf.Pdf.open(d) for d in deler]
        for k in kilder:
            pdf.pages.extend(k.pages)
        with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
            meta["dc:title"] = "Vedtaksbrev"
        pdf.save(samlet)
        for k in kilder:
            k.close()
    os.chmod(samlet, FILMODUS)
    for d in deler:
        os.unlink(d)
    return samlet


def tekst_fra_html(kilde: str) -> str:
    """The visible text of a letter's HTML (for tests comparing it with the PDF)."""
    body = re.sub(r"(?s)<style.*?</style>|<head.*?</head>", " ", kilde)
    blokk = "p|div|li|ul|td|th|tr|h\\d|section|header|footer|main|table|thead|tbody|dl|dt|dd"
    body = re.sub(rf"<(?:br|/?(?:{blokk}))\b[^>]*>", " ", body)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", body)).split())
