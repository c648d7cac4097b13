import pytest

from fee_engine.synthetic import generate


@pytest.fixture(scope="session")
def population_100k(tmp_path_factory):
    return generate(100_000, tmp_path_factory.mktemp("pop100k"))


@pytest.fixture(autouse=True, scope="session")
def _audit_log_in_tmp(tmp_path_factory):
    """Runs append to an audit log (the cost is part of what is measured), not to .fee-engine/ in the work tree."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FEE_ENGINE_AUDIT_LOG", str(tmp_path_factory.mktemp("revisjon") / "revisjon.jsonl"))
        yield
