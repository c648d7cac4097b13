"""Synthetic population (benchmarks, golden snapshot): enrollment CSV + matching tax fixture folder, by seed.

Households of one or two adults with log-normal incomes around Norwegian levels (a
low-income tail that triggers the reductions), one to three children in barnehage
(ages 1–5, mostly full places) or SFO (grades 1–6). Every id is a synthetic
fødselsnummer (month + 80). Run: ``python -m fee_engine.synthetic N OUT_DIR [SEED [KOMMUNE]]``.

With ``endringer=True`` (``fee-engine synthetic --endringer``) the same population gets what a
real year has (:func:`add_changes`, :func:`write_tax_files`): placements that start or end inside
the period, children who move institution mid-month, children who go from barnehage to SFO in
August, children who move to another household, twins, SFO in every grade (special needs, places of
at most 12 hours), given prices, and in the tax answers fallbacks and manual cases. It draws from a
random stream of its own, so the default output is unchanged (the golden snapshot
``fixtures/kommune_syntetisk`` is ``fee-engine synthetic 3000 … --seed 7 --kommune 4601``).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from fee_engine.identity import make_synthetic

KOMMUNER = ["0301", "4601", "4641", "5601"]
LOENN = "samletLoennsinntektMedTrygdeavgiftspliktOgMedTrekkplikt"


def unique_adults(n: int) -> list[str]:
    """``n`` distinct synthetic fødselsnumre of adults born 1970–1994."""
    seen: set[str] = set()
    out: list[str] = []
    day0 = dt.date(1970, 1, 1)
    i = 0
    while len(out) < n:
        fnr = make_synthetic(day0 + dt.timedelta(days=i % 9000), 2 * (i // 9000))
        if fnr not in seen:
            seen.add(fnr)
            out.append(fnr)
        i += 1
    return out


def generate(
    n_children: int,
    out: Path,
    seed: int = 1,
    income_year: int = 2023,
    with_tax_files: bool = True,
    kommune: str | None = None,
    endringer: bool = False,
) -> Path:
    """Write ``out/innskriving.csv`` and ``out/skatt/``; all in ``kommune`` if given, else spread over four.

    ``endringer``: add what changes during a year (see the module docstring) for the period
    August ``income_year + 1`` – July ``income_year + 2``; ``n_children`` stays the number of
    distinct children (a child who moves has two rows)."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    kids_per_hh = rng.choice([1, 2, 3], size=n_children, p=[0.55, 0.35, 0.10])
    hh_of_child = np.repeat(np.arange(n_children), kids_per_hh)[:n_children]
    n_hh = int(hh_of_child[-1]) + 1
    two_adults = rng.random(n_hh) < 0.7
    income = np.round(np.exp(rng.normal(np.log(420_000), 0.45, size=(n_hh, 2)))).astype(np.int64)
    adults = unique_adults(2 * n_hh)
    sfo = rng.random(n_children) < 0.45
    birth_year = np.where(sfo, rng.integers(2013, 2019, n_children), rng.integers(2019, 2024, n_children))
    births = pd.to_datetime(
        pd.DataFrame(
            {"year": birth_year, "month": rng.integers(1, 13, n_children), "day": rng.integers(1, 29, n_children)}
        )
    )
    kommune = (
        np.array(KOMMUNER)[rng.choice(4, size=n_hh, p=[0.5, 0.35, 0.05, 0.10])][hh_of_child]
        if kommune is None
        else np.full(n_children, kommune)
    )
    df = pd.DataFrame(
        {
            "barn_id": [f"B{i:07d}" for i in range(n_children)],
            "barn_fodselsdato": births.dt.strftime("%Y-%m-%d"),
            "husholdning_id": [f"H{h:07d}" for h in hh_of_child],
            "foresatt_fnr": [adults[2 * h] for h in hh_of_child],
            "partner_fnr": [adults[2 * h + 1] if two_adults[h] else "" for h in hh_of_child],
            "kommunenummer": kommune,
            "tilbud": np.where(sfo, "sfo", "barnehage"),
            "institusjon": [f"Enhet {k}-{i % 40}" for i, k in enumerate(kommune)],
            "plass_prosent": np.where(sfo, "", rng.choice(["100", "100", "100", "80", "60"], n_children)),
            "timer_per_uke": np.where(sfo, rng.choice(["10", "15", "20"], n_children), ""),
            "trinn": np.where(sfo, (2024 - 6 - birth_year + 1).clip(1, 7).astype(str), ""),
            "soekt_redusert": np.where(rng.random(n_children) < 0.1, "nei", ""),
        }
    )
    # one household, one answer; a few households document their income instead
    df["soekt_redusert"] = df.groupby("husholdning_id")["soekt_redusert"].transform("first")
    documented = rng.random(n_hh) < 0.02
    df["dokumentert_inntekt"] = np.where(
        documented[hh_of_child] & (df["soekt_redusert"] != "nei"), income[hh_of_child, 0].astype(str), ""
    )
    if endringer:
        df, new_households = add_changes(df, np.random.default_rng([seed, ENDRINGER_STREAM]), income_year + 1, n_hh)
        adults = unique_adults(2 * n_hh + len(new_households))
        df.loc[df["foresatt_fnr"] == "", "foresatt_fnr"] = df["husholdning_id"].map(
            {h: adults[2 * n_hh + j] for j, h in enumerate(new_households)}
        )
    df.to_csv(out / "innskriving.csv", sep=";", index=False)
    if with_tax_files:
        # where the data is: 92 % skatteoppgjør, 5 % only an utkast, 3 % nothing (SSG-007, manual)
        where = rng.choice(["oppgjoer", "utkast", "ingen"], size=n_hh, p=[0.92, 0.05, 0.03])
        if endringer:
            write_tax_files(
                out / "skatt",
                np.random.default_rng([seed, ENDRINGER_STREAM, 1]),
                income_year,
                where,
                two_adults,
                income,
                adults,
                len(new_households),
            )
            return out
        for stage in ("oppgjoer", "utkast"):
            (out / "skatt" / str(income_year) / stage).mkdir(parents=True, exist_ok=True)
        for h in range(n_hh):
            if where[h] == "ingen":
                continue
            for a in range(2 if two_adults[h] else 1):
                fnr = adults[2 * h + a]
                body = {
                    "personidentifikator": fnr,
                    "inntektsaar": str(income_year),
                    "skjermet": False,
                    "stadie": where[h],
                    "grunnlag": [{"tekniskNavn": LOENN, "beloep": int(income[h, a]), "kategori": "inntekt"}],
                }
                (out / "skatt" / str(income_year) / where[h] / f"{fnr}.json").write_text(json.dumps(body))
    return out


