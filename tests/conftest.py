from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def demo() -> Path:
    return ROOT / "fixtures" / "demo"


@pytest.fixture(autouse=True, scope="session")
def _audit_log_for_the_session(tmp_path_factory):
    """Every run appends to an audit log: never to .fee-engine/ in the work tree, also from module-scoped fixtures."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FEE_ENGINE_AUDIT_LOG", str(tmp_path_factory.mktemp("revisjon-okt") / "revisjon.jsonl"))
        yield


@pytest.fixture(scope="session")
def computed_800(tmp_path_factory):
    """A batch of 800 synthetic children (moves, placements inside the period, SFO) computed once for the session:
    read it, never change it."""
    from fee_engine import batch
    from fee_engine.synthetic import generate

    pop = generate(800, tmp_path_factory.mktemp("pop800"), seed=11, endringer=True)
    return batch.compute(
        batch.RunOptions(
            enrollment=pop / "innskriving.csv",
            out=tmp_path_factory.mktemp("out800"),
            period=batch.parse_period("2024/25"),
            source="files",
            tax_data=pop / "skatt",
            formats=("csv",),
        )
    )


def _work_tree_state() -> dict[str, tuple[int, int]]:
    """What .fee-engine/ in the work tree holds (a demo run before the tests may have made it)."""
    folder = ROOT / ".fee-engine"
    if not folder.exists():
        return {}
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


@pytest.fixture(autouse=True)
def audit_log_in_tmp(tmp_path_factory, monkeypatch):
    """One audit log per test, in a temporary folder; the work tree's .fee-engine/ is left as it was."""
    path = tmp_path_factory.mktemp("revisjon") / "revisjon.jsonl"
    monkeypatch.setenv("FEE_ENGINE_AUDIT_LOG", str(path))
    before = _work_tree_state()
    yield path
    assert _work_tree_state() == before, "a test wrote to .fee-engine/ in the work tree"
