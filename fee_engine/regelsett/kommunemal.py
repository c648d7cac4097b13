"""A new municipality's settings file (``fee-engine kommune init``), from fee-engine's national defaults.

Every municipal setting the steps declare (:func:`fee_engine.steg.parameter_types`) gets a value:
what the command was told (name, zone, målform) is marked verified, with the municipality as its
source; everything else is fee-engine's default or a placeholder that the municipality must
replace, marked ``verifisert: false`` so that every run warns until someone has checked it.
The file is checked by loading it before it is written.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, RuleSetError
from .lasting import load_municipality, schema

FROM = dt.date(2015, 1, 1)
ELEVEN_MONTHS = [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12]
ZONES = ("generell", "sentralitet_5_6", "tiltakssone")
MAALFORMER = ("bokmål", "nynorsk")


@dataclass(frozen=True)
class Mal:
    beskrivelse: str
    hjemmel: str
    verdi: Any
    kilde: str
    merknad: str | None = None


DEFAULT = "Nasjonal standard i fee-engine"
PLACEHOLDER = "Plassholder fra fee-engine kommune init"

# Every municipal setting, in the order a municipal file lists them.
MAL: dict[str, Mal] = {
    "maalform": Mal(
        "Målform i brev og forklaringer til foreldre (bokmål eller nynorsk)",
        "Lov om språk (språklova); kommunens målvedtak",
        "bokmål",
        DEFAULT,
        "Kommunen må bekrefte målformen etter sitt målvedtak",
    ),
    "sone": Mal(
        "Sone for maksimalpris i barnehage",
        "Stortingets budsjettvedtak (sentralitetsklasse / tiltakssone)",
        "generell",
        DEFAULT,
        "Kontroller mot SSBs sentralitetsklasse (5–6) og tiltakssonen i Finnmark og Nord-Troms",
    ),
    "barnehage.fakturerte_maaneder": Mal(
        "Måneder det betales for i barnehagen (juli er betalingsfri)",
        "Forskrift om foreldrebetaling i barnehager § 1, merknader (11 betalingsterminer)",
        ELEVEN_MONTHS,
        DEFAULT,
        "11 terminer med juli fri er vanlig; kommunen må bekrefte sine terminer",
    ),
    "barnehage.deltid_pristak": Mal(
        "Tak for pris på deltidsplass: forholdsmessig (maksimalpris × plassprosent) eller maksimalpris",
        "Forskrift om foreldrebetaling i barnehager § 2",
        "forholdsmessig",
        DEFAULT,
    ),
    "barnehage.soeskenmoderasjon": Mal(
        "Kommunal søskenmoderasjon i prosent ut over nasjonalt minimum (null = nasjonalt minimum)",
        "Forskrift om foreldrebetaling i barnehager § 3a («minimum»)",
        None,
        DEFAULT,
        "Bare nasjonalt minimum; gir kommunen mer, må satsene legges inn",
    ),
    "sfo.fakturerte_maaneder": Mal(
        "Måneder det betales for i SFO/AKS",
        "Kommunal forskrift om SFO (opplæringslova § 4-5)",
        ELEVEN_MONTHS,
        PLACEHOLDER,
        "Kommunen bestemmer terminene i SFO",
    ),
    "sfo.prisliste": Mal(
        "Månedspris i SFO/AKS etter avtalte timer per uke (høyeste trinn der timer_per_uke >= fra_timer)",
        "Kommunal forskrift om SFO (opplæringslova § 4-5)",
        [{"fra_timer": 0, "pris": 0}],
        PLACEHOLDER,
        "PLASSHOLDER: 0 kr. Legg inn kommunens SFO-priser før SFO beregnes",
    ),
    "sfo.soeskenmoderasjon": Mal(
        "Kommunal søskenmoderasjon i SFO i prosent (null = ingen)",
        "Kommunal forskrift om SFO",
        None,
        PLACEHOLDER,
        "Ingen søskenmoderasjon i SFO; kommunen må bekrefte",
    ),
    "sfo.gratis_timer.verdsetting": Mal(
        "Verdien av de gratis timene: andel_av_avtalte_timer (pris × 12 / avtalte timer) eller fast_belop",
        "Forskrift til opplæringslova § 1B-4; kommunal praksis",
        "andel_av_avtalte_timer",
        DEFAULT,
    ),
    "inntekt.ukjent_post": Mal(
        "Hva en ukjent inntektspost i skattegrunnlaget gir: manuell (saksbehandler ser på saken) eller varsle "
        "(kun varsel)",
        "Forskrift om foreldrebetaling i barnehager § 3b (husholdningens samlede inntekter)",
        "manuell",
        DEFAULT,
    ),
    "faktura.barnehage": Mal(
        "Artikkel og kontering (ansvar, tjeneste/funksjon, art) for foreldrebetaling i barnehage i fakturagrunnlaget",
        "Kommunens økonomireglement og kontoplan (KOSTRA)",
        {"artikkel": "ENDRES", "ansvar": "ENDRES", "tjeneste": "201", "art": "ENDRES"},
        PLACEHOLDER,
        "Legg inn artikkel, ansvar og art fra kommunens økonomisystem (KOSTRA-funksjon 201 er barnehage)",
    ),
    "faktura.sfo": Mal(
        "Artikkel og kontering (ansvar, tjeneste/funksjon, art) for foreldrebetaling i SFO/AKS i fakturagrunnlaget",
        "Kommunens økonomireglement og kontoplan (KOSTRA)",
        {"artikkel": "ENDRES", "ansvar": "ENDRES", "tjeneste": "215", "art": "ENDRES"},
        PLACEHOLDER,
        "Legg inn artikkel, ansvar og art fra kommunens økonomisystem (KOSTRA-funksjon 215 er skolefritidstilbud)",
    ),
}


def _yaml_value(v: Any) -> str:
    """A value as YAML flow text (JSON is valid YAML; null for None)."""
    return json.dumps(v, ensure_ascii=False)


def render(nummer: str, navn: str, sone: str, maalform: str | None, today: dt.date | None = None) -> str:
    """The file's text; ``sone`` (and ``maalform`` when given) come from the municipality and are verified."""
    today = today or dt.date.today()
    given = {"sone": sone, **({"maalform": maalform} if maalform else {})}
    lines = [
        f"# {navn}. Kommunefil laget med «fee-engine kommune init» {today.isoformat()}.",
        "# Verdier med verifisert: false er fee-engines standard eller plassholdere: kommunen må kontrollere hver av",
        "# dem mot sine vedtak, rette verdien og sette verifisert: true. Hver kjøring varsler til det er gjort.",
        "# Alle innstillingene er forklart i docs/kommunefil.md.",
        f'kommunenummer: "{nummer}"',
        f"navn: {_yaml_value(navn)}",
        "parametere:",
    ]
    for path, m in MAL.items():
        verdi = given.get(path, m.verdi)
        known = path in given
        kilde = "Oppgitt av kommunen (fee-engine kommune init)" if known else m.kilde
        lines += [
            f"  {path}:",
            f"    beskrivelse: {_yaml_value(m.beskrivelse)}",
            f"    hjemmel: {_yaml_value(m.hjemmel)}",
            "    verdier:",
            f"      - gjelder_fra: {FROM.isoformat()}",
            f"        verdi: {_yaml_value(verdi)}",
            f"        verifisert: {'true' if known else 'false'}",
            f"        kilde: {_yaml_value(kilde)}",
        ]
        if m.merknad and not known:
            lines.append(f"        merknad: {_yaml_value(m.merknad)}")
    return "\n".join(lines) + "\n"