# -- a year with changes (``endringer=True``) -------------------------------------------------------
ENDRINGER_STREAM = 2024  # the changes draw from their own stream: the default population stays as it was
KAPITAL = "renteinntektAvAnnetFinansprodukt"  # kapitalinntekt: counted
NAERING = "samletOverskuddAvEnkeltpersonforetakInnenAnnenNaering"  # the business's surplus: counted
# the business's personinntekt: not counted again
NAERING_PERSONINNTEKT = "samletPersoninntektFraEnkeltpersonforetakInnenJordbrukReindriftSkiferproduksjonOgAnnenNaering"
MINSTEFRADRAG = "minstefradragIInntekt"  # a deduction: never subtracted
UKJENT = "inntektFraKildeSomIkkeErKlassifisert"  # kategori inntekt, in no income list: reported, manual

# shares of the children (each child gets at most one of the placement changes)
SHARES = {
    "starter": 0.04,
    "slutter": 0.04,
    "starter_og_slutter": 0.005,
    "bytter_plass": 0.02,
    "barnehage_til_sfo": 0.015,
    "ny_husholdning": 0.005,
}


def _months(year: int, names: list[int]) -> list[tuple[int, int]]:
    """(year, month) of the period's months with these numbers (August ``year`` – July ``year + 1``)."""
    return [(year if m >= 8 else year + 1, m) for m in names]


