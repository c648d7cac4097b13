"""«How to add a rule» in docs/utvikling.md, as a test: 12 free SFO hours extended to grade 4 (hypothetical)
is one dated value in rules/sfo/ordninger.yaml. No code changes."""

from __future__ import annotations

import shutil

from fee_engine import batch

from .caserunner import build

CASE = {
    "navn": "Grade 4, 20 hours, no application",
    "periode": "2026-10..2026-10",
    "barn": [{"barn_id": "S4", "husholdning": "H1", "tilbud": "sfo", "trinn": 4, "timer": 20}],
    "husholdninger": {"H1": {"soekt": "nei"}},
}
NEW_VALUE = (
    "    - {gjelder_fra: 2026-08-01, verdi: [1, 2, 3, 4], verifisert: false, "
    'kilde: "Hypotetisk: 12 gratis timer utvidet til 4. trinn"}\n'
)


def run(tmp_path, rules_dir=None):
    opts = build(CASE, tmp_path)
    opts.rules_dir = rules_dir
    cm = batch.compute(opts).child_months
    return cm[cm["barn_id"] == "S4"].iloc[0]


def test_grade_4_extension_is_one_dated_value(tmp_path, root):
    before = run(tmp_path / "a")
    # Oslo's price list: 3 299 kr for 20 h; grade 4 has no free hours today
    assert before["belop"] == 3299 and before["gratis_timer"] == 0

    rules = tmp_path / "rules"
    shutil.copytree(root / "rules", rules)
    f = rules / "sfo" / "ordninger.yaml"
    text = f.read_text(encoding="utf-8")
    anchor = "    - {gjelder_fra: 2024-08-01, verdi: [1, 2, 3], verifisert: true"
    i = text.index("\n", text.index(anchor)) + 1
    f.write_text(text[:i] + NEW_VALUE + text[i:], encoding="utf-8")

    after = run(tmp_path / "b", rules)
    # 3 299 × 12/20 = 1 979.40 kr off; 3 299 − 1 979.40 = 1 319.60 → 1 320
    assert after["gratis_timer"] == 1979 and after["belop"] == 1320
    assert "gratis_timer_sfo" in after["forklaring_kode"]
