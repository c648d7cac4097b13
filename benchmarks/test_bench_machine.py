"""What memory written for the first time costs on the machine the suite runs on: context for every figure.

A run writes far more memory than its peak (arrays made and dropped, pages copied after a fork), and the kernel
serves each first write of a page with a page fault. With the memory at hand that costs about a tenth of a second
per GB (the second figure below). A virtual machine whose host backs its memory lazily, and takes back the pages
the guest frees (a balloon's free page reporting), charges much more when the host must find a page again.

* ``test_fresh_memory``: after a pause of ``SETTLE_S`` seconds (untimed; time for the guest to hand freed pages
  back), ``numpy.ones`` of ``SIZE`` bytes: allocate and write every page. Then, untimed by the harness but kept in
  ``extra_info``, the same written again at once after the memory was freed, and each as seconds per GB.
"""

from __future__ import annotations

import time

import numpy as np

from .conftest import stats_of

SIZE = 512 * 2**20
SETTLE_S = 5.0
GB = 2**30


def write_new(nbytes: int) -> float:
    """Seconds to allocate ``nbytes`` and write every byte (an array the allocator must take from the system)."""
    t = time.perf_counter()
    a = np.ones(nbytes // 8, dtype=np.int64)
    took = time.perf_counter() - t
    assert int(a[-1]) == 1  # written through to the end
    del a
    return took


def test_fresh_memory(benchmark):
    def settle():
        time.sleep(SETTLE_S)
        return (SIZE,), {}

    benchmark.pedantic(write_new, setup=settle, rounds=3, iterations=1)
    again = []
    for _ in range(3):
        write_new(SIZE)  # made and freed ...
        again.append(write_new(SIZE))  # ... and made again at once
    again_stats = stats_of(again)
    benchmark.extra_info.update(
        bytes=SIZE,
        settle_s=SETTLE_S,
        fresh_s_per_gb=round(benchmark.stats.stats.median * GB / SIZE, 3),
        again=again_stats,
        again_s_per_gb=round(again_stats["median"] * GB / SIZE, 3),
    )
