import os

import pytest

from fee_engine.errors import ConfigurationError
from fee_engine.parallel import ChildError, in_two


def test_both_halves_come_back_and_the_second_ran_in_another_process(monkeypatch):
    monkeypatch.setenv("FEE_ENGINE_PROSESSER", "2")
    here = os.getpid()
    a, (pid, big) = in_two(lambda: os.getpid(), lambda: (os.getpid(), list(range(200_000))))
    assert a == here and pid != here and big[-1] == 199_999


def test_one_core_runs_both_here(monkeypatch):
    monkeypatch.setenv("FEE_ENGINE_PROSESSER", "1")
    here = os.getpid()
    assert in_two(lambda: os.getpid(), lambda: os.getpid()) == (here, here)


def test_an_error_in_the_child_is_raised_here(monkeypatch):
    monkeypatch.setenv("FEE_ENGINE_PROSESSER", "2")

    def fails():
        raise ValueError("noe gikk galt")

    with pytest.raises(ChildError, match="ValueError: noe gikk galt"):
        in_two(lambda: 1, fails)

    def stops():
        raise ConfigurationError("disken er full")

    with pytest.raises(ConfigurationError, match="disken er full"):
        in_two(lambda: 1, stops)


def test_an_os_error_in_the_child_is_raised_here_as_itself(monkeypatch):
    """A full disk in the child ends the run as it would in one process (the command line names the file)."""
    monkeypatch.setenv("FEE_ENGINE_PROSESSER", "2")

    def full():
        raise OSError(28, "No space left on device", "/ut/vedtak.csv")

    with pytest.raises(OSError) as caught:
        in_two(lambda: 1, full)
    assert (caught.value.errno, caught.value.filename) == (28, "/ut/vedtak.csv")
