"""Peer for the benchmarks: the barnehage and SFO rules as a small OpenFisca-core model.

National values are OpenFisca parameters taken from the same rule set (dated values, read
with ``parameters(period)``); municipal settings (zone, billed months, SFO price from the
price list, sibling rates beyond the national minimum, the fixed value of the free SFO hours,
what an unknown income item does) and household income enter as inputs, as a country package
would take them from the municipality. All money is integer øre inside the formulas, so the
amounts must equal the engine's (the benchmarks check that, child-month by child-month).

Entities: a *person* is one placement (a row of the enrollment file); it belongs to a
*household* (the household's children in one municipality: siblings are ranked there) and to
a *child* (one child in one offer: its placements). The rules are formulas:

* ``placement_days``, ``bills_month``: a child with two placements in the same offer and month
  is billed once, for the placement with the most days that month (tie: the later one), ranked
  with ``get_rank`` inside the child;
* ``income_known``: a household without usable income (manual) keeps every reduction that does
  not depend on income; only the 6 % rule and free core hours wait (and an unknown income item
  makes the case manual where the municipality says so);
* the 12 free SFO hours: a place of at most 12 hours is free whatever the municipal valuation;
* siblings ranked with ``get_rank`` by the fee before the discount, ties the oldest, then
  ``barn_id`` in text order.

:func:`simulate` computes every month with one simulation (``shortcut=False``: the like-for-like
peer of ``calculate(expand=True)``), or only the months where some parameter changes, repeated over
the months that follow (``shortcut=True``: the same shortcut the engine takes, with the same
segments; households where a placement starts or ends inside the period get a simulation of their
own that computes every month, as in the engine).

Limits: zone and the part-time price cap are read once per municipality (they do not change in
the rule set's periods); nothing here reads files (see ``openfisca_pipeline.py`` for the whole job).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from openfisca_core.entities import build_entity
from openfisca_core.parameters import ParameterNode
from openfisca_core.periods import DateUnit
from openfisca_core.simulations import SimulationBuilder
from openfisca_core.taxbenefitsystems import TaxBenefitSystem
from openfisca_core.variables import Variable

from fee_engine.beregning import segments
from fee_engine.money import bp, centi, grade_mask, oere
from fee_engine.regelsett import RuleSet

Person = build_entity(key="person", plural="persons", label="Plass (én rad i innskrivingsfilen)", is_person=True)
Household = build_entity(
    key="household",
    plural="households",
    label="Husholdning i én kommune",
    roles=[{"key": "child", "plural": "children", "label": "Barn"}],
)
Child = build_entity(
    key="child",
    plural="childs",
    label="Ett barn i ett tilbud",
    roles=[{"key": "placement", "plural": "placements", "label": "Plass"}],
)

NO_DAY = -(10**6)  # no fra_dato: before any month
LAST_DAY = 10**6  # no til_dato: after any month
EPOCH = np.datetime64("1970-01-01", "D")


def _div(num, den):
    return (2 * num + den) // (2 * den)


def i64(a):
    """OpenFisca keeps int variables as int32: widen before multiplying money."""
    return np.asarray(a, dtype=np.int64)


def _input(name: str, entity, value_type=int, period=DateUnit.MONTH, default=0):
    return type(
        name,
        (Variable,),
        {
            "value_type": value_type,
            "entity": entity,
            "definition_period": period,
            "default_value": default,
            "label": name,
        },
    )


E = DateUnit.ETERNITY
M = DateUnit.MONTH
INPUTS = [
    ("is_bh", Person, bool, E),
    ("plass_bp", Person, int, E),
    ("timer_c", Person, int, E),
    ("trinn", Person, int, E),
    ("saer", Person, bool, E),
    ("pris_oere", Person, int, E),
    ("birth_year", Person, int, E),
    ("birth_day", Person, int, E),
    ("barn_code", Person, int, E),
    ("fra_day", Person, int, E),
    ("til_day", Person, int, E),
    ("zone", Person, int, E),
    ("deltid_forholdsmessig", Person, bool, E),
    ("status_known", Person, bool, E),
    ("unknown_items", Person, bool, E),
    ("billed", Person, bool, M),
    ("billed_months", Person, int, M),
    ("sfo_list_price", Person, int, M),
    ("sfo_sib2_bp", Person, int, M),
    ("sfo_sib3_bp", Person, int, M),
    ("bh_sib2_bp_k", Person, int, M),
    ("bh_sib3_bp_k", Person, int, M),
    ("sfo_fixed_free", Person, int, M),
    ("unknown_item_manual", Person, bool, M),
    ("income_oere", Household, int, E),
]
DEFAULTS = {"pris_oere": -1, "sfo_fixed_free": -1}


class placement_days(Variable):
    value_type, entity, definition_period, label = int, Person, M, "days of the month inside the placement"

    def formula(person, period, parameters):
        first = (np.datetime64(str(period.start), "D") - EPOCH).astype(np.int64)
        last = (np.datetime64(str(period.stop), "D") - EPOCH).astype(np.int64)
        lo = np.maximum(i64(person("fra_day", period)), first)
        hi = np.minimum(i64(person("til_day", period)), last)
        return np.maximum(hi - lo + 1, 0)


class bills_month(Variable):
    value_type, entity, definition_period, label = bool, Person, M, "the placement the child is billed for this month"
    reference = "one child, one offer, one month, one bill (the README, «The rules», step 7)"

    def formula(person, period, parameters):
        days = i64(person("placement_days", period))
        start = i64(person("fra_day", period)) - NO_DAY  # 0 .. 2·10⁶: a later start ranks first on a tie
        rank = person.get_rank(person.child, -(days * 10**7 + start).astype(float), condition=days > 0)
        return (days > 0) & (rank == 0)


class income_known(Variable):
    value_type, entity, definition_period, label = bool, Person, M, "household income usable (not a manual case)"

    def formula(person, period, parameters):
        unknown_manual = person("unknown_items", period) & person("unknown_item_manual", period)
        return person("status_known", period) & ~unknown_manual


class ordinary_price(Variable):
    value_type, entity, definition_period, label = int, Person, M, "P0"

    def formula(person, period, parameters):
        p = parameters(period)
        maks = np.select(
            [person("zone", period) == 0, person("zone", period) == 1],
            [p.maks.generell, p.maks.sentralitet_5_6],
            p.maks.tiltakssone,
        )
        maks = np.round(maks * 100).astype(np.int64)
        pro_rata = _div(maks * i64(person("plass_bp", period)), 10_000)
        limit = np.where(person("deltid_forholdsmessig", period), pro_rata, maks)
        given = i64(person("pris_oere", period))
        bh = np.where(given >= 0, np.minimum(given, limit), pro_rata)
        sfo = np.where(given >= 0, given, person("sfo_list_price", period))
        return np.where(person("is_bh", period), bh, sfo)


class after_special_needs(Variable):
    value_type, entity, definition_period, label = int, Person, M, "P0 after SFO special needs"

    def formula(person, period, parameters):
        mask = int(parameters(period).sfo.saer_trinn)
        trinn = person("trinn", period)
        free = ~person("is_bh", period) & person("saer", period) & (((mask >> trinn) & 1) == 1)
        return np.where(free, 0, person("ordinary_price", period))


class after_income_cap(Variable):
    value_type, entity, definition_period, label = int, Person, M, "P1, § 3b / § 1B-1"

    def formula(person, period, parameters):
        p = parameters(period)
        bh = person("is_bh", period)
        share = np.where(bh, int(p.andel.barnehage), int(p.andel.sfo))
        trinn = person("trinn", period)
        grade_ok = bh | (((int(p.sfo.red_trinn) >> trinn) & 1) == 1)
        income = person.household("income_oere", period)
        cap = _div(np.maximum(i64(income), 0) * share, 10_000 * i64(person("billed_months", period)))
        p0s = i64(person("after_special_needs", period))
        return np.where(person("income_known", period) & grade_ok, np.minimum(p0s, cap), p0s)


class before_siblings(Variable):
    value_type, entity, definition_period, label = int, Person, M, "after the 12 free SFO hours"

    def formula(person, period, parameters):
        p = parameters(period)
        p1 = i64(person("after_income_cap", period))
        trinn, timer = person("trinn", period), i64(person("timer_c", period))
        applies = ~person("is_bh", period) & (((int(p.sfo.gratis_trinn) >> trinn) & 1) == 1)
        free_c = int(p.sfo.gratis_timer_c)
        fixed = i64(person("sfo_fixed_free", period))
        value = np.where(
            free_c >= timer,
            p1,  # a place of at most 12 hours is free whatever the valuation
            np.where(fixed >= 0, np.minimum(p1, fixed), _div(p1 * free_c, np.maximum(timer, 1))),
        )
        return p1 - np.where(applies, value, 0)


class age_rank(Variable):
    value_type, entity, definition_period, label = int, Person, E, "0 = the household's oldest child (ties: barn_id)"

    def formula(person, period, parameters):
        key = i64(person("birth_day", period)) * 2**21 + i64(person("barn_code", period))
        return person.get_rank(person.household, key.astype(float))


class sibling_rank(Variable):
    value_type, entity, definition_period, label = int, Person, M, "rank among siblings in the offer (1 = first)"

    def formula(person, period, parameters):
        present = person("billed", period) & person("bills_month", period)
        bh = person("is_bh", period)
        crit = -i64(person("before_siblings", period)).astype(float) * 64 + person("age_rank", period)
        r_bh = person.get_rank(person.household, crit, condition=present & bh)
        r_sfo = person.get_rank(person.household, crit, condition=present & ~bh)
        return np.where(bh, r_bh, r_sfo) + 1


class after_siblings(Variable):
    value_type, entity, definition_period, label = int, Person, M, "P2, § 3a"

    def formula(person, period, parameters):
        p = parameters(period)
        bh = person("is_bh", period)
        rank = person("sibling_rank", period)
        s2 = np.where(
            bh, np.maximum(int(p.soesken.barn_2), person("bh_sib2_bp_k", period)), person("sfo_sib2_bp", period)
        )
        s3 = np.where(
            bh, np.maximum(int(p.soesken.barn_3), person("bh_sib3_bp_k", period)), person("sfo_sib3_bp", period)
        )
        red = np.select([rank == 2, rank >= 3], [s2, s3], 0)
        before = i64(person("before_siblings", period))
        return before - _div(before * red, 10_000)


class belop(Variable):
    value_type, entity, definition_period, label = int, Person, M, "monthly amount, kroner"

    def formula(person, period, parameters):
        p = parameters(period)
        p2 = i64(person("after_siblings", period))
        month_index = period.start.year * 12 + period.start.month - 1
        by = i64(person("birth_year", period))
        window = (month_index >= (by + int(p.kjerne.fra_alder)) * 12 + 7) & (
            month_index < (by + int(p.kjerne.til_alder)) * 12 + 7
        )
        income = person.household("income_oere", period)
        applies = person("is_bh", period) & person("income_known", period) & (income < int(p.kjerne.grense)) & window
        place = int(p.kjerne.heltid_c) * i64(person("plass_bp", period))
        free = int(p.kjerne.timer_c) * 10_000
        core = np.where(free >= place, p2, _div(p2 * free, np.maximum(place, 1)))
        p3 = p2 - np.where(applies, core, 0)
        return _div(np.where(person("billed", period), p3, 0), 100)


FORMULAS = (
    placement_days,
    bills_month,
    income_known,
    ordinary_price,
    after_special_needs,
    after_income_cap,
    before_siblings,
    age_rank,
    sibling_rank,
    after_siblings,
    belop,
)


def _dated(rules: RuleSet, path: str, convert) -> dict:
    return {"values": {v.gjelder_fra.isoformat(): convert(v.verdi) for v in rules.parameter(path).verdier}}


def build_system(rules: RuleSet) -> TaxBenefitSystem:
    tbs = TaxBenefitSystem([Person, Household, Child])
    for name, entity, vtype, per in INPUTS:
        tbs.add_variable(_input(name, entity, vtype, per, DEFAULTS.get(name, False if vtype is bool else 0)))
    for v in FORMULAS:
        tbs.add_variable(v)
    same = lambda x: x  # noqa: E731
    tbs.parameters = ParameterNode(
        "",
        data={
            "maks": {
                z: _dated(rules, f"barnehage.maksimalpris.{z}", float)
                for z in ("generell", "sentralitet_5_6", "tiltakssone")
            },
            "andel": {
                "barnehage": _dated(rules, "barnehage.redusert_betaling.maks_andel_av_inntekt", bp),
                "sfo": _dated(rules, "sfo.redusert_betaling.maks_andel_av_inntekt", bp),
            },
            "kjerne": {
                "grense": _dated(rules, "barnehage.gratis_kjernetid.inntektsgrense", oere),
                "timer_c": _dated(rules, "barnehage.gratis_kjernetid.timer_per_uke", centi),
                "fra_alder": _dated(rules, "barnehage.gratis_kjernetid.fra_alder", same),
                "til_alder": _dated(rules, "barnehage.gratis_kjernetid.til_alder", same),
                "heltid_c": _dated(rules, "barnehage.heltid_timer_per_uke", centi),
            },
            "soesken": {
                "barn_2": _dated(rules, "barnehage.soeskenmoderasjon.barn_2", bp),
                "barn_3": _dated(rules, "barnehage.soeskenmoderasjon.barn_3_og_flere", bp),
            },
            "sfo": {
                "red_trinn": _dated(rules, "sfo.redusert_betaling.trinn", grade_mask),
                "gratis_trinn": _dated(rules, "sfo.gratis_timer.trinn", grade_mask),
                "saer_trinn": _dated(rules, "sfo.saerskilte_behov_gratis.trinn", grade_mask),
                "gratis_timer_c": _dated(rules, "sfo.gratis_timer.timer_per_uke", centi),
            },
        },
    )
    return tbs


ZONES = {"generell": 0, "sentralitet_5_6": 1, "tiltakssone": 2}


def _days(values: pd.Series, missing: int) -> np.ndarray:
    d = values.to_numpy("datetime64[D]")
    return np.where(np.isnat(d), missing, (d - EPOCH).astype(np.int64))


def whole_period_households(children: pd.DataFrame, months: list[dt.date]) -> np.ndarray:
    """True for the rows of households whose placements all touch every month of the period (the engine's
    test in ``plan_runs``: such a household's amounts change only where a parameter changes)."""
    end_of_first = (pd.Timestamp(months[0]) + pd.offsets.MonthEnd(0)).to_datetime64()
    fra = children["fra_dato"].to_numpy("datetime64[ns]")
    til = children["til_dato"].to_numpy("datetime64[ns]")
    start_of_last = pd.Timestamp(months[-1]).to_datetime64()
    whole = (np.isnat(fra) | (fra <= end_of_first)) & (np.isnat(til) | (til >= start_of_last))
    return pd.Series(whole).groupby(children["husholdning_id"].to_numpy()).transform("all").to_numpy()


def _simulation(tbs: TaxBenefitSystem, children: pd.DataFrame, households: pd.DataFrame, table: pd.DataFrame):
    """One simulation for these placements: entities, and the inputs that do not change by month."""
    n = len(children)
    kommune = children["kommunenummer"].to_numpy().astype(str)
    hh_key = children["husholdning_id"].to_numpy().astype(str) + "/" + kommune
    child_key = children["barn_id"].to_numpy().astype(str) + "/" + children["tilbud"].to_numpy().astype(str)
    hh_codes, hh_ids = pd.factorize(hh_key)
    child_codes, child_ids = pd.factorize(child_key)
    sb = SimulationBuilder()
    sb.create_entities(tbs)
    sb.declare_person_entity("person", np.arange(n).astype(str))
    hh_entity = sb.declare_entity("household", np.asarray(hh_ids, dtype=str))
    sb.join_with_persons(hh_entity, np.asarray(hh_ids, dtype=str)[hh_codes], np.array(["child"] * n))
    child_entity = sb.declare_entity("child", np.asarray(child_ids, dtype=str))
    sb.join_with_persons(child_entity, np.asarray(child_ids, dtype=str)[child_codes], np.array(["placement"] * n))
    sim = sb.build(tbs)
    hh = households.set_index("husholdning_id")
    row_hh = children["husholdning_id"].to_numpy()
    status = hh["inntekt_status"].reindex(row_hh).to_numpy().astype(str)
    unknown = (
        hh["ukjente_poster"].reindex(row_hh).fillna("").to_numpy().astype(str) != ""
        if "ukjente_poster" in hh
        else np.zeros(n, dtype=bool)
    )
    birth = children["barn_fodselsdato"].to_numpy("datetime64[D]")
    first_row = table.drop_duplicates("kommunenummer").set_index("kommunenummer")
    inputs = {
        "is_bh": children["tilbud"].to_numpy() == "barnehage",
        "plass_bp": children["plass_bp"].to_numpy(),
        "timer_c": children["timer_c"].to_numpy(),
        "trinn": children["trinn"].to_numpy(),
        "saer": children["saerskilte_behov"].to_numpy(bool),
        "pris_oere": children["pris_oere"].to_numpy(),
        "birth_year": np.where(np.isnat(birth), 0, birth.astype("datetime64[Y]").astype(np.int64) + 1970),
        "birth_day": _days(children["barn_fodselsdato"], LAST_DAY),
        "barn_code": pd.factorize(children["barn_id"], sort=True)[0],  # text order of barn_id
        "fra_day": _days(children["fra_dato"], NO_DAY),
        "til_day": _days(children["til_dato"], LAST_DAY),
        "zone": np.array([ZONES.get(z, 0) for z in first_row["sone"].reindex(kommune)]),
        "deltid_forholdsmessig": first_row["bh_deltid_forholdsmessig"].reindex(kommune).to_numpy(bool),
        "status_known": status == "kjent",
        "unknown_items": unknown,
    }
    for name, values in inputs.items():
        sim.set_input(name, "eternity", values)
    income = hh["inntekt_oere"].reindex(row_hh).to_numpy(np.int64)
    per_hh = np.zeros(len(hh_ids), dtype=np.int64)
    per_hh[hh_codes] = income
    sim.set_input("income_oere", "eternity", per_hh)
    return sim, kommune


def _month_inputs(
    sim, children: pd.DataFrame, kommune: np.ndarray, table: pd.DataFrame, prices: dict, m: dt.date
) -> None:
    """The municipal settings of month ``m`` for every placement (``prices``: SFO price lists by (kommune, month))."""
    period = f"{m:%Y-%m}"
    bh = children["tilbud"].to_numpy() == "barnehage"
    t = table[table["maaned"] == pd.Timestamp(m)].set_index("kommunenummer")
    row = lambda c: t[c].reindex(kommune).to_numpy()  # noqa: E731
    sim.set_input("billed", period, np.where(bh, row("bh_fakturert"), row("sfo_fakturert")).astype(bool))
    sim.set_input("billed_months", period, np.where(bh, row("bh_fakt_mnd"), row("sfo_fakt_mnd")).astype(np.int64))
    list_price = np.zeros(len(children), dtype=np.int64)
    timer = children["timer_c"].to_numpy()
    for k in np.unique(kommune):
        key = (k, pd.Timestamp(m))
        if key not in prices:
            continue
        steps, steps_price = prices[key]
        sel = kommune == k
        pos = np.searchsorted(steps, timer[sel] / 100.0, side="right") - 1
        list_price[sel] = steps_price[np.maximum(pos, 0)]
    sim.set_input("sfo_list_price", period, list_price)
    for name, col in (
        ("sfo_sib2_bp", "sfo_sib2_bp"),
        ("sfo_sib3_bp", "sfo_sib3_bp"),
        ("bh_sib2_bp_k", "bh_sib2_bp"),
        ("bh_sib3_bp_k", "bh_sib3_bp"),
    ):
        sim.set_input(name, period, row(col).astype(np.int64))
    sim.set_input(
        "sfo_fixed_free",
        period,
        np.where(row("sfo_gratis_fast").astype(bool), row("sfo_gratis_fast_oere").astype(np.int64), -1),
    )
    sim.set_input("unknown_item_manual", period, row("ukjent_post_manuell").astype(bool))


Result = dict[str, tuple[np.ndarray, np.ndarray]]  # "YYYY-MM" -> (row positions billed that month, belop)


def _compute(
    tbs,
    children: pd.DataFrame,
    households: pd.DataFrame,
    table: pd.DataFrame,
    prices: dict,
    months: list[dt.date],
    rows: np.ndarray,
    computed: list[int],
) -> Result:
    """Compute the months at ``computed`` for the placements ``rows``; each computed month's amounts hold until
    the next computed month."""
    sub = children.iloc[rows].reset_index(drop=True)
    sim, kommune = _simulation(tbs, sub, households, table)
    out: Result = {}
    bounds = list(computed) + [len(months)]
    for i, start in enumerate(computed):
        m = months[start]
        _month_inputs(sim, sub, kommune, table, prices, m)
        period = f"{m:%Y-%m}"
        present = np.flatnonzero(sim.calculate("bills_month", period))
        amounts = sim.calculate("belop", period)[present]
        for j in range(start, bounds[i + 1]):
            out[f"{months[j]:%Y-%m}"] = (rows[present], amounts)
    return out


def simulate(
    tbs: TaxBenefitSystem,
    children: pd.DataFrame,
    households: pd.DataFrame,
    table: pd.DataFrame,
    sider: dict,
    months: list[dt.date],
    shortcut: bool = False,
) -> Result:
    """``belop`` for every placement and month it is billed for: {"YYYY-MM": (row positions in ``children``, amounts)}.

    ``children``, ``households``, ``table``, ``sider``, ``months``: the engine's inputs (enrollment rows, household
    income, the month table and its side tables). ``shortcut=False``: one simulation, every month computed.
    ``shortcut=True``: households whose placements all touch every month are computed only at the start of each
    segment of unchanged parameters (the engine's ``segments``) and repeated; the other households get their own
    simulation, every month computed."""
    children = children.reset_index(drop=True)
    prices = sider.get("sfo_prisliste", {})
    everyone = np.arange(len(children))
    if not shortcut:
        return _compute(tbs, children, households, table, prices, months, everyone, list(range(len(months))))
    whole = whole_period_households(children, months)
    starts = [int(s) for s in segments(table, sider, months)]
    out: Result = {}
    parts = [(everyone[whole], starts), (everyone[~whole], list(range(len(months))))]
    for rows, computed in parts:
        if not len(rows):
            continue
        part = _compute(tbs, children, households, table, prices, months, rows, computed)
        for period, (pos, amounts) in part.items():
            if period in out:
                p0, a0 = out[period]
                out[period] = (np.concatenate([p0, pos]), np.concatenate([a0, amounts]))
            else:
                out[period] = (pos, amounts)
    return out


def as_dict(children: pd.DataFrame, result: Result) -> dict[tuple[str, str, str], int]:
    """{(barn_id, tilbud, "YYYY-MM"): belop}"""
    ids = children["barn_id"].to_numpy().astype(str)
    offers = children["tilbud"].to_numpy().astype(str)
    return {
        (ids[i], offers[i], period): int(v)
        for period, (pos, values) in result.items()
        for i, v in zip(pos.tolist(), values.tolist())
    }
