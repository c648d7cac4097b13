"""A live ``fee-engine serve`` app on a free loopback port, for the web tests (uvicorn in a thread)."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import httpx

from fee_engine.web import WebConfig, create_app

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "demo"


def demo_config(data_dir: Path, **kw) -> WebConfig:
    base = dict(data_dir=data_dir, source="files", tax_data=DEMO / "skatt", reform_dir=ROOT / "fixtures" / "reformer")
    base.update(kw)
    return WebConfig(**base)


class LiveServer:
    def __init__(self, config: WebConfig) -> None:
        import uvicorn

        self.app = create_app(config)
        self.config = config
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the web server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=60)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def wait_for(client: httpx.Client, status_url: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        s = client.get(status_url, headers={"accept": "application/json"}).json()
        if s["tilstand"] in ("ferdig", "feilet") or time.monotonic() > deadline:
            return s
        time.sleep(0.1)
