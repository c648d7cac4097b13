"""The run's warnings and open cases as the office reads them: what it means, and what to do.

The batch's warnings are short technical lines (``Ikke verifisert verdi brukt: kommune.0301.sfo.prisliste
= …``), kept as they are in ``kjoering.json`` and on the console. The report turns them into
items for the office: one item per kind, in plain language, with «Gjør dette» and, where there
are many, the details in a table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

UNVERIFIED = re.compile(
    r"^Ikke verifisert verdi brukt: (?P<path>\S+) = (?P<verdi>.*?) "
    r"fra (?P<fra>\d{4}-\d{2}-\d{2}) \(kilde: (?P<kilde>.*)\)$",
    re.S,
)
INCOME_LIST = re.compile(r"^Inntektslisten for inntektsår (?P<aar>\d{4}) er ikke verifisert \((?P<kilde>.*)\)$", re.S)
UNKNOWN_ITEMS = re.compile(r"^Ukjente inntektsposter i skattegrunnlaget \(ikke talt med\): (?P<poster>.*)$", re.S)
NO_INVOICE_CODES = re.compile(r"^Kommune (?P<k>\d{4}) har ingen faktura\.(?P<t>\w+) ")

RULES_KEEPER = "den som forvalter regelsettet (mappen rules/)"


@dataclass
class Punkt:
    """One item: a heading, what it means, what to do, and optional detail rows (label, value, from, source)."""

    tittel: str
    tekst: str
    gjoer: str
    detaljer: list[tuple[str, str, str, str]] = field(default_factory=list)
    alvor: str = "advarsel"  # advarsel (check before use) or oppgave (cases to handle)


def punkter(
    warnings: list[str],
    notices: list[str] = (),
    *,
    rejected_rows: int = 0,
    manual_children: int = 0,
    manual_households: int = 0,
    describe: Callable[[str], str] | None = None,
) -> list[Punkt]:
    """The open cases first (rejected rows, manual cases), then the warnings, grouped by kind."""
    out: list[Punkt] = []
    if rejected_rows:
        out.append(
            Punkt(
                f"{rejected_rows} rader i innskrivingsfilen er avvist",
                "Barna på disse radene har ikke fått noe vedtak og er ikke med i fakturagrunnlaget.",
                "Rett opplysningene i fagsystemet (se «Avviste rader» nedenfor eller avvist.csv: rad, kolonne og "
                "årsak), lag innskrivingsfilen på nytt og kjør igjen.",
                alvor="oppgave",
            )
        )
    if manual_children:
        out.append(
            Punkt(
                f"{manual_children} barn i {manual_households} husholdninger venter på saksbehandler",
                "Inntekten kunne ikke fastsettes automatisk (se grunnen for hvert barn under «Til manuell behandling»). "
                "Til saken er behandlet, står et foreløpig beløp i fakturagrunnlaget (med søskenmoderasjon og andre reduksjoner som ikke avhenger av inntekten), merket som foreløpig.",
                "Behandle sakene, f.eks. med dokumentert inntekt i kolonnen dokumentert_inntekt, og kjør på nytt.",
                alvor="oppgave",
            )
        )
    values: list[tuple[str, str, str, str]] = []
    codes: list[tuple[str, str, str, str]] = []
    for w in warnings:
        m = UNVERIFIED.match(w)
        if m:
            name = describe(m["path"]) if describe else ""
            row = (m["path"] + (f" ({name})" if name else ""), m["verdi"], m["fra"], m["kilde"])
            (codes if ".faktura." in m["path"] else values).append(row)
            continue
        m = INCOME_LIST.match(w)
        if m:
            out.append(
                Punkt(
                    f"Listen over inntektsposter for inntektsår {m['aar']} er ikke kontrollert",
                    "Hvilke poster i skattegrunnlaget som regnes som inntekt, står i en liste per inntektsår. Listen for "
                    f"{m['aar']} er ikke sammenlignet post for post med Skatteetatens dokumentasjon ({m['kilde']}).",
                    f"Be {RULES_KEEPER} kontrollere rules/inntekt/{m['aar']}.yaml og sette verifisert: true. Til det er "
                    "gjort, bør inntektene kontrolleres ved stikkprøver.",
                )
            )
            continue
        m = UNKNOWN_ITEMS.match(w)
        if m:
            out.append(
                Punkt(
                    "Skattegrunnlaget har poster som fee-engine ikke kjenner",
                    f"Postene {m['poster']} er ikke regnet med i inntekten. Etter kommunens innstilling "
                    "(inntekt.ukjent_post) er husholdningene med slike poster satt til manuell behandling eller bare "
                    "varslet.",
                    f"Saksbehandler ser på sakene under «Til manuell behandling». Meld postene til {RULES_KEEPER}, så de "
                    "kan klassifiseres i inntektslisten.",
                )
            )
            continue
        m = NO_INVOICE_CODES.match(w)
        if m:
            out.append(
                Punkt(
                    f"Fakturagrunnlaget mangler artikkel og kontering for {m['t']} i kommune {m['k']}",
                    "Linjene i fakturagrunnlaget har tomme felt for artikkel, ansvar, tjeneste og art.",
                    f"Legg inn faktura.{m['t']} i kommunefilen for {m['k']} (se docs/kommunefil.md) og kjør på nytt "
                    "før fakturagrunnlaget sendes til økonomisystemet.",
                )
            )
            continue
        out.append(Punkt("Advarsel", w, "Les meldingen; er den uklar, kontakt den som drifter fee-engine."))
    if values:
        out.append(
            Punkt(
                "1 verdi i regelsettet er ikke bekreftet"
                if len(values) == 1
                else f"{len(values)} verdier i regelsettet er ikke bekreftet",
                "Beregningen bruker verdier som ikke er kontrollert mot kilden (forskrift, Stortingets budsjettvedtak "
                "eller kommunens eget vedtak). Er en verdi feil, blir beløpene som bygger på den feil.",
                f"Be {RULES_KEEPER} kontrollere hver verdi mot kilden og sette verifisert: true (kommunens egne verdier "
                "står i rules/kommuner/NNNN.yaml). Kjør så på nytt; advarselen forsvinner når alt er bekreftet.",
                sorted(values),
            )
        )
    if codes:
        out.append(
            Punkt(
                "Artikkel og kontering i fakturagrunnlaget er eksempler",
                "Artikkelkodene og konteringen (ansvar, tjeneste/funksjon, art) i fakturagrunnlaget er ikke bekreftet "
                "av kommunen.",
                "Legg inn kommunens egne koder fra økonomisystemet i kommunefilen (faktura.barnehage, faktura.sfo og "
                "eventuelt faktura.enheter), sett verifisert: true og kjør på nytt før fakturagrunnlaget brukes.",
                sorted(codes),
            )
        )
    for note in notices:
        out.append(Punkt("Merk", note, notice_action(note)))
    return out


# What to do about each kind of notice, by a phrase its text always has; any other notice: read it and check.
NOTICE_ACTIONS = (
    ("Windows-1252", "Kontroller at navn med æ, ø og å ser riktige ut i resultatene."),
    (
        "ser ut som fødselsnumre",
        "Bruk interne id-er i barn_id og husholdning_id (for eksempel elevnummer eller et løpenummer), lag "
        "innskrivingsfilen på nytt og kjør igjen.",
    ),
    (
        "der soekt_redusert er nei",
        "Kontroller radene: har husholdningen søkt om redusert betaling, sett soekt_redusert til ja og kjør igjen; "
        "har den ikke søkt, kan dokumentert_inntekt tas bort.",
    ),
    (
        "samme navn som en kolonne fee-engine lager selv",
        "Ingenting må gjøres for beløpene. Vil du ha kolonnen med sitt eget navn i utdataene, gi den et annet navn i "
        "innskrivingsfilen og kjør igjen.",
    ),
)


def notice_action(note: str) -> str:
    """«Gjør dette» for a notice about how the enrollment file was read or filled in."""
    for phrase, action in NOTICE_ACTIONS:
        if phrase in note:
            return action
    return "Les merknaden og kontroller radene den gjelder før resultatene brukes."
