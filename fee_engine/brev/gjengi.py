"""Rendering letters: Jinja2 templates to Typst (PDF) and HTML, in one process per core for large batches.

The templates are package data (``maler/brev.typ.j2``, ``maler/brev.html.j2``); a file of the same name
in ``--brevmal DIR`` takes their place. In the Typst template every ``{{ value }}`` is written as text:
each character Typst would read as markup is escaped (:func:`typst_tekst`), so a name such as «#1 *AS*»
prints as it is; :func:`kode` marks text that is Typst code, :func:`streng` makes a Typst string literal,
:func:`fil` names a file (a logo, say) in the template folder.

Letters are laid out once, 100 at a time: each chunk is one Typst document (every letter in its own
scope, so one letter's set and show rules never reach the next), whose pages are then cut into the
letters' own PDFs (pikepdf, qpdf's bindings) and joined, chunk after chunk, into ``samlet.pdf``, where a
blank page after a letter with an odd number of pages makes every letter start on a front side.
Compiling every letter on its own as well would double the time (Typst spends about 6 ms on a letter).
"""

from __future__ import annotations

import html
import io
import json
import os
import re
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from .modell import Brev
from .tekster import PAKKE, Tekster, les_tekster

FILMODUS = 0o640  # names and addresses, never a full fødselsnummer
CHUNK = 100  # letters laid out in one Typst document
PARALLELL_FRA = 300  # letters: below this, render in this process
A4 = (595.2756, 841.8898)  # points


class kode(str):
    """Typst code, written into the template as it is."""


_TYPST_SPESIELLE = re.compile(r"([\\#$*_`<>@\[\]~=\-+/'\".{}])")


def typst_tekst(value: Any) -> str:
    """Text in Typst markup: every character with a meaning of its own escaped, line breaks as spaces."""
    if isinstance(value, kode):
        return value
    if value is None:
        return ""
    text = str(value)
    return _TYPST_SPESIELLE.sub(r"\\\1", " ".join(text.split()) if "\n" in text else text)


def streng(value: Any) -> kode:
    """A Typst string literal: «"…"» with backslashes and quotes escaped."""
    return kode('"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"')


def _miljoe(mal: Path | None, typst: bool):  # type: ignore[no-untyped-def]
    import jinja2

    folders = ([mal] if mal else []) + [PAKKE]
    common = dict(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(f)) for f in folders]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    if typst:
        env = jinja2.Environment(autoescape=False, finalize=typst_tekst, **common)

        def fil(navn: str) -> kode:
            """A file in the template folder (or the package's), as a Typst path string."""
            for f in folders:
                if (f / navn).is_file():
                    return streng((f / navn).resolve().as_posix())
            raise ConfigurationError(f"brevmalen viser til {navn}, som ikke finnes i {folders[0]}")

        env.globals.update(kode=kode, streng=streng, fil=fil)
    else:
        env = jinja2.Environment(autoescape=True, **common)
    return env


class Gjengiver:
    """Templates, sentences and a Typst compiler, made once per process."""

    def __init__(self, mal: Path | None) -> None:
        try:
            import typst
        except ImportError:  # pragma: no cover - the [brev] extra is not installed
            raise ConfigurationError("vedtaksbrev trenger Typst og Jinja2: pip install 'fee-engine[brev]'") from None
        import jinja2

        self.mal = mal
        try:
            self.typ = _miljoe(mal, True).get_template("brev.typ.j2")
            self.html = _miljoe(mal, False).get_template("brev.html.j2")
        except jinja2.TemplateError as exc:
            raise ConfigurationError(f"brevmalen kan ikke leses: {exc}") from None
        self.tekster = les_tekster(mal)
        self._t: dict[str, Tekster] = {}
        self._typst = typst
        self._kompilatorer: dict[Path, Any] = {}

    def t(self, maalform: str) -> Tekster:
        if maalform not in self._t:
            self._t[maalform] = Tekster(self.tekster, maalform)
        return self._t[maalform]

    def typst_kilde(self, b: Brev) -> str:
        return self.typ.render(brev=b, t=self.t(b.maalform))

    def html_kilde(self, b: Brev) -> str:
        return self.html.render(brev=b, t=self.t(b.maalform))

    def kompilator(self, fil: Path):  # type: ignore[no-untyped-def]
        """A Typst compiler for the source file ``fil`` (rewritten for every chunk; fonts are found once).

        The root is the file system's, so ``fil("logo.png")`` paths work; a municipality's template folder
        is also searched for fonts."""
        if fil not in self._kompilatorer:
            self._kompilatorer[fil] = self._typst.Compiler(
                str(fil), root="/", font_paths=[str(self.mal)] if self.mal else []
            )
        return self._kompilatorer[fil]

    def pdf(self, kilde: str) -> bytes:
        """One letter's Typst source compiled on its own, as a tagged PDF (for comparisons and tools; a run
        lays letters out in chunks, :meth:`bunke`)."""
        if Path("-") not in self._kompilatorer:
            self._kompilatorer[Path("-")] = self._typst.Compiler(
                b"", root="/", font_paths=[str(self.mal)] if self.mal else []
            )
        return self._kompilatorer[Path("-")].compile(input=kilde.encode("utf-8"), pdf_tags=True)

    def bunke(self, brev: list[Brev], arbeid: Path) -> tuple[bytes, list[tuple[int, int]]]:
        """Lay out ``brev`` as one document; returns the PDF and each letter's (first page, page count)."""
        kilder = [self.typst_kilde(b) for b in brev]
        fil = arbeid / "bunke.typ"
        fil.write_text(bunke_kilde(brev, kilder), encoding="utf-8")
        c = self.kompilator(fil)
        try:
            pdf = c.compile(pdf_tags=False)
            starts = [int(x["side"]) for x in json.loads(c.query("<brevside>", field="value"))]
        except RuntimeError as exc:  # Typst's errors, with the position in the source
            raise ConfigurationError(f"brevmalen gir ugyldig Typst: {str(exc)[:2000]}") from None
        if len(starts) != len(brev):
            raise ConfigurationError("brevmalen må beholde merkene som skiller brevene (se docs/brev.md)")
        ends = starts[1:] + [_antall_sider(pdf) + 1]
        return pdf, [(a, z - a) for a, z in zip(starts, ends)]


