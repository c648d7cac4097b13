"""The purposes (formål) a municipality may look up Skatteetaten's data for, and what belongs to each.

The agreements give a municipality the data *only* for the purpose of each rights package
(«bare» for that purpose). fee-engine makes the purpose a value that everything on the data
path carries and checks, instead of a line in the documentation:

==================  ===================================  ==========================================
purpose             foreldrebetaling (``run``, ``diff``)   boligsosial (``inntekt``)
==================  ===================================  ==========================================
Summert             ``kommuneforeldrebetaling``,         ``kommuneboligsosialeformaal``,
skattegrunnlag      stages oppgjoer and utkast           stage oppgjoer only
Inntekt API         —                                    ``kommuneBoligsosialeFormaal``
(a-ordningen)
Maskinporten        ``skatteetaten:summertskattegrunnlag``  ``skatteetaten:summertskattegrunnlag``
scopes                                                   and ``skatteetaten:inntekt``
Altinn delegation   «Summert skattegrunnlag API - På     both «Summert skattegrunnlag API - På vegne
(a vendor)          vegne av»                            av» and «Inntekt API - På vegne av»
cache               ``.fee-engine/skatt.sqlite``         ``.fee-engine/boligsosial.sqlite``
audit ``formaal``   ``kommuneforeldrebetaling``          ``kommuneboligsosialeformaal``
==================  ===================================  ==========================================

A client made for one purpose refuses another purpose's rights package and stages; a cache
file is marked with its purpose when it is created and refuses to open for another one.
"""

from __future__ import annotations

import enum

from ..errors import ConfigurationError

SSG_SCOPE = "skatteetaten:summertskattegrunnlag"
INNTEKT_SCOPE = "skatteetaten:inntekt"
FIKS_SCOPE = "ks:fiks"

# Altinn services a municipality delegates to a vendor, one per Maskinporten scope (Skatteetaten's names).
DELEGERINGER = {
    SSG_SCOPE: "Summert skattegrunnlag API - På vegne av",
    INNTEKT_SCOPE: "Inntekt API - På vegne av",
}


class PurposeError(ConfigurationError):
    """A lookup, setting or stored answer belongs to another purpose than the one asked for (exit 2)."""


class Formaal(str, enum.Enum):
    FORELDREBETALING = "foreldrebetaling"
    BOLIGSOSIAL = "boligsosial"

    # -- Summert skattegrunnlag ----------------------------------------------------------------
    @property
    def ssg_pakke(self) -> str:
        return _SSG_PAKKE[self]

    @property
    def ssg_stadier(self) -> tuple[str, ...]:
        return _SSG_STADIER[self]

    # -- Inntekt API (a-ordningen) ---------------------------------------------------------------
    @property
    def inntekt_pakke(self) -> str | None:
        return _INNTEKT_PAKKE[self]

    # -- what derives from the purpose -----------------------------------------------------------
    @property
    def scopes(self) -> tuple[str, ...]:
        """Maskinporten scopes for the direct way (Fiks uses ``ks:fiks``)."""
        return (SSG_SCOPE, INNTEKT_SCOPE) if self.inntekt_pakke else (SSG_SCOPE,)

    @property
    def delegeringer(self) -> tuple[str, ...]:
        """The Altinn delegations a vendor needs from the municipality for this purpose."""
        return tuple(DELEGERINGER[s] for s in self.scopes)

    @property
    def revisjon(self) -> str:
        """The audit log's ``formaal``."""
        return self.ssg_pakke

    @property
    def lager(self) -> str:
        """File name of the purpose's cache in ``.fee-engine/``."""
        return "skatt.sqlite" if self is Formaal.FORELDREBETALING else f"{self.value}.sqlite"

    @property
    def tekst(self) -> str:
        return _TEKST[self]

    # -- checks ----------------------------------------------------------------------------------
    def check_ssg(self, pakke: str, stadie: str | None = None) -> None:
        """Refuse a Summert skattegrunnlag rights package or stage that is not this purpose's."""
        if pakke != self.ssg_pakke:
            other = next((f for f in Formaal if f.ssg_pakke == pakke), None)
            belongs = f", som hører til formålet {other.tekst}" if other else ""
            raise PurposeError(
                f"rettighetspakken «{pakke}»{belongs} kan ikke brukes til {self.tekst}; bare «{self.ssg_pakke}»"
            )
        if stadie is not None and stadie not in self.ssg_stadier:
            raise PurposeError(
                f"rettighetspakken «{pakke}» gir bare stadie {' og '.join(self.ssg_stadier)}, ikke «{stadie}»"
            )

    def check_inntekt(self, pakke: str) -> None:
        if self.inntekt_pakke is None:
            raise PurposeError(f"{self.tekst} har ingen rettighetspakke i Inntekt API (a-ordningen)")
        if pakke != self.inntekt_pakke:
            raise PurposeError(
                f"rettighetspakken «{pakke}» kan ikke brukes mot Inntekt API til {self.tekst}; "
                f"bare «{self.inntekt_pakke}»"
            )

    @classmethod
    def parse(cls, value: str | Formaal) -> Formaal:
        if isinstance(value, Formaal):
            return value
        for f in cls:
            if value in (f.value, f.ssg_pakke, f.inntekt_pakke):
                return f
        raise PurposeError(f"ukjent formål «{value}» (foreldrebetaling eller boligsosial)")


_SSG_PAKKE = {Formaal.FORELDREBETALING: "kommuneforeldrebetaling", Formaal.BOLIGSOSIAL: "kommuneboligsosialeformaal"}
_SSG_STADIER = {Formaal.FORELDREBETALING: ("oppgjoer", "utkast"), Formaal.BOLIGSOSIAL: ("oppgjoer",)}
_INNTEKT_PAKKE = {Formaal.FORELDREBETALING: None, Formaal.BOLIGSOSIAL: "kommuneBoligsosialeFormaal"}
_TEKST = {Formaal.FORELDREBETALING: "foreldrebetaling i barnehage og SFO", Formaal.BOLIGSOSIAL: "boligsosial bistand"}
