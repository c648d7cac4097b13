"""Sessions, CSRF, security headers, host check, rate limits and the access log of the web application.

* A session is a signed cookie (HMAC-SHA256, ``HttpOnly``, ``SameSite=Strict``, ``Secure`` off loopback)
  holding a random session id, whether the access secret was given, and the last run started from this
  browser. Nothing personal is in it.
* Every form carries a CSRF token derived from the session id; a POST without the right one is refused.
* Every response has a Content-Security-Policy without inline script, ``X-Content-Type-Options: nosniff``,
  frame denial and no referrer (run pages have a capability token in their address).
* On loopback only ``localhost``/``127.0.0.1``/``[::1]`` are accepted as Host (no DNS rebinding).
* The access log masks run tokens and every run of nine or more digits, like the command line.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..identity import install_log_masking, mask_digits_in_text
from .config import WebConfig

log = logging.getLogger("fee_engine.web")
install_log_masking()

COOKIE = "fee_engine_okt"
SESSION_HOURS = 12
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Session:
    sid: str
    auth: bool = False
    last_run: str = ""
    issued: float = field(default_factory=time.time)
    dirty: bool = False

    @classmethod
    def new(cls) -> Session:
        return cls(sid=secrets.token_urlsafe(24), dirty=True)

    def login(self) -> None:
        """A new session id on login (no session fixation)."""
        self.sid, self.auth, self.issued, self.dirty = secrets.token_urlsafe(24), True, time.time(), True

    def logout(self) -> None:
        self.sid, self.auth, self.last_run = secrets.token_urlsafe(24), False, ""
        self.issued, self.dirty = time.time(), True


class Signer:
    """Signs the session cookie and derives CSRF tokens. The key comes from the access secret (sessions survive a
    restart) or, without one, is random for this process."""

    def __init__(self, secret: str | None) -> None:
        base = secret.encode("utf-8") if secret else secrets.token_bytes(32)
        self.key = hmac.new(b"fee-engine web session v1", base, hashlib.sha256).digest()
        self.secret_digest = hashlib.sha256(secret.encode("utf-8")).digest() if secret else None

    def _sig(self, payload: str) -> str:
        return _b64(hmac.new(self.key, payload.encode("ascii"), hashlib.sha256).digest())

    def dump(self, s: Session) -> str:
        payload = _b64(
            json.dumps({"s": s.sid, "a": s.auth, "r": s.last_run, "t": int(s.issued)}, separators=(",", ":")).encode(
                "utf-8"
            )
        )
        return f"{payload}.{self._sig(payload)}"

    def load(self, value: str | None) -> Session | None:
        if not value or value.count(".") != 1:
            return None
        payload, sig = value.split(".")
        if not hmac.compare_digest(sig, self._sig(payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            s = Session(
                sid=str(data["s"]), auth=bool(data["a"]), last_run=str(data.get("r", "")), issued=float(data["t"])
            )
        except (ValueError, KeyError, TypeError):
            return None
        if time.time() - s.issued > SESSION_HOURS * 3600:
            return None
        return s

    def csrf(self, s: Session) -> str:
        return _b64(hmac.new(self.key, f"csrf|{s.sid}".encode("ascii"), hashlib.sha256).digest())

    def check_csrf(self, s: Session, token: object) -> bool:
        return isinstance(token, str) and hmac.compare_digest(token, self.csrf(s))

    def check_secret(self, given: object) -> bool:
        if self.secret_digest is None or not isinstance(given, str):
            return False
        return hmac.compare_digest(hashlib.sha256(given.encode("utf-8")).digest(), self.secret_digest)


def session(request: Request) -> Session:
    return request.scope["fee_engine_okt"]


class RateLimiter:
    """At most ``per_minute`` events per key in any sliding minute (thread-safe)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.events: dict[str, collections.deque[float]] = {}
        self.lock = threading.Lock()

    def allow(self, key: str) -> tuple[bool, int]:
        """(allowed, seconds to wait)."""
        now = time.monotonic()
        with self.lock:
            q = self.events.setdefault(key, collections.deque())
            while q and now - q[0] >= 60:
                q.popleft()
            if len(q) >= self.per_minute:
                return False, max(1, int(60 - (now - q[0])) + 1)
            q.append(now)
            if len(self.events) > 10_000:  # forget idle clients
                for k in [k for k, v in self.events.items() if not v or now - v[-1] >= 60]:
                    del self.events[k]
            return True, 0


def mask_path(path: str) -> str:
    """A path as logged: run tokens replaced, digit runs masked."""
    return mask_digits_in_text(TOKEN_RE.sub("…", path))


LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}


class WebMiddleware:
    """Session cookie, host check, security headers and a masked access log, around every HTTP request."""

    def __init__(self, app: ASGIApp, config: WebConfig, signer: Signer) -> None:
        self.app, self.config, self.signer = app, config, signer

    def _host_ok(self, headers: Headers) -> bool:
        host = headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name in self.config.allowed_hosts:
            return True
        if self.config.loopback:
            return name in LOOPBACK_HOSTS
        return not self.config.allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = Headers(scope=scope)
        status_seen: dict[str, Any] = {"status": 0}
        if not self._host_ok(headers):
            await PlainTextResponse("Ukjent vertsnavn", status_code=400)(scope, receive, send)
            log.info("%s %s 400 (vertsnavn)", scope["method"], mask_path(scope["path"]))
            return
        cookies = {}
        for part in headers.get("cookie", "").split(";"):
            if "=" in part:
                k, v = part.strip().split("=", 1)
                cookies[k] = v
        s = self.signer.load(cookies.get(COOKIE)) or Session.new()
        scope["fee_engine_okt"] = s
        path = scope["path"]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_seen["status"] = message["status"]
                h = MutableHeaders(scope=message)
                for k, v in SECURITY_HEADERS.items():
                    if k not in h:
                        h[k] = v
                if not path.startswith("/static/") and "cache-control" not in h:
                    h["cache-control"] = "no-store"
                if s.dirty and not path.startswith(("/static/", "/api/")):
                    cookie = (
                        f"{COOKIE}={self.signer.dump(s)}; Path=/; HttpOnly; SameSite=Strict; "
                        f"Max-Age={SESSION_HOURS * 3600}"
                    )
                    if self.config.cookies_secure or scope.get("scheme") == "https":  # behind the TLS proxy
                        cookie += "; Secure"
                    h.append("set-cookie", cookie)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            log.info(
                "%s %s %s %.0f ms",
                scope["method"],
                mask_path(path),
                status_seen["status"],
                (time.perf_counter() - started) * 1000,
            )
