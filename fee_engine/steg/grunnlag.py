"""What every legal step declares, and what it is given.

A step (:class:`Steg`) declares in one place:

* the parameters it reads, with their types (``nasjonale``, ``kommunale``): this is the rule
  files' schema, so a new parameter is declared where it is used;
* the month-table columns it reads (:class:`Kolonne`): how each parameter becomes a number in
  øre, basis points or hundredths of an hour for a (municipality, month);
* its vectorised computation (``beregn``): the amount before the step in, the amount after
  out (:class:`Utfall`), with the flags it sets and the numbers its explanation needs;
* where its legal reference comes from (``hjemmel``: the parameter whose ``hjemmel`` names it);
* its sentences for the explanation (``forklar``).

Step records (amount before and after, flags, the parameter values used) are the columns the
calculation keeps; the explanation, ``vedtak.json``, the diff and the letters all read them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ..beregning.perioder import Koder
    from ..forklaring.setninger import Setninger


class Verdi(Protocol):
    """A value lookup for one (municipality, month): ``v("barnehage.maksimalpris.generell")`` or, for a
    municipal parameter, ``v(k + "sone")`` with ``k = "kommune.0301."``; ``v.maaned`` is the month's number."""

    maaned: int

    def __call__(self, path: str) -> Any: ...


@dataclass(frozen=True)
class Kolonne:
    """One column of the month table: ``les(v, k)`` gives its value for a (municipality, month)."""

    navn: str
    les: Callable[[Verdi, str], Any]
    tilbud: str | None = None  # looked up only when the batch has this offer
    noeytral: Any = 0  # the value when the offer is not in the batch
    side: bool = False  # not a number (a price list): kept in a side table keyed by (kommune, month)
    # False for a setting that never changes an amount (the målform): an unverified value is still a warning in
    # the run, but does not make the decisions that read it provisional
    belop: bool = True


@dataclass
class Utfall:
    """What a step did to every run: the amount after it (øre), the flags it set, numbers to keep."""

    etter: np.ndarray
    flagg: dict[str, np.ndarray] = field(default_factory=dict)
    ekstra: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Steg:
    kode: str
    beskrivelse: str
    nasjonale: dict[str, Any] = field(default_factory=dict)  # parameter path -> type
    kommunale: dict[str, Any] = field(default_factory=dict)  # municipal path (after kommune.NNNN.) -> type
    valgfrie: frozenset[str] = frozenset()  # municipal paths a file may leave out
    kolonner: tuple[Kolonne, ...] = ()
    behold: tuple[str, ...] = ()  # month-table columns its explanation shows (kept in the runs)
    flagg: tuple[str, ...] = ()  # the flags it may set, in order
    hjemmel: dict[str, str] = field(default_factory=dict)  # tilbud -> parameter path ("kommune." + path if municipal)
    utkolonne: str | None = None  # the output column (kroner) that carries its reduction
    etterkolonne: str | None = None  # an output column with the amount after it (kroner)
    beregn: Callable[[Kontekst, np.ndarray], Utfall] | None = None
    forklar: Callable[[Setninger], list[np.ndarray]] | None = None
    verdier: Callable[[pd.DataFrame], dict[str, np.ndarray]] | None = None  # parameter values per period row

    @property
    def etter(self) -> str:
        """The run column holding the amount after this step, in øre."""
        return f"etter_{self.kode}_oere"


