"""The month table: one row per (municipality, month) with every number the steps read.

Built from the steps' own column declarations (:class:`fee_engine.steg.Kolonne`), so a new
parameter is read where it is used. Only the offers a batch has are looked up (a batch
without SFO needs no SFO price list); the other offer's columns get their neutral value.
Values that are lists (the SFO price list) go to a side table keyed by (kommune, month).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from ..regelsett import RuleSet, Value, format_value
from ..steg import month_table_columns


class Oppslag:
    """The value lookup a column reader gets: ``v(path)`` on one month, remembering what was used
    (for the run's warnings, and per offer for the office's note on each decision)."""

    def __init__(self, rules: RuleSet, day: dt.date, used: dict[tuple[str, dt.date], Value]) -> None:
        self.rules, self.day, self.used = rules, day, used
        self.maaned = day.month
        self.tilbud: str | None = None
        self.belop = True  # whether the column being read can change an amount
        self.unverified: dict[str | None, dict[str, Value]] = {}

    def __call__(self, path: str) -> Any:
        v = self.rules.value(path, self.day)
        self.used[(path, v.gjelder_fra)] = v
        if not v.verifisert and self.belop:
            self.unverified.setdefault(self.tilbud, {})[path] = v
        return v.verdi

    def unverified_for(self, tilbud: str) -> str:
        """The unverified values this row's columns for ``tilbud`` (and for both offers) read, as one text."""
        found = {**self.unverified.get(None, {}), **self.unverified.get(tilbud, {})}
        return "; ".join(
            f"{path} = {format_value(v.verdi)} fra {v.gjelder_fra.isoformat()}" for path, v in sorted(found.items())
        )


def month_table(
    rules: RuleSet, months: list[dt.date], kommuner: list[str], offers: tuple[str, ...] = ("barnehage", "sfo")
) -> tuple[pd.DataFrame, dict, list[tuple[str, Value]]]:
    """Returns the table, the side tables ``{column: {(kommune, month): value}}``, and the ``(path, Value)``
    pairs used that are not verified (each one a warning in the run)."""
    columns = month_table_columns()
    used: dict[tuple[str, dt.date], Value] = {}
    sider: dict[str, dict] = {c.navn: {} for c in columns if c.side}
    rows = []
    for nr in kommuner:
        rules.municipality(nr)
        k = f"kommune.{nr}."
        for m in months:
            v = Oppslag(rules, m, used)
            ts = pd.Timestamp(m)
            row: dict[str, Any] = {"kommunenummer": nr, "maaned": ts}
            for c in columns:
                wanted = c.tilbud is None or c.tilbud in offers
                v.tilbud, v.belop = c.tilbud, c.belop
                if c.side:
                    if wanted:
                        sider[c.navn][(nr, ts)] = c.les(v, k)
                else:
                    row[c.navn] = c.les(v, k) if wanted else c.noeytral
            for offer in ("barnehage", "sfo"):
                row[f"uverifisert_{offer}"] = v.unverified_for(offer)
            rows.append(row)
    names = [c.navn for c in columns if not c.side] + ["uverifisert_barnehage", "uverifisert_sfo"]
    table = pd.DataFrame(rows, columns=["kommunenummer", "maaned"] + names)
    unverified = [(path, v) for (path, _), v in sorted(used.items(), key=lambda kv: kv[0]) if not v.verifisert]
    return table, sider, unverified
