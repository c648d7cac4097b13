"""Peer for the benchmarks: the same rules, one child and one month at a time in plain Python.

This is how a typical municipal script would do it: loop over households, months and
children, look the parameters up in a dict, rank siblings with a sort. Integer øre and
the same half-up rounding, so it must give exactly the engine's amounts (the benchmark
checks that). It reads the same prepared inputs as the engine (enrollment rows, household
income, the rule set's month table and its side tables), so only the calculation is compared.

The rules as the engine has them: a child with two placements in the same offer and month is
billed once, for the placement with the most days that month (tie: the later one); a manual
household keeps every reduction that does not depend on income (only the 6 % rule and free core
hours wait); a place of at most 12 hours in SFO is free whatever the municipal valuation; siblings
are ranked by the fee before the discount, ties the oldest, then ``barn_id`` in text order.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pandas as pd


def _div(num: int, den: int) -> int:
    return (2 * num + den) // (2 * den)


def _date(value) -> dt.date | None:
    return None if pd.isna(value) else value.date()


def calculate_rowwise(
    children: pd.DataFrame, households: pd.DataFrame, table: pd.DataFrame, sider: dict, months: list[dt.date]
) -> dict[tuple[str, str, str], int]:
    """{(barn_id, tilbud, 'YYYY-MM'): belop} for every month a child is billed in (or has a free month)."""
    stamps = [pd.Timestamp(m) for m in months]
    month_pos = {ts: i for i, ts in enumerate(stamps)}
    params: dict[tuple[str, int], dict] = {
        (r["kommunenummer"], month_pos[r["maaned"]]): r for r in table.to_dict("records") if r["maaned"] in month_pos
    }
    price_lists = {
        (k, month_pos[ts]): ([float(x) for x in a], [int(x) for x in b])
        for (k, ts), (a, b) in sider.get("sfo_prisliste", {}).items()
        if ts in month_pos
    }
    hh: dict[str, dict] = {r["husholdning_id"]: r for r in households.to_dict("records")}
    firsts = list(months)
    lasts = [(m.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1) for m in months]
    # one bill per child, offer and month: the placement with the most days, a tie to the later one
    placements: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for c in children.to_dict("records"):
        c["fra"], c["til"] = _date(c["fra_dato"]), _date(c["til_dato"])
        born = c["barn_fodselsdato"]
        c["birth_year"] = None if pd.isna(born) else born.year
        c["birth_key"] = 2**63 - 1 if pd.isna(born) else born.value
        placements[(c["barn_id"], c["tilbud"])].append(c)
    # household -> month -> the placements billed
    billed_in: dict[str, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for group in placements.values():
        for mi in range(len(months)):
            best, best_key = None, None
            for c in group:
                lo = firsts[mi] if c["fra"] is None else max(c["fra"], firsts[mi])
                hi = lasts[mi] if c["til"] is None else min(c["til"], lasts[mi])
                days = (hi - lo).days + 1
                if days <= 0:
                    continue
                key = (days, dt.date.min if c["fra"] is None else c["fra"])
                if best_key is None or key > best_key:
                    best, best_key = c, key
            if best is not None:
                billed_in[best["husholdning_id"]][mi].append(best)
    out: dict[tuple[str, str, str], int] = {}
    labels = [f"{m:%Y-%m}" for m in months]
    for hid, by_month in billed_in.items():
        h = hh[hid]
        status = h["inntekt_status"]
        income = int(h["inntekt_oere"])
        for mi, kids in by_month.items():
            m = months[mi]
            rows = []
            for c in kids:
                p = params[(c["kommunenummer"], mi)]
                bh = c["tilbud"] == "barnehage"
                unknown = h.get("ukjente_poster", "") != "" and p["ukjent_post_manuell"]
                manual = status == "manuell" or (status == "kjent" and unknown)
                known = status == "kjent" and not manual
                billed = p["bh_fakturert"] if bh else p["sfo_fakturert"]
                given = c["pris_oere"]
                if bh:
                    pro_rata = _div(p["bh_maks_oere"] * c["plass_bp"], 10_000)
                    limit = pro_rata if p["bh_deltid_forholdsmessig"] else p["bh_maks_oere"]
                    p0 = min(given, limit) if given >= 0 else pro_rata
                else:
                    if given >= 0:
                        p0 = given
                    else:
                        steps, steps_price = price_lists[(c["kommunenummer"], mi)]
                        p0 = steps_price[0]
                        for hours, price in zip(steps, steps_price):
                            if c["timer_c"] / 100.0 >= hours:
                                p0 = price
                trinn = c["trinn"]
                saer = (not bh) and c["saerskilte_behov"] and (p["sfo_saer_trinn"] >> trinn) & 1
                p0s = 0 if saer else p0
                share = p["bh_inntekt_bp"] if bh else p["sfo_inntekt_bp"]
                n_months = p["bh_fakt_mnd"] if bh else p["sfo_fakt_mnd"]
                grade_ok = bh or (p["sfo_red_trinn"] >> trinn) & 1
                p1 = min(p0s, _div(max(income, 0) * share, 10_000 * n_months)) if known and grade_ok else p0s
                free = 0
                if not bh and (p["sfo_gratis_trinn"] >> trinn) & 1:
                    if p["sfo_gratis_timer_c"] >= c["timer_c"]:
                        free = p1  # a place of at most 12 hours is free whatever the valuation
                    elif p["sfo_gratis_fast"]:
                        free = min(p1, p["sfo_gratis_fast_oere"])
                    else:
                        free = _div(p1 * p["sfo_gratis_timer_c"], c["timer_c"])
                rows.append(dict(c=c, p=p, bh=bh, known=known, billed=billed, before=p1 - free))
            for offer in ("barnehage", "sfo"):
                for kommune in {r["c"]["kommunenummer"] for r in rows}:
                    group = [r for r in rows if r["c"]["tilbud"] == offer and r["c"]["kommunenummer"] == kommune]
                    ranked = sorted(
                        [r for r in group if r["billed"]],
                        key=lambda r: (-r["before"], r["c"]["birth_key"], r["c"]["barn_id"]),
                    )
                    for i, r in enumerate(ranked, start=1):
                        r["rank"] = i
                    for r in group:
                        p, c = r["p"], r["c"]
                        rank = r.get("rank", 0)
                        if rank == 2:
                            red = p["bh_sib2_bp"] if r["bh"] else p["sfo_sib2_bp"]
                        elif rank >= 3:
                            red = p["bh_sib3_bp"] if r["bh"] else p["sfo_sib3_bp"]
                        else:
                            red = 0
                        p2 = r["before"] - _div(r["before"] * red, 10_000)
                        p3 = p2
                        if (
                            r["bh"]
                            and r["known"]
                            and income < p["bh_kjerne_grense_oere"]
                            and c["birth_year"] is not None
                        ):
                            by = c["birth_year"]
                            idx = m.year * 12 + m.month - 1
                            if (
                                (by + p["bh_kjerne_fra_alder"]) * 12 + 7
                                <= idx
                                < (by + p["bh_kjerne_til_alder"]) * 12 + 7
                            ):
                                place = p["bh_heltid_timer_c"] * c["plass_bp"]
                                free_c = p["bh_kjerne_timer_c"] * 10_000
                                p3 = p2 - (p2 if free_c >= place else _div(p2 * free_c, place))
                        out[(c["barn_id"], c["tilbud"], labels[mi])] = _div(p3 if r["billed"] else 0, 100)
    return out