def init(nummer: str, navn: str, sone: str, maalform: str | None, target: Path, force: bool = False) -> Path:
    """Write ``target`` for a new municipality, after checking that it loads; refuses to overwrite unless ``force``."""
    if not (len(nummer) == 4 and nummer.isdigit()):
        raise ConfigurationError(f"kommunenummeret må ha 4 sifre, ikke «{nummer}»")
    if sone not in ZONES:
        raise ConfigurationError(f"ukjent --sone «{sone}» (velg {', '.join(ZONES)})")
    if maalform is not None and maalform not in MAALFORMER:
        raise ConfigurationError(f"ukjent --maalform «{maalform}» (velg {' eller '.join(MAALFORMER)})")
    if not navn.strip():
        raise ConfigurationError("--navn mangler")
    missing = set(schema()[1]) - set(MAL) - set(schema()[2])
    if missing:  # a step declared a setting this template does not know: a bug, caught by the tests
        raise RuleSetError(f"malen for kommunefiler mangler {', '.join(sorted(missing))}")
    if target.exists() and not force:
        raise ConfigurationError(f"{target} finnes allerede (bruk --force for å skrive over)")
    text = render(nummer, navn.strip(), sone, maalform)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".ny")
    tmp.write_text(text, encoding="utf-8")
    try:
        load_municipality(tmp)  # the file must load before it replaces anything
    except RuleSetError:
        tmp.unlink()
        raise
    tmp.replace(target)
    return target


def unverified_count(maalform_given: bool) -> int:
    """How many values of a new file are not verified (all but the zone, and the målform when given)."""
    return len(MAL) - 1 - int(maalform_given)
