"""Peer for the benchmarks: the barnehage and SFO rules as a small OpenFisca-core model.

National values are OpenFisca parameters taken from the same rule set (dated values, read
with ``parameters(period)``); municipal settings (zone, billed months, SFO price from the
price list, sibling rates beyond the national minimum) and household income enter as
inputs, as a country package would take them from the municipality. Siblings are ranked
with OpenFisca's ``get_rank``. All money in integer øre inside the formulas, so the amounts
must equal the engine's (the benchmark checks that, child-month by child-month).

Limits of this peer (the benchmark population respects them): all of a household's
children are in one municipality; placements cover the whole period.
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

from fee_engine.money import bp, centi, grade_mask, oere
from fee_engine.regelsett import RuleSet

Person = build_entity(key="person", plural="persons", label="Barn", is_person=True)
Household = build_entity(key="household", plural="households", label="Husholdning",
                         roles=[{"key": "child", "plural": "children", "label": "Barn"}])


def _div(num, den):
    return (2 * num + den) // (2 * den)


def i64(a):
    """OpenFisca keeps int variables as int32: widen before multiplying money."""
    return np.asarray(a, dtype=np.int64)


def _input(name: str, entity, value_type=int, period=DateUnit.MONTH, default=0):
    return type(name, (Variable,), {"value_type": value_type, "entity": entity, "definition_period": period,
                                    "default_value": default, "label": name})


INPUTS = [
    ("is_bh", Person, bool, DateUnit.ETERNITY), ("plass_bp", Person, int, DateUnit.ETERNITY),
    ("timer_c", Person, int, DateUnit.ETERNITY), ("trinn", Person, int, DateUnit.ETERNITY),
    ("saer", Person, bool, DateUnit.ETERNITY), ("pris_oere", Person, int, DateUnit.ETERNITY),
    ("birth_year", Person, int, DateUnit.ETERNITY), ("age_key", Person, float, DateUnit.ETERNITY),
    ("zone", Person, int, DateUnit.ETERNITY), ("deltid_forholdsmessig", Person, bool, DateUnit.ETERNITY),
    ("manual", Person, bool, DateUnit.ETERNITY), ("known", Person, bool, DateUnit.ETERNITY),
    ("billed", Person, bool, DateUnit.MONTH), ("billed_months", Person, int, DateUnit.MONTH),
    ("sfo_list_price", Person, int, DateUnit.MONTH), ("sfo_sib2_bp", Person, int, DateUnit.MONTH),
    ("sfo_sib3_bp", Person, int, DateUnit.MONTH), ("bh_sib2_bp_k", Person, int, DateUnit.MONTH),
    ("bh_sib3_bp_k", Person, int, DateUnit.MONTH), ("sfo_fixed_free", Person, int, DateUnit.MONTH),
    ("income_oere", Household, int, DateUnit.ETERNITY),
]


class ordinary_price(Variable):
    value_type, entity, definition_period, label = int, Person, DateUnit.MONTH, "P0"

    def formula(person, period, parameters):
        p = parameters(period)
        maks = np.select([person("zone", period) == 0, person("zone", period) == 1],
                         [p.maks.generell, p.maks.sentralitet_5_6], p.maks.tiltakssone)
        maks = np.round(maks * 100).astype(np.int64)
        pro_rata = _div(maks * i64(person("plass_bp", period)), 10_000)
        limit = np.where(person("deltid_forholdsmessig", period), pro_rata, maks)
        given = person("pris_oere", period)
        bh = np.where(given >= 0, np.minimum(given, limit), pro_rata)
        sfo = np.where(given >= 0, given, person("sfo_list_price", period))
        return np.where(person("is_bh", period), bh, sfo)


class after_special_needs(Variable):
    value_type, entity, definition_period, label = int, Person, DateUnit.MONTH, "P0 after SFO special needs"

    def formula(person, period, parameters):
        mask = int(parameters(period).sfo.saer_trinn)
        trinn = person("trinn", period)
        free = ~person("is_bh", period) & person("saer", period) & (((mask >> trinn) & 1) == 1)
        return np.where(free, 0, person("ordinary_price", period))


class after_income_cap(Variable):
    value_type, entity, definition_period, label = int, Person, DateUnit.MONTH, "P1, § 3b / § 1B-1"

    def formula(person, period, parameters):
        p = parameters(period)
        bh = person("is_bh", period)
        share = np.where(bh, int(p.andel.barnehage), int(p.andel.sfo))
        trinn = person("trinn", period)
        grade_ok = bh | (((int(p.sfo.red_trinn) >> trinn) & 1) == 1)
        income = person.household("income_oere", period)
        cap = _div(np.maximum(i64(income), 0) * share, 10_000 * i64(person("billed_months", period)))
        p0s = person("after_special_needs", period)
        return np.where(person("known", period) & grade_ok, np.minimum(p0s, cap), p0s)


class before_siblings(Variable):
    value_type, entity, definition_period, label = int, Person, DateUnit.MONTH, "after 12 free SFO hours"

    def formula(person, period, parameters):
        p = parameters(period)
        p1 = i64(person("after_income_cap", period))
        trinn, timer = person("trinn", period), i64(person("timer_c", period))
        applies = ~person("is_bh", period) & (((int(p.sfo.gratis_trinn) >> trinn) & 1) == 1)
        free_c = int(p.sfo.gratis_timer_c)
        fixed = person("sfo_fixed_free", period)
        share = np.where(free_c >= timer, p1, _div(p1 * free_c, np.maximum(timer, 1)))
        value = np.where(fixed >= 0, np.minimum(p1, fixed), share)
        return p1 - np.where(applies, value, 0)


class sibling_rank(Variable):
    value_type, entity, definition_period, label = int, Person, DateUnit.MONTH, "rank among siblings (1 = first)"

    def formula(person, period, parameters):
        billed, bh = person("billed", period), person("is_bh", period)
        crit = -person("before_siblings", period).astype(float) * 16 + person("age_key", period)
        r_bh = person.get_rank(person.household, crit, condition=billed & bh)
        r_sfo = person.get_rank(person.household, crit, condition=billed & ~bh)
        return np.where(bh, r_bh, r_sfo) + 1


class after_siblings(Variable):
    value_type, entity, definition_period, label = int, Person, DateUnit.MONTH, "P2, § 3a"

    def formula(person, period, parameters):
        p = parameters(period)
        bh = person("is_bh", period)
        rank = person("sibling_rank", period)
        s2 = np.where(bh, np.maximum(int(p.soesken.barn_2), person("bh_sib2_bp_k", period)), person("sfo_sib2_bp", period))
        s3 = np.where(bh, np.maximum(int(p.soesken.barn_3), person("bh_sib3_bp_k", period)), person("sfo_sib3_bp", period))
        red = np.select([rank == 2, rank >= 3], [s2, s3], 0)
        before = i64(person("before_siblings", period))
        return before - _div(before * red, 10_000)


class belop(Variable):
    value_type, entity, definition_period, label = int, Person, DateUnit.MONTH, "monthly amount, kroner"

    def formula(person, period, parameters):
        p = parameters(period)
        p2 = i64(person("after_siblings", period))
        month_index = period.start.year * 12 + period.start.month - 1
        by = person("birth_year", period)
        window = (month_index >= (by + int(p.kjerne.fra_alder)) * 12 + 7) & (month_index < (by + int(p.kjerne.til_alder)) * 12 + 7)
        income = person.household("income_oere", period)
        applies = person("is_bh", period) & person("known", period) & (income < int(p.kjerne.grense)) & window
        place = int(p.kjerne.heltid_c) * i64(person("plass_bp", period))
        free = int(p.kjerne.timer_c) * 10_000
        core = np.where(free >= place, p2, _div(p2 * free, np.maximum(place, 1)))
        p3 = p2 - np.where(applies, core, 0)
        amount = np.where(person("manual", period), person("ordinary_price", period), p3)
        return _div(np.where(person("billed", period), amount, 0), 100)


def _dated(rules: RuleSet, path: str, convert) -> dict:
    return {"values": {v.gjelder_fra.isoformat(): convert(v.verdi) for v in rules.parameter(path).verdier}}


def build_system(rules: RuleSet) -> TaxBenefitSystem:
    tbs = TaxBenefitSystem([Person, Household])
    for name, entity, vtype, per in INPUTS:
        tbs.add_variable(_input(name, entity, vtype, per, -1 if name in ("pris_oere", "sfo_fixed_free") else
                                (False if vtype is bool else 0)))
    for v in (ordinary_price, after_special_needs, after_income_cap, before_siblings, sibling_rank, after_siblings, belop):
        tbs.add_variable(v)
    same = lambda x: x  # noqa: E731
    tbs.parameters = ParameterNode("", data={
        "maks": {z: _dated(rules, f"barnehage.maksimalpris.{z}", float) for z in ("generell", "sentralitet_5_6", "tiltakssone")},
        "andel": {"barnehage": _dated(rules, "barnehage.redusert_betaling.maks_andel_av_inntekt", bp),
                  "sfo": _dated(rules, "sfo.redusert_betaling.maks_andel_av_inntekt", bp)},
        "kjerne": {"grense": _dated(rules, "barnehage.gratis_kjernetid.inntektsgrense", oere),
                   "timer_c": _dated(rules, "barnehage.gratis_kjernetid.timer_per_uke", centi),
                   "fra_alder": _dated(rules, "barnehage.gratis_kjernetid.fra_alder", same),
                   "til_alder": _dated(rules, "barnehage.gratis_kjernetid.til_alder", same),
                   "heltid_c": _dated(rules, "barnehage.heltid_timer_per_uke", centi)},
        "soesken": {"barn_2": _dated(rules, "barnehage.soeskenmoderasjon.barn_2", bp),
                    "barn_3": _dated(rules, "barnehage.soeskenmoderasjon.barn_3_og_flere", bp)},
        "sfo": {"red_trinn": _dated(rules, "sfo.redusert_betaling.trinn", grade_mask),
                "gratis_trinn": _dated(rules, "sfo.gratis_timer.trinn", grade_mask),
                "saer_trinn": _dated(rules, "sfo.saerskilte_behov_gratis.trinn", grade_mask),
                "gratis_timer_c": _dated(rules, "sfo.gratis_timer.timer_per_uke", centi)},
    })
    return tbs


ZONES = {"generell": 0, "sentralitet_5_6": 1, "tiltakssone": 2}


def simulate(tbs: TaxBenefitSystem, children: pd.DataFrame, households: pd.DataFrame, table: pd.DataFrame,
             prices: dict, months: list[dt.date]) -> dict[str, np.ndarray]:
    """Build one simulation for the whole population and compute ``belop`` for every month.

    Returns {"YYYY-MM": amounts in the order of ``children``}."""
    children = children.reset_index(drop=True)
    hh_ids = households["husholdning_id"].to_numpy()
    hh_pos = pd.Index(hh_ids).get_indexer(children["husholdning_id"])
    sb = SimulationBuilder()
    sb.create_entities(tbs)
    sb.declare_person_entity("person", children["barn_id"].astype(str).to_numpy())
    hh_entity = sb.declare_entity("household", hh_ids.astype(str))
    sb.join_with_persons(hh_entity, hh_ids[hh_pos].astype(str), np.array(["child"] * len(children)))
    sim = sb.build(tbs)
    eternity = "eternity"
    status = households["inntekt_status"].to_numpy()[hh_pos]
    birth = children["barn_fodselsdato"].to_numpy("datetime64[D]")
    birth_days = np.where(np.isnat(birth), 10**9, birth.astype(np.int64))
    child_code = pd.factorize(children["barn_id"])[0]
    birth_year = np.where(np.isnat(birth), 0, birth.astype("datetime64[Y]").astype(np.int64) + 1970)
    age_pos = pd.Series(birth_days.astype(float) * 1e7 + child_code).groupby(hh_pos).rank(method="first").to_numpy() - 1
    kommune = children["kommunenummer"].to_numpy()
    first_row = table.drop_duplicates("kommunenummer").set_index("kommunenummer")
    inputs = {
        "is_bh": children["tilbud"].to_numpy() == "barnehage", "plass_bp": children["plass_bp"].to_numpy(),
        "timer_c": children["timer_c"].to_numpy(), "trinn": children["trinn"].to_numpy(),
        "saer": children["saerskilte_behov"].to_numpy(), "pris_oere": children["pris_oere"].to_numpy(),
        "birth_year": birth_year, "age_key": age_pos,
        "zone": np.array([ZONES[z] for z in first_row["sone"].reindex(kommune)]),
        "deltid_forholdsmessig": first_row["bh_deltid_forholdsmessig"].reindex(kommune).to_numpy(bool),
        "manual": status == "manuell", "known": status == "kjent",
    }
    for name, values in inputs.items():
        sim.set_input(name, eternity, values)
    sim.set_input("income_oere", eternity, households["inntekt_oere"].to_numpy())
    bh = inputs["is_bh"]
    out: dict[str, np.ndarray] = {}
    for m in months:
        period = f"{m:%Y-%m}"
        t = table[table["maaned"] == pd.Timestamp(m)].set_index("kommunenummer")
        row = lambda c: t[c].reindex(kommune).to_numpy()  # noqa: E731
        sim.set_input("billed", period, np.where(bh, row("bh_fakturert"), row("sfo_fakturert")).astype(bool))
        sim.set_input("billed_months", period, np.where(bh, row("bh_fakt_mnd"), row("sfo_fakt_mnd")).astype(np.int64))
        list_price = np.zeros(len(children), dtype=np.int64)
        for k in np.unique(kommune):
            steps, steps_price = prices[(k, pd.Timestamp(m))]
            sel = kommune == k
            pos = np.searchsorted(steps, children["timer_c"].to_numpy()[sel] / 100.0, side="right") - 1
            list_price[sel] = steps_price[np.maximum(pos, 0)]
        sim.set_input("sfo_list_price", period, list_price)
        sim.set_input("sfo_sib2_bp", period, row("sfo_sib2_bp").astype(np.int64))
        sim.set_input("sfo_sib3_bp", period, row("sfo_sib3_bp").astype(np.int64))
        sim.set_input("bh_sib2_bp_k", period, row("bh_sib2_bp").astype(np.int64))
        sim.set_input("bh_sib3_bp_k", period, row("bh_sib3_bp").astype(np.int64))
        sim.set_input("sfo_fixed_free", period, np.where(row("sfo_gratis_fast").astype(bool),
                                                         row("sfo_gratis_fast_oere").astype(np.int64), -1))
        out[period] = sim.calculate("belop", period)
    return out


def as_dict(children: pd.DataFrame, result: dict[str, np.ndarray]) -> dict[tuple[str, str, str], int]:
    ids, offers = children["barn_id"].to_numpy(), children["tilbud"].to_numpy()
    return {(ids[i], offers[i], period): int(v) for period, values in result.items() for i, v in enumerate(values)}
