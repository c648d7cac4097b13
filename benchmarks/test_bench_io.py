"""Parts of a run at the main size (100 000 children; 5 000 in a quick run): reading the enrollment file,
reading the tax answers, income, writing the CSV outputs and the workbook. Each is timed in this process."""

import datetime as dt
import resource

from fee_engine import batch, forklaring
from fee_engine.batch import build_households
from fee_engine.enrollment import read_enrollment
from fee_engine.income import household_incomes, person_incomes
from fee_engine.output.csv import write_csv, write_monthly_from_runs
from fee_engine.output.excel import write_workbook
from fee_engine.output.summary import by_institution_month
from fee_engine.regelsett import load_rules
from fee_engine.taxdata import FileSource, fallback_plan, fetch_with_fallback

from .conftest import MAIN

PERIOD = (dt.date(2024, 8, 1), dt.date(2025, 7, 1))
KOMMUNER = {"0301", "4601", "4641", "5601"}


def rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def test_read_enrollment(benchmark, population_main):
    enr = benchmark.pedantic(
        read_enrollment, args=(population_main / "innskriving.csv", KOMMUNER), rounds=2, iterations=1
    )
    assert enr.rejected_rows == 0
    benchmark.extra_info.update(
        children=MAIN, rows=enr.n_rows, rows_per_s=round(enr.n_rows / benchmark.stats.stats.median)
    )


def test_income_aggregation(benchmark, population_main):
    rules = load_rules()
    enr = read_enrollment(population_main / "innskriving.csv", KOMMUNER)
    households = build_households(enr.rows)
    need = households[households["soekt_redusert"] & (households["dok_inntekt_oere"] < 0)]
    persons = list(dict.fromkeys(p for adults in need["voksne"] for p in adults))
    lookups = fetch_with_fallback(FileSource(population_main / "skatt"), persons, fallback_plan(2024))

    def aggregate():
        return household_incomes(households, person_incomes(lookups, rules))

    out = benchmark.pedantic(aggregate, rounds=2, iterations=1)
    assert len(out) == len(households)
    benchmark.extra_info.update(
        children=MAIN, persons=len(persons), persons_per_s=round(len(persons) / benchmark.stats.stats.median)
    )


def test_read_tax_files(benchmark, population_main):
    enr = read_enrollment(population_main / "innskriving.csv", KOMMUNER)
    persons = list(dict.fromkeys(p for a in build_households(enr.rows)["voksne"] for p in a))
    out = benchmark.pedantic(
        lambda: fetch_with_fallback(FileSource(population_main / "skatt"), persons, fallback_plan(2024)),
        rounds=1,
        iterations=1,
    )
    lookups = sum(len(v) for v in out.values())
    benchmark.extra_info.update(
        children=MAIN,
        persons=len(persons),
        lookups=lookups,
        lookups_per_s=round(lookups / benchmark.stats.stats.median),
    )


def _computed(population):
    opts = batch.RunOptions(
        enrollment=population / "innskriving.csv",
        out=population / "unused",
        period=PERIOD,
        source="files",
        tax_data=population / "skatt",
    )
    return batch.compute(opts)


def test_write_csv(benchmark, population_main, tmp_path):
    comp = _computed(population_main)

    def write():  # as the run writes them: the monthly file straight from the runs, the decisions with their texts
        write_monthly_from_runs(comp.runs, [], tmp_path / "maanedlig.csv")
        write_csv(forklaring.vedtak_table(forklaring.periods(comp.runs), comp.rules, []), tmp_path / "vedtak.csv")

    benchmark.pedantic(write, rounds=1, iterations=1)
    benchmark.extra_info.update(children=MAIN, child_months=int(comp.runs["antall_maaneder"].sum()))


def test_write_workbook(benchmark, population_main, tmp_path):
    comp = _computed(population_main)
    monthly = forklaring.monthly(comp.runs, [])
    decisions = forklaring.vedtak(comp.runs, comp.rules, [])
    before = rss_mb()

    def write():
        write_workbook(
            tmp_path / "vedtak.xlsx",
            meta={"regelsett": comp.rules.version},
            vedtak=decisions,
            monthly=monthly,
            summary=by_institution_month(monthly),
            rejected=comp.enrollment.rejections,
            manual=monthly[monthly["status"] == "manuell"].drop_duplicates(["barn_id", "tilbud"]),
        )

    benchmark.pedantic(write, rounds=1, iterations=1)
    rows = len(monthly) + len(decisions)
    benchmark.extra_info.update(
        children=MAIN,
        rows=rows,
        rows_per_s=round(rows / benchmark.stats.stats.median),
        rss_growth_mb=rss_mb() - before,
        size_mb=round((tmp_path / "vedtak.xlsx").stat().st_size / 2**20),
    )


def test_invoicing_basis_csv(benchmark, population_main, tmp_path):
    """fakturagrunnlag.csv (+ per payer) from the runs, through the fast expanded-CSV path."""
    from fee_engine.output import fakturagrunnlag

    comp = _computed(population_main)

    def build_and_write():
        basis = fakturagrunnlag.build(comp.runs, comp.enrollment.rows, comp.rules, comp.months)
        fakturagrunnlag.write_csv_files(basis, tmp_path)
        return basis

    basis = benchmark.pedantic(build_and_write, rounds=2, iterations=1)
    benchmark.extra_info.update(lines=len(basis.lines), lines_per_s=round(len(basis.lines) / benchmark.stats.stats.min))


def test_invoicing_basis_workbook(benchmark, population_main, tmp_path):
    from fee_engine.output import fakturagrunnlag

    comp = _computed(population_main)
    basis = fakturagrunnlag.build(comp.runs, comp.enrollment.rows, comp.rules, comp.months)
    benchmark.pedantic(
        lambda: fakturagrunnlag.write_workbook(basis, tmp_path / "fakturagrunnlag.xlsx", {}), rounds=1, iterations=1
    )
    benchmark.extra_info.update(lines=len(basis.lines), rows_per_s=round(len(basis.lines) / benchmark.stats.stats.min))
