"""From the calculated child-months to what people read: monthly rows and vedtak periods.

Months with the same result are merged into one period per child; the explanation
is written once per period, in Norwegian bokmål, from the same columns the
calculation produced (never recomputed), with the legal reference of each step
taken from the rule set's ``hjemmel``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from .calculation import expand_runs
from .parameters import RuleSet
from .text import thousands

MONTHS_NB = ["januar", "februar", "mars", "april", "mai", "juni", "juli", "august", "september", "oktober",
             "november", "desember"]

MONTHLY_COLUMNS = [
    "barn_id", "husholdning_id", "tilbud", "kommunenummer", "institusjon", "maaned", "ordinaer_pris",
    "saerskilte_behov_fritak", "etter_inntektsgrense", "inntektsreduksjon", "soeskenmoderasjon", "gratis_timer", "belop", "status",
    "forklaring_kode", "manuell_grunn",
]

# What must be equal for two consecutive months to share one vedtak period.
_PERIOD_KEY = [
    "institusjon", "kommunenummer", "plass_bp", "timer_c", "trinn", "pris_oere", "saerskilte_behov",
    "inntekt_oere", "inntekt_kilde", "sone", "belop", "status", "forklaring_kode", "ordinaer_pris", "saerskilte_behov_fritak", "etter_inntektsgrense",
    "soeskenmoderasjon", "gratis_timer", "p0_oere", "p1_oere", "p2_oere", "p3_oere", "inntekt_tak_oere",
    "soesken_rang", "soesken_bp", "kjernetid", "kjernetid_alder", "bh_maks_oere", "bh_kjerne_grense_oere",
    "fakturert", "manuell_grunn",
]


def kr(values: pd.Series | np.ndarray) -> pd.Series:
    """Whole kroner from øre (half up), formatted «1 234» (mapped per distinct value)."""
    s = pd.Series(np.asarray(values, dtype=np.int64))
    k = (2 * s + 100) // 200
    uniq = {v: thousands(v) for v in pd.unique(k)}
    return k.map(uniq)


def kr_whole(values: pd.Series) -> pd.Series:
    """Whole kroner formatted «1 234»."""
    s = pd.Series(np.asarray(values, dtype=np.int64))
    return s.map({v: thousands(v) for v in pd.unique(s)})


def _num(values: pd.Series, div: int = 100) -> pd.Series:
    """Hundredths (hours, percent) to «20» or «20,5»."""
    s = pd.Series(np.asarray(values, dtype=np.int64))
    uniq = {}
    for v in pd.unique(s):
        q, r = divmod(int(v), div)
        uniq[v] = f"{q}" if r == 0 else f"{v / div:.2f}".rstrip("0").replace(".", ",")
    return s.map(uniq)


def month_text(ts: pd.Series) -> pd.Series:
    uniq = pd.DatetimeIndex(pd.unique(ts))
    names = dict(zip(uniq, [f"{MONTHS_NB[t.month - 1]} {t.year}" for t in uniq]))
    return ts.map(names)


def monthly(runs: pd.DataFrame, extra_columns: list[str]) -> pd.DataFrame:
    """``maanedlig.csv``: the runs expanded to one row per child and month, output columns only."""
    out = expand_runs(runs, MONTHLY_COLUMNS + extra_columns)
    out["maaned"] = out["maaned"].dt.strftime("%Y-%m")
    return out


def periods(runs: pd.DataFrame) -> pd.DataFrame:
    """Merge consecutive runs with equal results into periods (the first run of each carries the data).

    ``til`` is the last month of the period.
    """
    cm = runs.sort_values(["barn_id", "tilbud", "maaned"], kind="stable").reset_index(drop=True)
    child = pd.factorize(cm["barn_id"].astype(str) + "|" + cm["tilbud"].astype(str))[0]
    start = cm["maaned"].to_numpy("datetime64[M]").astype(np.int64)
    end = start + cm["antall_maaneder"].to_numpy() - 1
    same = np.zeros(len(cm), dtype=bool)
    same[1:] = (child[1:] == child[:-1]) & (start[1:] == end[:-1] + 1)
    for c in _PERIOD_KEY:
        col = cm[c]
        values = pd.factorize(col)[0] if col.dtype == object or str(col.dtype) in ("str", "string") else col.to_numpy()
        same[1:] &= values[1:] == values[:-1]
    pid = np.cumsum(~same)
    first = cm[~same].reset_index(drop=True)
    last_end = pd.Series(end).groupby(pid, sort=False).max().to_numpy()
    first["til"] = last_end.astype("datetime64[M]").astype("datetime64[ns]")
    return first


def vedtak(cm: pd.DataFrame, rules: RuleSet, extra_columns: list[str]) -> pd.DataFrame:
    p = periods(cm)
    text = explain(p, rules)
    out = pd.DataFrame(
        {
            "barn_id": p["barn_id"], "husholdning_id": p["husholdning_id"], "tilbud": p["tilbud"],
            "kommunenummer": p["kommunenummer"], "institusjon": p["institusjon"],
            "fra_maaned": p["maaned"].dt.strftime("%Y-%m"), "til_maaned": p["til"].dt.strftime("%Y-%m"),
            "ordinaer_pris": p["ordinaer_pris"], "etter_inntektsgrense": p["etter_inntektsgrense"],
            "inntektsreduksjon": p["inntektsreduksjon"],
            "soeskenmoderasjon": p["soeskenmoderasjon"], "gratis_timer": p["gratis_timer"],
            "saerskilte_behov_fritak": p["saerskilte_behov_fritak"], "belop": p["belop"], "status": p["status"],
            "inntektsaar": p["inntektsaar"], "stadie": p["stadie"],
            "husholdningsinntekt": np.where(p["inntekt_oere"] >= 0, (p["inntekt_oere"] + 50) // 100, pd.NA),
            "regelsett": rules.version, "forklaring_kode": p["forklaring_kode"], "forklaring": text,
        }
    )
    for c in extra_columns:
        out[c] = p[c].to_numpy()
    return out


def explain(p: pd.DataFrame, rules: RuleSet) -> pd.Series:
    """The whole calculation as bokmål text, one string per period row.

    Each sentence is built, column-wise, only for the rows it applies to.
    """
    p = p.reset_index(drop=True)
    n = len(p)

    def when(cond: pd.Series | np.ndarray, build: Callable[[pd.DataFrame], pd.Series] | str) -> np.ndarray:
        cond = np.asarray(cond, dtype=bool)
        out = np.full(n, "", dtype=object)
        if cond.any():
            out[cond] = build if isinstance(build, str) else np.asarray(build(p[cond].reset_index(drop=True)), dtype=object)
        return out

    h = {path: rules.parameter(path).hjemmel for path in (
        "barnehage.maksimalpris.generell", "barnehage.redusert_betaling.maks_andel_av_inntekt",
        "barnehage.soeskenmoderasjon.barn_2", "barnehage.gratis_kjernetid.inntektsgrense",
        "sfo.redusert_betaling.trinn", "sfo.gratis_timer.trinn", "sfo.saerskilte_behov_gratis.trinn",
    )}
    bh = (p["tilbud"] == "barnehage").to_numpy()
    sfo = ~bh
    manual = (p["status"] == "manuell").to_numpy()
    billed = p["fakturert"].to_numpy(bool)
    given = (p["pris_oere"] >= 0).to_numpy()
    code = p["forklaring_kode"].astype(str)
    has = {name: code.str.contains(name, regex=False).to_numpy() for name in (
        "pris_over_maks", "inntekt_6_prosent", "saerskilte_behov", "gratis_timer_sfo", "soesken_2", "soesken_3",
        "gratis_kjernetid", "plassbytte")}
    status = p["inntekt_status"].astype(str).to_numpy()
    known = (status == "kjent") & ~manual
    used = p["inntekt_brukt"].to_numpy(bool)
    in_window = p["kjernetid_alder"].to_numpy(bool)
    core_applies = p["kjernetid"].to_numpy(bool)
    red_grade = bh | (p["inntekt_trinn"].to_numpy(bool))

    def period(r: pd.DataFrame) -> pd.Series:
        first, last = month_text(r["maaned"]), month_text(r["til"])
        return first.where(r["maaned"] == r["til"], first + "–" + last)

    def cap(r: pd.DataFrame) -> pd.Series:
        ref = np.where(r["tilbud"] == "barnehage", h["barnehage.redusert_betaling.maks_andel_av_inntekt"],
                       h["sfo.redusert_betaling.trinn"])
        return ("Redusert foreldrebetaling (" + pd.Series(ref) + "): " + _num(r["andel_bp"]) + " % av inntekten fordelt på "
                + r["fakturerte_mnd"].astype(str) + " måneder er " + kr(r["inntekt_tak_oere"]) + " kr")

    parts = [
        when(bh, lambda r: "Barnehage, plass " + _num(r["plass_bp"]) + " %. "),
        when(sfo, lambda r: "SFO, " + r["trinn"].astype(str) + ". trinn, " + _num(r["timer_c"]) + " timer per uke. "),
        when(billed & bh & ~given, lambda r: "Ordinær pris: maksimalpris " + kr(r["bh_maks_oere"]) + " kr (sone "
             + r["sone"].astype(str) + "; " + h["barnehage.maksimalpris.generell"] + ") × " + _num(r["plass_bp"])
             + " % = " + kr(r["p0_oere"]) + " kr. "),
        when(billed & bh & given, lambda r: "Ordinær pris: " + kr(r["p0_oere"]) + " kr (barnehagens pris for plassen). "),
        when(billed & has["pris_over_maks"], lambda r: "Oppgitt pris " + kr(r["pris_oere"])
             + " kr er over maksimum for plassen og er satt ned til " + kr(r["pris_tak_oere"]) + " kr ("
             + h["barnehage.maksimalpris.generell"] + "). "),
        when(billed & sfo & ~given, lambda r: "Ordinær pris: " + kr(r["p0_oere"]) + " kr (kommunens prisliste for "
             + _num(r["timer_c"]) + " timer per uke). "),
        when(billed & sfo & given, lambda r: "Ordinær pris: " + kr(r["p0_oere"]) + " kr (oppgitt pris for plassen). "),
        when(billed & has["saerskilte_behov"], "Gratis SFO for elever med særskilte behov på 5.–7. trinn ("
             + h["sfo.saerskilte_behov_gratis.trinn"] + "). "),
        when(billed & (status == "ikke_soekt") & ~manual & bh,
             "Husholdningen har ikke søkt om redusert foreldrebetaling eller gratis kjernetid. "),
        when(billed & (status == "ikke_soekt") & ~manual & sfo, "Husholdningen har ikke søkt om redusert foreldrebetaling. "),
        when(billed & known, lambda r: "Husholdningens inntekt: " + kr(r["inntekt_oere"]) + " kr ("
             + r["inntekt_kilde"].astype(str) + "). "),
        when(billed & has["inntekt_6_prosent"], lambda r: cap(r) + "; prisen settes ned fra "
             + kr(r["p0_oere"].where(~r["forklaring_kode"].str.contains("saerskilte_behov"), 0)) + " til "
             + kr(r["p1_oere"]) + " kr. "),
        when(billed & used & ~has["inntekt_6_prosent"] & ~manual & ~has["saerskilte_behov"],
             lambda r: cap(r) + ", ikke lavere enn prisen; ingen reduksjon. "),
        when(billed & sfo & known & ~used, lambda r: "Redusert foreldrebetaling gjelder ikke for "
             + r["trinn"].astype(str) + ". trinn. "),
        when(billed & has["gratis_timer_sfo"], lambda r: "Gratis SFO " + _num(r["sfo_gratis_timer_c"]) + " timer per uke ("
             + h["sfo.gratis_timer.trinn"] + "): fradrag " + kr_whole(r["gratis_timer"]) + " kr. "),
        when(billed & (has["soesken_2"] | has["soesken_3"]), lambda r: "Søskenmoderasjon ("
             + pd.Series(np.where(r["tilbud"] == "barnehage", h["barnehage.soeskenmoderasjon.barn_2"], "kommunal forskrift om SFO"))
             + "): barn nr. " + r["soesken_rang"].astype(str) + " i husholdningen, " + _num(r["soesken_bp"])
             + " % reduksjon = " + kr_whole(r["soeskenmoderasjon"]) + " kr. "),
        when(billed & has["gratis_kjernetid"], lambda r: "Gratis kjernetid (" + h["barnehage.gratis_kjernetid.inntektsgrense"]
             + "): inntekten er under " + kr(r["bh_kjerne_grense_oere"]) + " kr og barnet er i aldersgruppen; "
             + _num(r["bh_kjerne_timer_c"]) + " av " + _num(r["bh_heltid_timer_c"] * r["plass_bp"] // 10_000)
             + " timer per uke er gratis, fradrag " + kr_whole(r["gratis_timer"]) + " kr. "),
        when(billed & core_applies & ~has["gratis_kjernetid"], lambda r:
             "Gratis kjernetid: inntekten er under " + kr(r["bh_kjerne_grense_oere"]) + " kr og barnet er i "
             "aldersgruppen, men prisen er allerede 0 kr. "),
        when(billed & bh & known & ~core_applies & in_window, lambda r:
             "Gratis kjernetid: inntekten er ikke under grensen på " + kr(r["bh_kjerne_grense_oere"]) + " kr. "),
        when(billed & bh & known & ~in_window, lambda r: "Gratis kjernetid: barnet er ikke i aldersgruppen (fra 1. august det året "
             "barnet fyller " + r["bh_kjerne_fra_alder"].astype(str) + " år til skolestart). "),
        when(billed & ~manual, lambda r: "Å betale: " + kr_whole(r["belop"]) + " kr per måned for " + period(r) + ". "),
        when(billed & manual & bh, lambda r: "Manuell behandling: " + r["manuell_grunn"].astype(str)
             + ". Redusert foreldrebetaling og gratis kjernetid venter på saksbehandler; til saken er behandlet er "
             "beløpet " + kr_whole(r["belop"]) + " kr per måned for " + period(r) + ". "),
        when(billed & manual & sfo & red_grade, lambda r: "Manuell behandling: " + r["manuell_grunn"].astype(str)
             + ". Redusert foreldrebetaling venter på saksbehandler; til saken er behandlet er beløpet "
             + kr_whole(r["belop"]) + " kr per måned for " + period(r) + ". "),
        when(billed & manual & sfo & ~red_grade, lambda r: "Manuell behandling: " + r["manuell_grunn"].astype(str)
             + ". Beløpet avhenger ikke av inntekten på dette trinnet: " + kr_whole(r["belop"])
             + " kr per måned for " + period(r) + ". "),
        when(has["plassbytte"], lambda r: "Barnet byttet plass i " + month_text(r["maaned"])
             + "; måneden faktureres én gang, for plassen med flest dager i måneden. "),
        when(~billed, lambda r: period(r).str.slice(0, 1).str.upper() + period(r).str.slice(1)
             + ": betalingsfri måned, ikke fakturert. "),
    ]
    text = parts[0]
    for part in parts[1:]:
        text = text + part
    return pd.Series(text + ("Regelsett " + rules.version + "."))
