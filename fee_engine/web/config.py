"""The settings of ``fee-engine serve``, and the refusal to open the office pages to a network without a secret."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigurationError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
SECRET_ENV = "FEE_ENGINE_WEB_SECRET"
MIN_SECRET_LENGTH = 16


def is_loopback(host: str) -> bool:
    """``127.0.0.1``, ``::1``, ``localhost``: reachable from this machine only."""
    h = host.strip().strip("[]")
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


@dataclass
class WebConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = Path(".fee-engine") / "web"  # runs live under data_dir/kjoeringer/<token>/ (0700)
    secret: str | None = None  # the access secret (--tilgangsnokkel / FEE_ENGINE_WEB_SECRET)
    # the tax source every run of this server uses (as `fee-engine run`)
    source: str = "files"
    tax_data: Path | None = None
    api_config: Path | None = None
    cache: Path | None = None
    rules_dir: Path | None = None
    kommune_config: list[Path] = field(default_factory=list)
    kommune: str | None = None  # the office's own municipality: the calculator's default and målform
    reform_dir: Path | None = None  # reform overlays offered on the Regelendring page
    retention_hours: float = 24.0
    max_upload_mb: float = 50.0
    public_calculator: bool = False  # --offentlig-kalkulator: /api/beregn without the secret, with CORS
    cors_origins: list[str] = field(default_factory=list)
    rate_limit_per_minute: int = 60  # per client address, on the public calculator
    allowed_hosts: list[str] = field(default_factory=list)  # Host headers accepted off loopback (empty: any)
    secure_cookies: bool | None = None  # None: Secure when not on loopback (behind the TLS proxy)

    def check(self) -> None:
        """Refuse a configuration that would open office pages to the network without a secret."""
        if self.secret is not None and len(self.secret) < MIN_SECRET_LENGTH:
            raise ConfigurationError(f"tilgangsnøkkelen må ha minst {MIN_SECRET_LENGTH} tegn")
        if not is_loopback(self.host) and not self.secret:
            raise ConfigurationError(
                f"fee-engine serve på {self.host} krever en tilgangsnøkkel (--tilgangsnokkel eller {SECRET_ENV}); "
                "uten nøkkel lytter den bare på 127.0.0.1. Sett den bak kommunens TLS-proxy (se docs/web.md)"
            )
        if self.source not in ("files", "emulator", "api"):
            raise ConfigurationError(f"ukjent --source «{self.source}» (api, emulator eller files)")
        # Without --tax-data the calculator and runs that need no lookup work; a run that needs one says so.
        if self.source in ("files", "emulator") and self.tax_data is not None and not Path(self.tax_data).is_dir():
            raise ConfigurationError(f"fant ikke mappen med skattedata: {self.tax_data}")
        if self.max_upload_mb <= 0 or self.retention_hours <= 0:
            raise ConfigurationError("--maks-opplasting-mb og --oppbevaring-timer må være større enn 0")

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def cookies_secure(self) -> bool:
        return (not self.loopback) if self.secure_cookies is None else self.secure_cookies

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def source_text(self) -> str:
        where = ""
        if self.source in ("files", "emulator") and not self.tax_data:
            return "ingen skattedata satt opp (start serveren med --tax-data eller --source api)"
        if self.source in ("files", "emulator") and self.tax_data:
            folder = Path(self.tax_data)
            try:  # shown relative to where the server was started, when it is below it
                folder = folder.resolve().relative_to(Path.cwd().resolve())
            except ValueError:
                pass
            where = f" ({folder})"
        names = {
            "files": "skattegrunnlag fra filer",
            "emulator": "emulert Skatteetaten-API",
            "api": "Skatteetatens API (summert skattegrunnlag)",
        }
        return names.get(self.source, self.source) + where
