"""The persons file of ``fee-engine inntekt``: one row per person, rows with the same ``sak_id`` form a household.

Columns (case-insensitive; others are ignored): ``sak_id``, ``personidentifikator`` and ``rolle``
(``soeker``, ``ektefelle``, ``samboer`` or ``husstandsmedlem``; «søker» is read as ``soeker``).
Read like the enrollment file (:mod:`fee_engine.enrollment.reading`: CSV in UTF-8, Windows-1252
or UTF-16, any of ``;``, ``,`` and tab, or XLSX; leading zeros Excel dropped are restored).

A row is rejected for: a missing value; a fødselsnummer/D-nummer that is not 11 digits, has
wrong check digits or no valid date (:func:`fee_engine.identity.fnr_problems`, synthetic
month+80 accepted); an unknown role; a ``sak_id`` that is not a plain name (it names the
case's page, ``sak/<sak_id>.html``: letters, digits, ``-``, ``_`` and ``.``, at most 64, not
beginning with ``.``) or that holds nine or more digits in a row (it may be a fødselsnummer);
control characters. A case is rejected whole (every row, with the reason) when it has no
søker or more than one, more than one ektefelle/samboer, the same person twice, or any
rejected row: a household's economy is never summed from part of it. Rejections have row,
column, masked value, reason and code, as ``avvist.csv`` everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..enrollment import REASONS as ENROLLMENT_REASONS
from ..enrollment.fields import has_control
from ..enrollment.reading import read_table
from ..errors import InputError
from ..identity import fnr_problems, mask, mask_ids

COLUMNS = ["sak_id", "personidentifikator", "rolle"]
ROLLER = ("soeker", "ektefelle", "samboer", "husstandsmedlem")
PARTNER = ("ektefelle", "samboer")
REJECTION_COLUMNS = ["rad", "kolonne", "verdi", "aarsak", "kode"]
_SAK_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
_DIGITS = re.compile(r"[0-9]{9,}")

REASONS = {
    **{
        k: ENROLLMENT_REASONS[k][0]
        for k in (
            "mangler",
            "fnr_lengde",
            "fnr_tegn",
            "fnr_kontroll",
            "fnr_dato",
            "kontrolltegn",
            "anfoerselstegn",
            "felt_antall",
        )
    },
    "rolle": "rolle må være soeker, ektefelle, samboer eller husstandsmedlem",
    "sak_id_form": "sak_id kan bare ha bokstaver a–z, sifre, -, _ og . (høyst 64 tegn, ikke . først)",
    "sak_id_sifre": "sak_id kan ikke ha 9 eller flere sifre på rad (det kan være et fødselsnummer)",
    "soeker_antall": "saken må ha nøyaktig én søker (har {n})",
    "partner_antall": "saken kan ha høyst én ektefelle eller samboer (har {n})",
    "person_dobbel": "personen står alt i saken på rad {other}",
    "sak_avvist": "en annen rad i saken er avvist (rad {other}); saken behandles ikke",
}


@dataclass
class Persons:
    rows: pd.DataFrame  # accepted: rad, sak_id, personidentifikator, rolle
    rejections: pd.DataFrame  # rad, kolonne, verdi, aarsak, kode
    n_rows: int
    notices: list[str] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return int(self.rejections["rad"].nunique()) if len(self.rejections) else 0

    def cases(self) -> dict[str, list[tuple[str, str]]]:
        """Each accepted case's persons as ``(personidentifikator, rolle)``, the søker first, in file order."""
        order = {r: i for i, r in enumerate(ROLLER[:1])}
        out: dict[str, list[tuple[str, str]]] = {}
        for sak, grp in self.rows.groupby("sak_id", sort=False):
            grp = grp.assign(o=grp["rolle"].map(order).fillna(1)).sort_values(["o", "rad"], kind="stable")
            out[str(sak)] = list(zip(grp["personidentifikator"], grp["rolle"]))
        return out


def _role(value: str) -> str:
    return value.strip().lower().replace("ø", "oe").replace("æ", "ae").replace("å", "aa")


