"""On two cores the outputs are written by two processes: the files are the same byte for byte as one process's."""

from __future__ import annotations

import json

import pytest

from fee_engine import batch
from fee_engine.synthetic import generate


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    return generate(6_000, tmp_path_factory.mktemp("pop6k"), seed=4, endringer=True)


def run(pop, out, monkeypatch, cores: str) -> None:
    monkeypatch.setenv("FEE_ENGINE_PROSESSER", cores)
    batch.run(batch.RunOptions(enrollment=pop / "innskriving.csv", out=out, period=batch.parse_period("2024/25"),
                               source="files", tax_data=pop / "skatt", formats=("csv", "json", "faktura")))


def test_two_processes_write_the_same_files_as_one(population, tmp_path, monkeypatch):
    run(population, tmp_path / "one", monkeypatch, "1")
    run(population, tmp_path / "two", monkeypatch, "2")
    names = sorted(p.name for p in (tmp_path / "one").iterdir() if p.suffix in (".csv", ".json") and p.name[0] != ".")
    assert "vedtak.csv" in names and "fakturagrunnlag.csv" in names
    for name in names:
        a, b = (tmp_path / "one" / name).read_bytes(), (tmp_path / "two" / name).read_bytes()
        if name in ("vedtak.json", "kjoering.json"):  # the time the run was made differs
            a, b = (json.dumps(_without_time(json.loads(x))) for x in (a, b))
        assert a == b, name
    lines = (tmp_path / "two" / "vedtak.csv").read_text(encoding="utf-8-sig").count("\n")
    assert lines > 10_001  # enough periods that the explanations were split between the two processes


def _without_time(doc: dict) -> dict:
    doc = doc.get("kjoering", doc)
    return {k: v for k, v in doc.items() if k != "laget"} if "vedtak" not in doc else doc
