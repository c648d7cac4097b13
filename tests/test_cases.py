"""Every hand-computed rule case in tests/cases/*.yaml (see tests/caserunner.py for the format)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fee_engine import batch

from .caserunner import build, load_cases

CASES = load_cases(Path(__file__).parent / "cases")


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[name for name, _ in CASES])
def test_case(case, tmp_path):
    opts = build(case, tmp_path)
    comp = batch.compute(opts)
    assert comp.enrollment.rejected_rows == 0, comp.enrollment.rejections.to_dict("records")
    cm = comp.child_months
    cm = cm.assign(m=cm["maaned"].dt.strftime("%Y-%m"))
    for exp in case["forventet"]:
        row = cm[(cm["barn_id"] == str(exp["barn_id"])) & (cm["m"] == str(exp["maaned"]))]
        assert len(row) == 1, f"no single row for {exp['barn_id']} {exp['maaned']}"
        row = row.iloc[0]
        for key, want in exp.items():
            if key in ("barn_id", "maaned"):
                continue
            if key == "kode_inneholder":
                assert want in row["forklaring_kode"], (exp, row["forklaring_kode"])
                continue
            got = row[key]
            assert str(got) == str(want), f"{exp['barn_id']} {exp['maaned']} {key}: got {got}, want {want}"
