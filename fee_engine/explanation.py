"""From the calculated child-months to what people read: monthly rows and vedtak periods.

Months with the same result are merged into one period per child; the explanation
is written once per period, in Norwegian bokmål, from the same columns the
calculation produced (never recomputed), with the legal reference of each step
taken from the rule set's ``hjemmel``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .parameters import RuleSet

MONTHS_NB = ["januar", "februar", "mars", "april", "mai", "juni", "juli", "august", "september", "oktober",
             "november", "desember"]

MONTHLY_COLUMNS = [
    "barn_id", "husholdning_id", "tilbud", "kommunenummer", "institusjon", "maaned", "ordinaer_pris",
    "saerskilte_behov_fritak", "etter_inntektsgrense", "soeskenmoderasjon", "gratis_timer", "belop", "status",
    "forklaring_kode", "manuell_grunn",
]

# What must be equal for two consecutive months to share one vedtak period.
_PERIOD_KEY = [
    "belop", "status", "forklaring_kode", "ordinaer_pris", "saerskilte_behov_fritak", "etter_inntektsgrense",
    "soeskenmoderasjon", "gratis_timer", "p0_oere", "p1_oere", "p2_oere", "p3_oere", "inntekt_tak_oere",
    "soesken_rang", "soesken_bp", "kjernetid", "kjernetid_alder", "bh_maks_oere", "bh_kjerne_grense_oere",
    "fakturert", "manuell_grunn",
]


def kr(values: pd.Series | np.ndarray) -> pd.Series:
    """Whole kroner from øre (half up), formatted «1 234» (mapped per distinct value)."""
    s = pd.Series(np.asarray(values, dtype=np.int64))
    k = (2 * s + 100) // 200
    uniq = {v: f"{v:,}".replace(",", " ") for v in pd.unique(k)}
    return k.map(uniq)


def kr_whole(values: pd.Series) -> pd.Series:
    """Whole kroner formatted «1 234»."""
    s = pd.Series(np.asarray(values, dtype=np.int64))
    return s.map({v: f"{v:,}".replace(",", " ") for v in pd.unique(s)})


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


def monthly(cm: pd.DataFrame, extra_columns: list[str]) -> pd.DataFrame:
    out = cm[MONTHLY_COLUMNS + extra_columns].copy()
    out["maaned"] = cm["maaned"].dt.strftime("%Y-%m")
    return out


def periods(cm: pd.DataFrame) -> pd.DataFrame:
    """Merge consecutive months with equal results into periods (first row of each carries the data)."""
    cm = cm.sort_values(["barn_id", "tilbud", "maaned"], kind="stable").reset_index(drop=True)
    same_child = (cm["barn_id"] == cm["barn_id"].shift()) & (cm["tilbud"] == cm["tilbud"].shift())
    prev_month = cm["maaned"].shift() + pd.offsets.MonthBegin(1)
    consecutive = same_child & (cm["maaned"] == prev_month)
    same = consecutive.copy()
    for c in _PERIOD_KEY:
        same &= cm[c] == cm[c].shift()
    pid = (~same).cumsum()
    first = cm.groupby(pid, sort=False).head(1).reset_index(drop=True)
    last_month = cm.groupby(pid, sort=False)["maaned"].max().reset_index(drop=True)
    first["til"] = last_month
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


def _when(cond: pd.Series | np.ndarray, text: pd.Series | str) -> pd.Series:
    cond = pd.Series(np.asarray(cond, dtype=bool))
    t = text if isinstance(text, pd.Series) else pd.Series(text, index=cond.index)
    return t.where(cond, "")


def explain(p: pd.DataFrame, rules: RuleSet) -> pd.Series:
    """The whole calculation as bokmål text, one string per period row (vectorised over rows)."""
    p = p.reset_index(drop=True)
    h = {path: rules.parameter(path).hjemmel for path in (
        "barnehage.maksimalpris.generell", "barnehage.redusert_betaling.maks_andel_av_inntekt",
        "barnehage.soeskenmoderasjon.barn_2", "barnehage.gratis_kjernetid.inntektsgrense",
        "sfo.redusert_betaling.trinn", "sfo.gratis_timer.trinn", "sfo.saerskilte_behov_gratis.trinn",
    )}
    bh = p["tilbud"] == "barnehage"
    sfo = ~bh
    manual = p["status"] == "manuell"
    billed = p["fakturert"].astype(bool)
    given = p["pris_oere"] >= 0
    code = p["forklaring_kode"].astype(str)
    has = {name: code.str.contains(name, regex=False) for name in (
        "pris_over_maks", "inntekt_6_prosent", "saerskilte_behov", "gratis_timer_sfo", "soesken_2", "soesken_3",
        "gratis_kjernetid")}
    period = month_text(p["maaned"])
    period = period.where(p["maaned"] == p["til"], period + "–" + month_text(p["til"]))

    head = np.where(bh, "Barnehage, plass " + _num(p["plass_bp"]) + " %. ",
                    "SFO, " + p["trinn"].astype(str) + ". trinn, " + _num(p["timer_c"]) + " timer per uke. ")
    ordinary = (
        _when(bh & ~given, "Ordinær pris: maksimalpris " + kr(p["bh_maks_oere"]) + " kr (sone " + p["sone"].astype(str)
              + "; " + h["barnehage.maksimalpris.generell"] + ") × " + _num(p["plass_bp"]) + " % = " + kr(p["p0_oere"]) + " kr. ")
        + _when(bh & given, "Ordinær pris: " + kr(p["p0_oere"]) + " kr (barnehagens pris for plassen). ")
        + _when(has["pris_over_maks"], "Oppgitt pris " + kr(p["pris_oere"]) + " kr er over maksimum for plassen og er satt ned til "
                + kr(p["pris_tak_oere"]) + " kr (" + h["barnehage.maksimalpris.generell"] + "). ")
        + _when(sfo & ~given, "Ordinær pris: " + kr(p["p0_oere"]) + " kr (kommunens prisliste for " + _num(p["timer_c"]) + " timer per uke). ")
        + _when(sfo & given, "Ordinær pris: " + kr(p["p0_oere"]) + " kr (oppgitt pris for plassen). ")
    )
    saer = _when(has["saerskilte_behov"], "Gratis SFO for elever med særskilte behov på 5.–7. trinn ("
                 + h["sfo.saerskilte_behov_gratis.trinn"] + "). ")
    status = p["inntekt_status"].astype(str)
    income = (
        _when((status == "ikke_soekt") & ~manual, "Husholdningen har ikke søkt om redusert foreldrebetaling"
              + np.where(bh, " eller gratis kjernetid", "") + ". ")
        + _when((status == "kjent") & ~manual, "Husholdningens inntekt: " + kr(p["inntekt_oere"]) + " kr ("
                + p["inntekt_kilde"].astype(str) + "). ")
    )
    ref6 = np.where(bh, h["barnehage.redusert_betaling.maks_andel_av_inntekt"], h["sfo.redusert_betaling.trinn"])
    cap_text = ("Redusert foreldrebetaling (" + pd.Series(ref6) + "): " + _num(p["andel_bp"]) + " % av inntekten fordelt på "
                + p["fakturerte_mnd"].astype(str) + " måneder er " + kr(p["inntekt_tak_oere"]) + " kr")
    six = (
        _when(has["inntekt_6_prosent"], cap_text + "; prisen settes ned fra " + kr(p["p0_oere"].where(~has["saerskilte_behov"], 0))
              + " til " + kr(p["p1_oere"]) + " kr. ")
        + _when(p["inntekt_brukt"].astype(bool) & ~has["inntekt_6_prosent"] & ~manual & billed & ~has["saerskilte_behov"],
                cap_text + ", ikke lavere enn prisen; ingen reduksjon. ")
        + _when(sfo & (status == "kjent") & ~p["inntekt_brukt"].astype(bool) & ~manual,
                "Redusert foreldrebetaling gjelder ikke for " + p["trinn"].astype(str) + ". trinn. ")
    )
    sfo_free = _when(has["gratis_timer_sfo"], "Gratis SFO " + _num(p["sfo_gratis_timer_c"]) + " timer per uke ("
                     + h["sfo.gratis_timer.trinn"] + "): fradrag " + kr_whole(p["gratis_timer"]) + " kr. ")
    sibling_ref = np.where(bh, h["barnehage.soeskenmoderasjon.barn_2"], "kommunal forskrift om SFO")
    sib = _when(has["soesken_2"] | has["soesken_3"], "Søskenmoderasjon (" + pd.Series(sibling_ref) + "): barn nr. "
                + p["soesken_rang"].astype(str) + " i husholdningen, " + _num(p["soesken_bp"]) + " % reduksjon = "
                + kr_whole(p["soeskenmoderasjon"]) + " kr. ")
    place_hours = _num(p["bh_heltid_timer_c"] * p["plass_bp"] // 10_000)
    core = (
        _when(has["gratis_kjernetid"], "Gratis kjernetid (" + h["barnehage.gratis_kjernetid.inntektsgrense"] + "): inntekten er under "
              + kr(p["bh_kjerne_grense_oere"]) + " kr og barnet er i aldersgruppen; " + _num(p["bh_kjerne_timer_c"]) + " av "
              + place_hours + " timer per uke er gratis, fradrag " + kr_whole(p["gratis_timer"]) + " kr. ")
        + _when(bh & (status == "kjent") & ~manual & billed & ~has["gratis_kjernetid"] & p["kjernetid_alder"].astype(bool),
                "Gratis kjernetid: inntekten er ikke under grensen på " + kr(p["bh_kjerne_grense_oere"]) + " kr. ")
        + _when(bh & (status == "kjent") & ~manual & billed & ~p["kjernetid_alder"].astype(bool),
                "Gratis kjernetid: barnet er ikke i aldersgruppen (fra 1. august det året barnet fyller "
                + p["bh_kjerne_fra_alder"].astype(str) + " år til skolestart). ")
    )
    pay = (
        _when(billed & ~manual, "Å betale: " + kr_whole(p["belop"]) + " kr per måned for " + period + ". ")
        + _when(manual & billed, "Manuell behandling: " + p["manuell_grunn"].astype(str)
                + ". Til saken er behandlet er beløpet ordinær pris, " + kr_whole(p["belop"]) + " kr per måned for " + period + ". ")
        + _when(~billed, period.str.slice(0, 1).str.upper() + period.str.slice(1) + ": betalingsfri måned, ikke fakturert. ")
    )
    body = pd.Series(head) + _when(billed, ordinary + saer + income + six + sfo_free + sib + core) + pay
    return body + "Regelsett " + rules.version + "."
