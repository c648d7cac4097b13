"""The HTTP client against the emulator with 50 ms latency per lookup (5 000 lookups; 1 000 in a quick run).

5 requests in flight × 1/50 ms = 100 lookups/s is the ceiling; the target is ≥ 90 % of it.
The emulator runs as its own process (``fee-engine emulator``), as the real service would be
elsewhere: in the same process it would compete with the client for the GIL.
"""

import asyncio
import datetime as dt
import json
from pathlib import Path

from fee_engine.identity import make_synthetic
from fee_engine.taxdata import fallback_plan
from fee_engine.taxdata.client import SsgClient
from fee_engine.taxdata.maskinporten import Credentials, TokenProvider, load_pem

from .conftest import QUICK
from .measure import emulator_process

N = 1000 if QUICK else 5000
LATENCY_MS = 50


def test_client_lookups_at_50ms(benchmark, tmp_path):
    folder = tmp_path / "skatt" / "2023" / "oppgjoer"
    folder.mkdir(parents=True)
    persons = [make_synthetic(dt.date(1960, 1, 1) + dt.timedelta(days=i), 0) for i in range(N)]
    for p in persons:
        (folder / f"{p}.json").write_text(json.dumps({"grunnlag": []}))
    with emulator_process(tmp_path / "skatt", tmp_path / "klient", latency_ms=LATENCY_MS) as env:
        base = env["FEE_ENGINE_SSG_URL"]
        key, chain = load_pem(Path(env["FEE_ENGINE_KEY_FILE"]), Path(env["FEE_ENGINE_CERT_FILE"]))
        tokens = TokenProvider(
            Credentials("bench", key, x5c=chain), env["FEE_ENGINE_TOKEN_URL"], env["FEE_ENGINE_AUDIENCE"]
        )
        client = SsgClient(base, tokens, max_in_flight=5)

        def fetch():
            return asyncio.run(client.fetch_all(persons, fallback_plan(2024)))

        out = benchmark.pedantic(fetch, rounds=1, iterations=1)
    assert len(out) == N and all(v[-1].status == "ok" for v in out.values())
    seconds = benchmark.stats.stats.mean
    rate = N / seconds
    ceiling = 5 * 1000 / LATENCY_MS
    benchmark.extra_info.update(
        lookups=N,
        latency_ms=LATENCY_MS,
        ceiling_per_s=ceiling,
        lookups_per_s=round(rate, 1),
        share_of_ceiling=round(rate / ceiling, 3),
        mean_in_flight=round(client.stats.mean_in_flight, 2),
        max_in_flight=client.stats.max_in_flight,
    )
    print(
        f"\n{N} lookups in {seconds:.1f} s = {rate:.1f}/s ({rate / ceiling:.0%} of {ceiling:.0f}/s); "
        f"mean in flight {client.stats.mean_in_flight:.2f}, max {client.stats.max_in_flight}"
    )
    assert client.stats.max_in_flight <= 5
