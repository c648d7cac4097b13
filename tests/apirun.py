"""Helpers for tests that run ``fee-engine run --source api`` as a real process against the emulator (loopback)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from fee_engine.taxdata.http import write_identity


def client_identity(directory: Path) -> tuple[Path, Path, list[bytes]]:
    """A key and certificate for the client, and the DER the emulator should trust."""
    key_file, cert_file = write_identity(directory)
    certs = x509.load_pem_x509_certificates(cert_file.read_bytes())
    trusted = [c.public_bytes(serialization.Encoding.DER) for c in certs]
    return key_file, cert_file, trusted


def api_env(server, key_file: Path, cert_file: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "FEE_ENGINE_SSG_URL": server.base_url,
        "FEE_ENGINE_TOKEN_URL": server.base_url + "/token",
        "FEE_ENGINE_AUDIENCE": server.state.issuer,
        "FEE_ENGINE_CLIENT_ID": "demo",
        "FEE_ENGINE_KEY_FILE": str(key_file),
        "FEE_ENGINE_CERT_FILE": str(cert_file),
    }
    env.update(extra)
    return env


def run_cmd(enrollment: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "fee_engine",
        "run",
        str(enrollment),
        "--source",
        "api",
        "--cache",
        str(cache),
        "--period",
        "2024-08..2025-07",
        "--format",
        "csv",
        "--out",
        str(out),
        *extra,
    ]


def stored(cache: Path) -> int:
    if not cache.exists():
        return 0
    try:
        con = sqlite3.connect(cache, timeout=1)
        try:
            return con.execute("SELECT COUNT(*) FROM oppslag").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def kill_after(proc: subprocess.Popen, cache: Path, at_least: int, timeout: float = 60) -> int:
    """SIGKILL ``proc`` once the cache holds ``at_least`` answers; returns how many it held."""
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline and proc.poll() is None:
        n = stored(cache)
        if n >= at_least:
            break
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    return n
