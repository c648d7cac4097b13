"""The synthetic population: the default is the golden snapshot's, ``endringer`` adds a year's changes."""

import filecmp
from pathlib import Path

import pandas as pd

from fee_engine.enrollment import read_enrollment
from fee_engine.synthetic import generate

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "fixtures" / "kommune_syntetisk"


def test_default_reproduces_the_golden_population(tmp_path):
    generate(3000, tmp_path, seed=7, kommune="4601")
    assert (tmp_path / "innskriving.csv").read_bytes() == (GOLDEN / "innskriving.csv").read_bytes()
    cmp = filecmp.dircmp(tmp_path / "skatt", GOLDEN / "skatt")
    files = {str(p.relative_to(tmp_path / "skatt")) for p in (tmp_path / "skatt").rglob("*.json")}
    assert files == {str(p.relative_to(GOLDEN / "skatt")) for p in (GOLDEN / "skatt").rglob("*.json")}
    assert not cmp.diff_files


def test_endringer_has_a_years_changes(tmp_path):
    generate(2000, tmp_path, seed=3, endringer=True)
    enr = read_enrollment(tmp_path / "innskriving.csv", {"0301", "4601", "4641", "5601"})
    assert enr.rejected_rows == 0
    r = enr.rows
    first, last = pd.Timestamp(2024, 8, 1), pd.Timestamp(2025, 7, 31)
    assert r["barn_id"].nunique() == 2000
    assert ((r["fra_dato"] > first) & (r["fra_dato"].dt.month == 1)).any()  # starts in January
    assert ((r["til_dato"] < last) & (r["til_dato"].dt.month == 3)).any()  # leaves in March
    twice = r[r.duplicated(["barn_id", "tilbud"], keep=False)].sort_values(["barn_id", "fra_dato"])
    ends = twice.groupby(["barn_id", "tilbud"])["til_dato"].first()
    starts = twice.groupby(["barn_id", "tilbud"])["fra_dato"].last()
    assert ((starts - ends) == pd.Timedelta(days=1)).all()  # moves: consecutive dates
    assert (starts.dt.day > 1).any() and (twice.groupby(["barn_id", "tilbud"])["husholdning_id"].nunique() > 1).any()
    both = r.groupby("barn_id")["tilbud"].nunique()
    to_sfo = r[r["barn_id"].isin(both[both > 1].index) & (r["tilbud"] == "sfo")]
    assert len(to_sfo) and (to_sfo["fra_dato"].dt.month == 8).all() and (to_sfo["trinn"] == 1).all()
    sfo = r[r["tilbud"] == "sfo"]
    assert set(sfo["trinn"]) == set(range(1, 8)) and sfo["saerskilte_behov"].any() and (sfo["timer_c"] <= 1200).any()
    assert (r["pris_oere"] >= 0).any() and (r["dok_inntekt_oere"] >= 0).any()
    assert r.duplicated(["husholdning_id", "barn_fodselsdato"]).any()  # twins
    assert r["barn_id"].tolist() != sorted(r["barn_id"])  # the file is not in barn_id order
    tax = tmp_path / "skatt"
    assert any((tax / "2022" / "oppgjoer").iterdir())  # the third step of the fallback
    assert any('"skjermet": true' in p.read_text() for p in (tax / "2023" / "oppgjoer").glob("*.json"))
