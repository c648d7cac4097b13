"""``fee-engine serve``: the engine in a browser for the office, and a calculator API for the municipality's site.

Install with the ``web`` extra (``pip install -e '.[web]'``); see docs/web.md.
"""

from .config import WebConfig

__all__ = ["WebConfig", "create_app"]


def create_app(config: WebConfig):  # type: ignore[no-untyped-def]
    from .app import create_app as _create

    return _create(config)