class Kontekst:
    """Every run's inputs as arrays, gathered by integer index when a step asks for them.

    A run is one child (placement) over one or more months with unchanged parameters; see
    :mod:`fee_engine.beregning.perioder`.
    """

    def __init__(
        self,
        children: pd.DataFrame,
        households: pd.DataFrame,
        table: pd.DataFrame,
        sider: dict,
        months: list,
        child: np.ndarray,
        first: np.ndarray,
        hh_pos: np.ndarray,
        t_pos: np.ndarray,
        kommune_kode: np.ndarray,
        kommuner: np.ndarray,
        koder: Koder,
    ) -> None:
        self.children, self.households, self.table, self.sider, self.months = children, households, table, sider, months
        self.child, self.maaned, self.hh_pos, self.t_pos = child, first, hh_pos, t_pos
        self.kommune_kode, self.kommuner = kommune_kode, kommuner
        self.koder = koder  # the children's identifiers as integer codes
        self.n = len(child)
        self._table_values = {c: table[c].to_numpy() for c in table.columns}

    def forget_gathered(self) -> None:
        """Let go of every input gathered for the steps (the cached properties); asked again, each is gathered anew."""
        for name, attr in type(self).__dict__.items():
            if isinstance(attr, cached_property):
                self.__dict__.pop(name, None)

    # -- gathering --------------------------------------------------------------------------
    def T(self, column: str, dtype: Any = np.int64) -> np.ndarray:
        """A month-table column for every run."""
        return self._table_values[column][self.t_pos].astype(dtype)

    def barn(self, column: str, dtype: Any = None) -> np.ndarray:
        values = self.children[column].to_numpy()[self.child]
        return values.astype(dtype) if dtype is not None else values

    def husholdning(self, column: str) -> np.ndarray:
        return self.households[column].to_numpy()[self.hh_pos[self.child]]

    # -- what every step may use ---------------------------------------------------------------
    @cached_property
    def barnehage(self) -> np.ndarray:
        return self.koder.barnehage[self.child]

    @cached_property
    def sfo(self) -> np.ndarray:
        return ~self.barnehage

    @cached_property
    def plass_bp(self) -> np.ndarray:
        return self.barn("plass_bp", np.int64)

    @cached_property
    def timer_c(self) -> np.ndarray:
        return self.barn("timer_c", np.int64)

    @cached_property
    def trinn(self) -> np.ndarray:
        return self.barn("trinn", np.int64)

    @cached_property
    def pris_oere(self) -> np.ndarray:
        return self.barn("pris_oere", np.int64)

    @cached_property
    def fodselsdato(self) -> np.ndarray:
        return self.children["barn_fodselsdato"].to_numpy("datetime64[D]")[self.child]

    @cached_property
    def maanedsindeks(self) -> np.ndarray:
        """year × 12 + month − 1 of each run's first month."""
        ts = pd.DatetimeIndex([pd.Timestamp(x) for x in self.months])
        return (ts.year.to_numpy() * 12 + ts.month.to_numpy() - 1)[self.maaned]

    def husholdning_er(self, column: str, value: str) -> np.ndarray:
        """Whether each run's household has ``value`` in ``column`` (compared once per household)."""
        return (self.households[column].to_numpy(dtype=object) == value)[self.hh_pos[self.child]]

    @cached_property
    def manuell(self) -> np.ndarray:
        """No usable income yet (a caseworker decides), or an unknown income item the municipality treats so."""
        unknown = ~self.husholdning_er("ukjente_poster", "") & self.T("ukjent_post_manuell", bool)
        return self.husholdning_er("inntekt_status", "manuell") | (self._status_kjent & unknown)

    @cached_property
    def _status_kjent(self) -> np.ndarray:
        return self.husholdning_er("inntekt_status", "kjent")

    @cached_property
    def inntekt_kjent(self) -> np.ndarray:
        return self._status_kjent & ~self.manuell

    @cached_property
    def inntekt_oere(self) -> np.ndarray:
        return self.husholdning("inntekt_oere").astype(np.int64)

    @cached_property
    def fakturert(self) -> np.ndarray:
        return np.where(self.barnehage, self.T("bh_fakturert", bool), self.T("sfo_fakturert", bool))

    @cached_property
    def fakturerte_mnd(self) -> np.ndarray:
        return np.where(self.barnehage, self.T("bh_fakt_mnd"), self.T("sfo_fakt_mnd"))