def bunke_kilde(brev: list[Brev], kilder: list[str]) -> str:
    """Letters as one Typst document, each in its own scope (unscoped, every letter's set and show rules
    would pile up and make the layout quadratic in the number of letters), each marked with the page it
    starts on."""
    return "".join(
        f"#pagebreak(weak: true)\n#context [#metadata((id: {streng(b.filnavn)}, side: here().page())) "
        f"<brevside>]\n#[\n{k}\n]\n"
        for b, k in zip(brev, kilder)
    )


def _antall_sider(pdf: bytes) -> int:
    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as p:
        return len(p.pages)


def _skriv(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILMODUS)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, FILMODUS)  # also when the file was there


@lru_cache(maxsize=4)
def _gjengiver(mal: str | None) -> Gjengiver:
    return Gjengiver(Path(mal) if mal else None)


def _bit(args: tuple[list[Brev], str | None, str, str]) -> list[int]:
    """One chunk: the letters' HTML, their layout as one document (kept for the bundle), cut into one PDF each.

    Returns each letter's page count."""
    import pikepdf

    brev, mal, mappe, bit = args
    g = _gjengiver(mal)
    arbeid = Path(mappe) / f".typst-{os.getpid()}"
    arbeid.mkdir(exist_ok=True)
    for b in brev:
        _skriv(Path(mappe) / f"{b.filnavn}.html", g.html_kilde(b).encode("utf-8"))
    pdf, sider = g.bunke(brev, arbeid)
    Path(bit).write_bytes(pdf)
    with pikepdf.open(io.BytesIO(pdf)) as alle:
        for b, (start, antall) in zip(brev, sider):
            with pikepdf.new() as ett:
                ett.pages.extend(alle.pages[start - 1 : start - 1 + antall])
                ett.docinfo["/Title"] = b.tittel
                ett.docinfo["/Author"] = f"{b.kommune} kommune"
                ett.Root.Lang = pikepdf.String(b.lang)
                ett.Root.ViewerPreferences = pikepdf.Dictionary(DisplayDocTitle=True)
                buf = io.BytesIO()
                ett.save(buf)
                _skriv(Path(mappe) / f"{b.filnavn}.pdf", buf.getvalue())
    return [antall for _, antall in sider]


def gjengi(
    brev: list[Brev],
    mappe: Path,
    mal: Path | None,
    tick: Callable[[int], None] | None = None,
    prosesser: int | None = None,
) -> Path:
    """Every letter as PDF and HTML in ``mappe``, and ``mappe/samlet.pdf``. Returns the bundle's path."""
    import pikepdf

    mappe.mkdir(parents=True, exist_ok=True)
    g = _gjengiver(str(mal) if mal else None)  # a broken template stops here, before any worker starts
    if brev:
        arbeid = mappe / f".typst-{os.getpid()}"
        arbeid.mkdir(exist_ok=True)
        g.bunke(brev[:1], arbeid)
    biter = [brev[i : i + CHUNK] for i in range(0, len(brev), CHUNK)]
    deler = [mappe / f".samlet-{i:05d}.pdf" for i in range(len(biter))]
    jobber = [(b, str(mal) if mal else None, str(mappe), str(d)) for b, d in zip(biter, deler)]
    n = prosesser or min(os.cpu_count() or 1, len(biter))
    samlet = mappe / "samlet.pdf"
    try:
        with pikepdf.new() as pdf:

            def legg_til(del_: Path, sider: list[int], siste: bool) -> None:
                with pikepdf.open(del_) as kilde:
                    side = 0
                    for i, antall in enumerate(sider):
                        pdf.pages.extend(kilde.pages[side : side + antall])
                        side += antall
                        if antall % 2 and not (siste and i == len(sider) - 1):
                            pdf.add_blank_page(page_size=A4)  # the next letter starts on a front side
                if siste:
                    pdf.save(samlet)

            if len(brev) < PARALLELL_FRA or n <= 1:
                resultater = map(_bit, jobber)
                for k, (job, sider) in enumerate(zip(jobber, resultater)):
                    legg_til(Path(job[3]), sider, k == len(jobber) - 1)
                    if tick:
                        tick(len(sider))
            else:
                with ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn")) as pool:
                    for k, (job, sider) in enumerate(zip(jobber, pool.map(_bit, jobber))):
                        legg_til(Path(job[3]), sider, k == len(jobber) - 1)
                        if tick:
                            tick(len(sider))
            if not brev:
                pdf.save(samlet)
        os.chmod(samlet, FILMODUS)
    finally:
        for d in deler:
            d.unlink(missing_ok=True)
        for arbeid in mappe.glob(".typst-*"):
            shutil.rmtree(arbeid, ignore_errors=True)
    return samlet


def tekst_fra_html(kilde: str) -> str:
    """The visible text of a letter's HTML (for tests comparing it with the PDF)."""
    body = re.sub(r"(?s)<style.*?</style>|<head.*?</head>", " ", kilde)
    blokk = "p|div|li|ul|td|th|tr|h\\d|section|header|footer|main|table|thead|tbody|dl|dt|dd"
    body = re.sub(rf"<(?:br|/?(?:{blokk}))\b[^>]*>", " ", body)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", body)).split())
