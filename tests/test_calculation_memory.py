"""The calculation's records kept narrow without ever wrapping, and the steps' inputs let go before the result is built
(``beregning.take_the_steps``, ``beregning.narrowed``, ``steg.Kontekst.forget_gathered``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.inputs import calc_inputs
from fee_engine.beregning import calculate, expand_runs, gather, narrowed, plan_runs, segments, take_the_steps
from fee_engine.beregning.perioder import Koder

I32 = np.iinfo(np.int32)


def test_a_record_that_fits_is_kept_as_int32_value_for_value():
    values = np.array([I32.min, -1, 0, 1, 838_00, I32.max], dtype=np.int64)
    out = narrowed("belop", values)
    assert out.dtype == np.int32
    assert out.tolist() == values.tolist()
    assert narrowed("belop", np.array([], dtype=np.int64)).dtype == np.int32


@pytest.mark.parametrize("bad", [I32.max + 1, I32.min - 1, 3_000_000_000])
def test_a_record_that_does_not_fit_is_refused_naming_the_column_never_wrapped(bad):
    with pytest.raises(ValueError, match="etter_ordinaer_pris_oere") as e:
        narrowed("etter_ordinaer_pris_oere", np.array([0, bad], dtype=np.int64))
    assert str(bad) in str(e.value)


def test_a_price_beyond_int32_stops_the_calculation_instead_of_wrapping():
    """An SFO price of 30 million kr a month (3·10⁹ øre; the enrollment check rejects it long before, at
    100 000 kr) given straight to ``calculate``: before the records were checked, astype(int32) wrapped it to
    -1 294 967 296 øre."""
    rows, households, table, prices, months = calc_inputs(200)
    rows = rows.copy()
    sfo = rows.index[rows["tilbud"] == "sfo"][0]
    rows.loc[sfo, "pris_oere"] = 3_000_000_000
    with pytest.raises(ValueError, match="passer ikke i int32"):
        calculate(rows, households, table, prices, months, expand=False)


def test_the_steps_inputs_are_let_go_and_gathered_again_alike():
    rows, households, table, prices, months = calc_inputs(200)
    children = rows.reset_index(drop=True)
    koder = Koder.of(children)
    runs = plan_runs(children, months, segments(table, prices, months), koder)
    k = gather(children, households, table, prices, months, runs, koder)
    take_the_steps(k, runs)
    gathered = {
        n: v.copy()
        for n in ("plass_bp", "pris_oere", "inntekt_oere", "manuell", "fakturert")
        if (v := getattr(k, n)) is not None
    }
    assert gathered.keys() <= k.__dict__.keys()
    k.forget_gathered()
    assert not gathered.keys() & k.__dict__.keys()
    for name, before in gathered.items():
        assert np.array_equal(getattr(k, name), before), name
    assert k.n == len(runs.child)  # what is not a gathered input stays


def test_the_result_keeps_its_narrow_and_wide_columns():
    frame = calculate(*calc_inputs(200), expand=False)
    assert frame["belop"].dtype == np.int32 and frame["etter_ordinaer_pris_oere"].dtype == np.int32
    assert frame["flagg"].dtype == np.int32
    for c in ("plass_bp", "timer_c", "trinn", "pris_oere", "Plass"):  # a place's numbers, the placement's code
        assert frame[c].dtype == np.int32, c
    assert frame["inntekt_oere"].dtype == np.int64  # a household's income may pass 2**31 øre (21 million kr)
    rows = calc_inputs(200)[0]
    one = rows.drop_duplicates(["barn_id", "tilbud"], keep=False).set_index(["barn_id", "tilbud"])  # one placement
    runs = frame[pd.MultiIndex.from_arrays([frame["barn_id"], frame["tilbud"]]).isin(one.index)]
    assert len(runs) > 100
    for c in ("plass_bp", "timer_c", "trinn", "pris_oere"):  # each run carries its placement's value unchanged
        assert runs[c].tolist() == one[c].loc[list(zip(runs["barn_id"], runs["tilbud"]))].tolist(), c


def test_the_rule_values_the_runs_carry_are_narrowed_only_when_every_one_fits():
    """The runs carry the month table's numbers for the explanation. A municipality may set the income limit for
    free core hours at 25 million kr (2.5·10⁹ øre, more than int32 holds) to mean «every income»: that column stays
    int64 with its value, while the prices and hours, which fit, are carried as int32."""
    rows, households, table, prices, months = calc_inputs(200)
    table = table.copy()
    table["bh_kjerne_grense_oere"] = 2_500_000_000
    frame = calculate(rows, households, table, prices, months, expand=False)
    assert frame["bh_kjerne_grense_oere"].dtype == np.int64
    assert set(frame["bh_kjerne_grense_oere"]) == {2_500_000_000}
    assert frame["bh_maks_oere"].dtype == np.int32
    assert frame["bh_maks_oere"].tolist() == table["bh_maks_oere"].to_numpy()[_t_pos(frame, table)].tolist()


def _t_pos(frame, table):
    """Each run's row in the month table, by (municipality, first month)."""
    key = table.set_index(["kommunenummer", "maaned"]).index
    return key.get_indexer(list(zip(frame["kommunenummer"], frame["maaned"])))


def test_every_child_month_taken_straight_from_its_source_is_the_expanded_run():
    """``calculate(expand=True)`` takes each column once, from the children, households, month table or records to the
    child-months; it is the runs expanded (``expand_runs``) value for value, dtype for dtype, array kind for array
    kind, the file's own columns included (one of pandas text, one of Python objects, as a reader could leave them)."""
    rows, households, table, prices, months = calc_inputs(200)
    rows = rows.assign(
        egen_merknad=pd.array([f"m{i % 7}" for i in range(len(rows))], dtype="str"),
        egen_kode=np.array([("x", i)[i % 2] for i in range(len(rows))], dtype=object),
    )
    runs = calculate(rows, households, table, prices, months, expand=False)
    expanded = expand_runs(runs)
    straight = calculate(rows, households, table, prices, months, expand=True)
    pd.testing.assert_frame_equal(straight, expanded, check_exact=True)
    assert [type(straight[c].array) for c in straight] == [type(expanded[c].array) for c in expanded]
    assert "antall_maaneder" not in straight and len(straight) == runs["antall_maaneder"].sum()
    assert straight["egen_kode"].tolist() == expanded["egen_kode"].tolist()
    assert runs["antall_maaneder"].max() > 1  # runs of several months were expanded, not only one-month runs