def read_persons(path: Path | str) -> Persons:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"fant ikke personfilen {path}" if not path.exists() else f"{path} er ikke en fil")
    table = read_table(path)
    header = [str(c).strip().lower().lstrip("\ufeff").strip() for c in table.header]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InputError(f"{path}: samme kolonne står flere ganger i overskriften ({', '.join(dupes)})")
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InputError(f"{path}: mangler påkrevde kolonner: {', '.join(missing)} (fant: {', '.join(header)})")
    df = table.frame(header)[COLUMNS].fillna("").astype(str)
    n = len(df)
    for c in COLUMNS:
        df[c] = df[c].str.strip()
    df["rad"] = np.asarray(table.row_numbers, dtype=np.int64)
    if table.from_excel:  # a fødselsnummer typed as a number lost its leading zero
        c = "personidentifikator"
        df[c] = df[c].where(~df[c].str.fullmatch(r"[0-9]{10}"), "0" + df[c])
    df["personidentifikator"] = df["personidentifikator"].str.replace(r"[\s.-]", "", regex=True)
    df["rolle_norm"] = df["rolle"].map(_role)

    problems: list[dict] = [
        {
            "rad": p.rad,
            "kolonne": p.kolonne,
            "verdi": p.verdi,
            "kode": p.kode,
            "aarsak": REASONS[p.kode].format(**dict(p.fmt)),
        }
        for p in table.problems
    ]

    def flag(mask_: pd.Series, column: str, code: str, **fmt: object) -> None:
        for rad, verdi in df.loc[mask_, ["rad", column if column in df else "sak_id"]].itertuples(index=False):
            problems.append(
                {
                    "rad": int(rad),
                    "kolonne": column,
                    "verdi": verdi,
                    "kode": code,
                    "aarsak": REASONS[code].format(**fmt),
                }
            )

    if table.maybe_control:
        for c in COLUMNS:
            flag(has_control(df[c]).astype(bool), c, "kontrolltegn")
    sak = df["sak_id"]
    flag(sak == "", "sak_id", "mangler")
    flag((sak != "") & ~sak.map(lambda v: bool(_SAK_ID.fullmatch(v))), "sak_id", "sak_id_form")
    flag(sak.map(lambda v: bool(_DIGITS.search(v))), "sak_id", "sak_id_sifre")
    codes = fnr_problems(df["personidentifikator"])
    for code in ("mangler", "fnr_tegn", "fnr_lengde", "fnr_kontroll", "fnr_dato"):
        flag(codes == code, "personidentifikator", code)
    flag(df["rolle"] == "", "rolle", "mangler")
    flag((df["rolle"] != "") & ~df["rolle_norm"].isin(ROLLER), "rolle", "rolle")

    # the household: one søker, at most one ektefelle/samboer, nobody twice
    named = df[sak != ""]
    for _sak, grp in named.groupby("sak_id", sort=False):
        n_soeker = int((grp["rolle_norm"] == "soeker").sum())
        if n_soeker != 1:
            flag(df.index.isin(grp.index), "sak_id", "soeker_antall", n=n_soeker)
        n_partner = int(grp["rolle_norm"].isin(PARTNER).sum())
        if n_partner > 1:
            flag(df.index.isin(grp.index[grp["rolle_norm"].isin(PARTNER)]), "rolle", "partner_antall", n=n_partner)
        seen: dict[str, int] = {}
        for idx, person, rad in zip(grp.index, grp["personidentifikator"], grp["rad"]):
            if person and person in seen:
                flag(df.index == idx, "personidentifikator", "person_dobbel", other=seen[person])
            seen.setdefault(person, int(rad))
    bad = {p["rad"] for p in problems}
    for _sak, grp in named.groupby("sak_id", sort=False):  # a case is decided whole or not at all
        hit = sorted(set(grp["rad"]) & bad)
        if hit:
            flag(df.index.isin(grp.index) & ~df["rad"].isin(bad), "sak_id", "sak_avvist", other=hit[0])

    rejections = pd.DataFrame(problems, columns=["rad", "kolonne", "verdi", "kode", "aarsak"])
    if len(rejections):
        verdi = rejections["verdi"].astype(str)
        is_id = rejections["kolonne"] == "personidentifikator"
        rejections["verdi"] = mask_ids(verdi).where(~is_id, verdi.map(mask))
        rejections["verdi"] = rejections["verdi"].map(lambda v: _DIGITS.sub(lambda m: mask(m.group(0)), v))
        rejections = rejections.sort_values(["rad", "kolonne"], kind="stable").reset_index(drop=True)
    bad = set(rejections["rad"]) if len(rejections) else set()
    accepted = df[~df["rad"].isin(bad)].assign(rolle=lambda d: d["rolle_norm"])
    return Persons(
        rows=accepted[["rad", "sak_id", "personidentifikator", "rolle"]].reset_index(drop=True),
        rejections=rejections[REJECTION_COLUMNS] if len(rejections) else pd.DataFrame(columns=REJECTION_COLUMNS),
        n_rows=n,
        notices=list(table.notices),
    )
