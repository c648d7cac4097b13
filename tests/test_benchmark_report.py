"""The README's comparison with an earlier benchmark run (``benchmarks/report.py --before``): each test's median in
both runs, and the peers' beside the engine's, so that a reader sees how much of a change was the machine's."""

from __future__ import annotations

from benchmarks.report import against_earlier


def _result(commit: str, when: str, tests: list[dict]) -> dict:
    return {"datetime": when, "machine_info": {"fee_engine": {"git_commit": commit}}, "benchmarks": tests}


def _bench(name: str, median: float, **extra: object) -> dict:
    return {"name": name, "stats": {"median": median, "min": median, "max": median, "rounds": 3}, "extra_info": extra}


def _peer(median: float) -> dict:
    return {"median": median, "min": median, "max": median, "rounds": 3}


def test_each_test_is_set_beside_the_earlier_run_and_the_peers_apart():
    earlier = _result(
        "aaaaaaa",
        "2026-12-01T10:00:00+00:00",
        [
            _bench("test_run_scale[100000]", 2.0),
            _bench("test_like_for_like[100000]", 1.0, peer=_peer(4.0), peer_name="the model"),
            _bench("test_rowwise_peer[100000]", 3.0, peer_name="the loop"),
            _bench("test_only_earlier[100000]", 9.0),
        ],
    )
    now = _result(
        "bbbbbbb",
        "2026-12-02T10:00:00+00:00",
        [
            _bench("test_run_scale[100000]", 3.0),
            _bench("test_like_for_like[100000]", 0.5, peer=_peer(6.0), peer_name="the model"),
            _bench("test_rowwise_peer[100000]", 4.5, peer_name="the loop"),
            _bench("test_only_now[100000]", 1.0),
        ],
    )
    text = "\n".join(against_earlier(now, earlier, "`A.json`"))
    assert "`A.json` (2026-12-01 10:00 UTC, fee-engine at commit `aaaaaaa`)" in text
    engine, peers = text.split("| test: peer")
    # the engine's own medians: 2.0 s then 3.0 s is 1.50; 1.0 s then 0.5 s is 0.50
    assert "| `test_run_scale[100000]` | 2.00 s | 3.00 s | 1.50 |" in engine
    assert "| `test_like_for_like[100000]` | 1.00 s | 0.500 s | 0.50 |" in engine
    # the peers: the model beside the engine 4.0 s then 6.0 s (1.50), the loop timed alone 3.0 s then 4.5 s (1.50)
    assert "| `test_like_for_like[100000]`: the model | 4.00 s | 6.00 s | 1.50 |" in peers
    assert "| `test_rowwise_peer[100000]`: the loop | 3.00 s | 4.50 s | 1.50 |" in peers
    assert "test_rowwise_peer" not in engine
    # a test in only one of the runs has nothing to be set beside
    assert "test_only_earlier" not in text and "test_only_now" not in text


def test_nothing_in_common_gives_no_section():
    earlier = _result("a", "2026-12-01T10:00:00+00:00", [_bench("test_x[1]", 1.0)])
    now = _result("b", "2026-12-02T10:00:00+00:00", [_bench("test_y[1]", 1.0)])
    assert against_earlier(now, earlier, "`A.json`") == []


def test_a_peer_ratio_is_met_in_every_round_or_said_to_be_met_at_the_median_only():
    from benchmarks.report import ratio_verdict

    engine = {"median": 1.0, "min": 0.9, "max": 1.1}
    # 3.5 s / 1.0 s at the median, and the peer's fastest round 3.4 s against the engine's slowest 1.1 s: 3.09x
    assert ratio_verdict({"median": 3.5, "min": 3.4, "max": 3.6}, engine, 3.0, False) == "**met**"
    # 4.0 s / 1.0 s at the median, but 2.0 s / 1.1 s = 1.82x in the worst pairing
    said = ratio_verdict({"median": 4.0, "min": 2.0, "max": 8.0}, engine, 3.0, False)
    assert said.startswith("**met at the median only**") and "1.82×" in said
    # 2.9 s / 1.0 s at the median is below 3x whatever the rounds
    assert ratio_verdict({"median": 2.9, "min": 2.9, "max": 2.9}, engine, 3.0, False) == "**not met**"


def test_a_whole_run_shows_its_cpu_time_and_page_faults_as_medians_of_the_rounds():
    from benchmarks.report import cpu_

    # three rounds: user 7.0/7.5/9.0 s -> median 7.50 s; system 2.1/1.5/1.9 s -> 1.90 s; faults -> 400 000
    x = {
        "engine_cpu": {
            "user_s": [7.0, 7.5, 9.0],
            "system_s": [2.1, 1.5, 1.9],
            "minor_faults": [400_000, 390_000, 410_000],
        }
    }
    assert cpu_(x) == "7.50 s + 1.90 s, 400 000 page faults"
    # two rounds: the median is their mean, (0.4 + 0.6) / 2 = 0.500 s; (100 + 301) / 2 = 200.5 faults, shown as 200
    two = {"engine_cpu": {"user_s": [1.0, 2.0], "system_s": [0.4, 0.6], "minor_faults": [100, 301]}}
    assert cpu_(two) == "1.50 s + 0.500 s, 200 page faults"
    # a result file from before the CPU time was kept
    assert cpu_({}) == "–"


def test_the_cost_of_fresh_memory_is_said_before_the_targets():
    from benchmarks.report import render

    machine = _bench(
        "test_fresh_memory", 1.8, bytes=512 * 2**20, settle_s=5.0, fresh_s_per_gb=3.57, again_s_per_gb=0.07
    )
    data = _result("c", "2026-12-02T10:00:00+00:00", [machine])
    data["machine_info"]["fee_engine"].update(sizes={"small": 10_000, "main": 100_000, "large": 500_000})
    text = render(data, "x.json")
    said = "Memory written for the first time on this machine (`test_fresh_memory`): 3.57 s per GB"
    assert said in text and "0.07 s per GB when written again at once" in text and "arrays of 512 MB" in text
    assert text.index(said) < text.index("### Targets")
    # without the machine's test, nothing is said
    assert "first time on this machine" not in render(_result("c", "2026-12-02T10:00:00+00:00", []), "x.json")
