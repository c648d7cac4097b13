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


@pytest.fixture(autouse=True)
def audit_log_in_tmp(tmp_path_factory, monkeypatch):
    """Every run appends to an audit log; in tests, one per test in a temporary folder, not .fee-engine/ here."""
    path = tmp_path_factory.mktemp("revisjon") / "revisjon.jsonl"
    monkeypatch.setenv("FEE_ENGINE_AUDIT_LOG", str(path))
    return path
