import pytest

from fee_engine.synthetic import generate


@pytest.fixture(scope="session")
def population_100k(tmp_path_factory):
    return generate(100_000, tmp_path_factory.mktemp("pop100k"))