def _dates(
    rng: np.random.Generator, months: list[tuple[int, int]], size: int, first: float = 0.0, last_day_share: float = 0.0
) -> list[dt.date]:
    """``size`` dates: the first month listed with probability ``first`` (else any listed), a random day 1–28,
    or the month's last day with probability ``last_day_share``."""
    p = np.full(len(months), (1 - first) / max(len(months) - 1, 1)) if first else np.full(len(months), 1 / len(months))
    if first:
        p[0] = first
    pick = rng.choice(len(months), size=size, p=p)
    days = rng.integers(1, 29, size)
    to_end = rng.random(size) < last_day_share
    out = []
    for i, d, e in zip(pick, days, to_end):
        y, m = months[i]
        end = (dt.date(y + (m == 12), m % 12 + 1, 1) - dt.timedelta(days=1)).day
        out.append(dt.date(y, m, end if e else int(d)))
    return out


def add_changes(df: pd.DataFrame, rng: np.random.Generator, year: int, n_hh: int) -> tuple[pd.DataFrame, list[str]]:
    """The population's year with changes, for the period August ``year`` – July ``year + 1``.

    Returns the rows (shuffled: a file is never in household or ``barn_id`` order) and the ids of the
    households made for children who move to another household (their applicant is filled in by the caller).
    """
    df = df.copy()
    n = len(df)
    sfo = (df["tilbud"] == "sfo").to_numpy()
    bh = ~sfo
    iso = "%Y-%m-%d"
    # SFO in every grade (1–7), places of at most 12 hours, special needs (free in grades 5–7)
    birth_year = rng.integers(year - 12, year - 5, n)
    births = pd.to_datetime(
        pd.DataFrame({"year": birth_year, "month": rng.integers(1, 13, n), "day": rng.integers(1, 29, n)})
    )
    df.loc[sfo, "barn_fodselsdato"] = births.dt.strftime(iso)[sfo]
    df.loc[sfo, "trinn"] = (year - 5 - birth_year)[sfo].astype(str)
    df.loc[sfo, "timer_per_uke"] = rng.choice(["8", "10", "12", "15", "20", "25"], n)[sfo]
    df["saerskilte_behov"] = np.where(sfo & (rng.random(n) < 0.08), "ja", "")
    # a given price: private barnehager (some above the maximum, capped), SFO places with an agreed price
    given = rng.random(n)
    df["pris_maaned"] = np.where(
        bh & (given < 0.03),
        rng.integers(1200, 2800, n).astype(str),
        np.where(sfo & (given < 0.02), rng.integers(900, 3500, n).astype(str), ""),
    )
    # twins: the second child of some households has the first one's birth date and place
    hh = df["husholdning_id"].to_numpy()
    second = np.flatnonzero((hh[1:] == hh[:-1]) & bh[1:] & bh[:-1]) + 1
    twins = second[rng.random(len(second)) < 0.03]
    for c in ("barn_fodselsdato", "plass_prosent", "pris_maaned"):
        df.iloc[twins, df.columns.get_loc(c)] = df.iloc[twins - 1, df.columns.get_loc(c)].to_numpy()
    df["fra_dato"] = ""
    df["til_dato"] = ""

    used = np.zeros(n, dtype=bool)
    used[twins] = used[twins - 1] = True

    def choose(share: str, allowed: np.ndarray) -> np.ndarray:
        cand = np.flatnonzero(allowed & ~used)
        sel = np.sort(rng.choice(cand, size=min(int(round(SHARES[share] * n)), len(cand)), replace=False))
        used[sel] = True
        return sel

    everyone = np.ones(n, dtype=bool)
    inside = [8, 9, 10, 11, 12, 1, 2, 3, 4, 5, 6]

    def put(column: str, rows: np.ndarray, dates: list[dt.date]) -> None:
        df.iloc[rows, df.columns.get_loc(column)] = [d.strftime(iso) for d in dates]

    # placements that start (most in January) or end (most in March) inside the period
    sel = choose("starter", everyone)
    put("fra_dato", sel, _dates(rng, _months(year, [1, 9, 10, 11, 12, 2, 3, 4, 5]), len(sel), 0.6))
    sel = choose("slutter", everyone)
    put("til_dato", sel, _dates(rng, _months(year, [3, 9, 10, 11, 12, 1, 2, 4, 5, 6]), len(sel), 0.6))
    sel = choose("starter_og_slutter", everyone)
    put("fra_dato", sel, _dates(rng, _months(year, [9, 10, 11]), len(sel)))
    put("til_dato", sel, _dates(rng, _months(year, [4, 5, 6]), len(sel)))

    extra = []  # the second row of each child with two
    # a move to another institution in the same offer: the old place ends on a day, the new one starts the next
    sel = choose("bytter_plass", everyone)
    days = _dates(rng, _months(year, inside[1:]), len(sel), last_day_share=0.2)
    new = df.iloc[sel].copy()
    put("til_dato", sel, days)
    new["fra_dato"] = [(d + dt.timedelta(days=1)).strftime(iso) for d in days]
    new["institusjon"] = [f"Enhet {k}-{(int(i[1:]) + 7) % 40}" for k, i in zip(new["kommunenummer"], new["barn_id"])]
    new_bh = (new["tilbud"] == "barnehage").to_numpy()
    new["plass_prosent"] = np.where(new_bh, rng.choice(["100", "100", "80", "60"], len(new)), "")
    new["timer_per_uke"] = np.where(new_bh, "", rng.choice(["10", "12", "15", "20"], len(new)))
    new["pris_maaned"] = ""
    extra.append(new)
    # from barnehage to SFO in August: a child born ``year − 6`` leaves barnehage in mid-August and starts grade 1
    sel = choose("barnehage_til_sfo", bh)
    born = pd.to_datetime(
        pd.DataFrame(
            {
                "year": np.full(len(sel), year - 6),
                "month": rng.integers(1, 13, len(sel)),
                "day": rng.integers(1, 29, len(sel)),
            }
        )
    )
    leave = [dt.date(year, 8, int(d)) for d in rng.integers(9, 17, len(sel))]
    df.iloc[sel, df.columns.get_loc("barn_fodselsdato")] = born.dt.strftime(iso).to_numpy()
    put("til_dato", sel, leave)
    new = df.iloc[sel].copy()
    new["tilbud"] = "sfo"
    new["institusjon"] = [f"Enhet {k}-skole" for k in new["kommunenummer"]]
    new["plass_prosent"] = ""
    new["timer_per_uke"] = rng.choice(["10", "12", "15", "20"], len(new))
    new["trinn"] = "1"
    new["pris_maaned"] = ""
    new["fra_dato"] = [(d + dt.timedelta(days=1)).strftime(iso) for d in leave]
    new["til_dato"] = ""
    extra.append(new)
    # a child who moves to another household (the parents separate): same place, a new household from the next day
    sel = choose("ny_husholdning", (df["partner_fnr"] != "").to_numpy())
    days = _dates(rng, _months(year, [10, 11, 12, 1, 2, 3, 4, 5]), len(sel))
    new = df.iloc[sel].copy()
    put("til_dato", sel, days)
    households = [f"H{n_hh + j:07d}" for j in range(len(sel))]
    new["husholdning_id"] = households
    new["foresatt_fnr"] = ""
    new["partner_fnr"] = ""
    new["soekt_redusert"] = ""
    new["dokumentert_inntekt"] = ""
    new["fra_dato"] = [(d + dt.timedelta(days=1)).strftime(iso) for d in days]
    extra.append(new)

    df = pd.concat([df, *extra], ignore_index=True)
    return df.iloc[rng.permutation(len(df))].reset_index(drop=True), households


