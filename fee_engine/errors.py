"""Every exception fee-engine raises on purpose, in one place.

``FeeEngineError``
    base class; its message is safe to show to a user (no full fødselsnummer).
``ConfigurationError`` (exit code 2)
    the batch cannot run as configured: rule set invalid or incomplete for the
    period, unknown municipality file, missing credentials, a tax source that
    refuses us. Nothing half-written is presented as complete.
``InputError`` (exit code 1)
    the enrollment file as a whole cannot be read (not found, unknown format,
    required columns missing). Problems in single rows are *not* exceptions: they
    become rejected rows (see :mod:`fee_engine.enrollment`).
"""

from __future__ import annotations


class FeeEngineError(Exception):
    exit_code = 2


class ConfigurationError(FeeEngineError):
    exit_code = 2


class RuleSetError(ConfigurationError):
    """The rule set or a municipal file is invalid, or has no value for a requested month."""


class InputError(FeeEngineError):
    exit_code = 1
