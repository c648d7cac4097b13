"""The private folder beside the working directory (``.fee-engine/``) and full-disk errors.

The folder holds the cache of tax answers, its key and the audit log. It is created 0700;
a folder named ``.fee-engine`` gets a ``.gitignore`` with ``*`` in it, so that neither the
cache nor its key can be committed by accident (the repository's own ``.gitignore`` lists
it too).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from .errors import ConfigurationError

DEFAULT_DIR = Path(".fee-engine")


class DiskFullError(ConfigurationError):
    """No space left where fee-engine keeps the cache or the audit log (exit 2)."""


def private_dir(path: Path) -> Path:
    """Create ``path`` (0700) if needed; keep ``.fee-engine`` folders out of version control."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except FileExistsError:
        raise ConfigurationError(f"{path} finnes, men er ikke en mappe") from None
    except OSError as exc:
        raise storage_error(path, exc) from None
    if path.name == DEFAULT_DIR.name and not (path / ".gitignore").exists():
        try:
            fd = os.open(path / ".gitignore", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path
        except OSError as exc:
            raise storage_error(path, exc) from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("# fee-engine: the cache of tax answers, its key and the audit log must never be committed\n*\n")
    return path


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


def storage_error(path: Path, exc: BaseException) -> ConfigurationError:
    """An error from writing under ``path`` as a message a user can act on."""
    if is_disk_full(exc):
        return DiskFullError(
            f"disken er full der fee-engine lagrer {path}: frigjør plass og kjør på nytt "
            "(svar som allerede er lagret, hentes ikke på nytt)"
        )
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
    return ConfigurationError(f"kan ikke skrive {path}: {detail}")