def _body(fnr: str, year: int, stage: str, items: list[tuple[str, int, str]] | None) -> str:
    body: dict = {"personidentifikator": fnr, "inntektsaar": str(year), "skjermet": items is None, "stadie": stage}
    if items is not None:
        body["grunnlag"] = [{"tekniskNavn": t, "beloep": int(b), "kategori": k} for t, b, k in items]
    return json.dumps(body)


def write_tax_files(
    skatt: Path,
    rng: np.random.Generator,
    income_year: int,
    where: np.ndarray,
    two_adults: np.ndarray,
    income: np.ndarray,
    adults: list[str],
    n_new: int,
) -> None:
    """The answers of a year with fallbacks and manual cases.

    Per household, besides ``where`` (skatteoppgjør, only an utkast, nothing = SSG-007): 1 % only the
    skatteoppgjør of the year before (the third step of the fallback), 0.5 % a screened applicant without
    figures, 0.5 % a partner unknown to Skatteetaten, 0.5 % an income item no list knows (all three manual).
    Each answer has the wage, often interest, sometimes a business (its surplus counted once), and deductions
    that never count. The households made for children who moved get a skatteoppgjør each.
    """
    n_hh = len(where)
    variant = rng.choice(
        ["vanlig", "eldre", "skjermet", "partner_ukjent", "ukjent_post"],
        size=n_hh,
        p=[0.975, 0.01, 0.005, 0.005, 0.005],
    )
    kapital = np.where(rng.random((n_hh, 2)) < 0.25, rng.integers(100, 30_000, (n_hh, 2)), 0)
    naering = np.where(rng.random((n_hh, 2)) < 0.04, rng.integers(20_000, 300_000, (n_hh, 2)), 0)
    fradrag = rng.integers(40_000, 110_000, (n_hh, 2))
    folders = [(income_year, "oppgjoer"), (income_year, "utkast"), (income_year - 1, "oppgjoer")]
    for y, stage in folders:
        (skatt / str(y) / stage).mkdir(parents=True, exist_ok=True)

    def items(h: int, a: int, total: int) -> list[tuple[str, int, str]]:
        k, b = int(kapital[h, a]), int(min(naering[h, a], total // 2))
        out = [(LOENN, max(total - k - b, 0), "inntekt")]
        if k:
            out.append((KAPITAL, k, "inntekt"))
        if b:
            out += [(NAERING, b, "inntekt"), (NAERING_PERSONINNTEKT, b, "inntekt")]
        out.append((MINSTEFRADRAG, int(fradrag[h, a]), "inntektsfradrag"))
        return out

    def write(fnr: str, year: int, stage: str, body_items: list | None) -> None:
        (skatt / str(year) / stage / f"{fnr}.json").write_text(_body(fnr, year, stage, body_items))

    for h in range(n_hh):
        if where[h] == "ingen":
            continue
        v = variant[h]
        year, stage = (income_year - 1, "oppgjoer") if v == "eldre" else (income_year, str(where[h]))
        for a in range(2 if two_adults[h] else 1):
            fnr = adults[2 * h + a]
            if v == "partner_ukjent" and a == 1:
                continue
            if v == "skjermet" and a == 0:
                write(fnr, year, stage, None)
                continue
            body_items = items(h, a, int(income[h, a]))
            if v == "ukjent_post" and a == 0:
                body_items.append((UKJENT, 12_000, "inntekt"))
            write(fnr, year, stage, body_items)
    new_income = np.round(np.exp(rng.normal(np.log(380_000), 0.45, size=n_new))).astype(np.int64)
    for j in range(n_new):
        write(adults[2 * n_hh + j], income_year, "oppgjoer", [(LOENN, int(new_income[j]), "inntekt")])


if __name__ == "__main__":
    generate(
        int(sys.argv[1]),
        Path(sys.argv[2]),
        seed=int(sys.argv[3]) if len(sys.argv) > 3 else 1,
        kommune=sys.argv[4] if len(sys.argv) > 4 else None,
    )
