"""The OpenAPI description of the calculator API (``GET /api/openapi.json``)."""

from __future__ import annotations

from typing import Any

from ..kalkulator import MAX_BARN
from ..steg import STEGKOLONNER

EXAMPLE_REQUEST: dict[str, Any] = {
    "maaned": "2024-10",
    "barn": [
        {
            "barn_id": "1",
            "husholdning_id": "H",
            "kommunenummer": "0301",
            "tilbud": "barnehage",
            "barn_fodselsdato": "2021-03-10",
            "plass_prosent": 100,
        },
        {
            "barn_id": "2",
            "husholdning_id": "H",
            "kommunenummer": "0301",
            "tilbud": "sfo",
            "trinn": 1,
            "timer_per_uke": 15,
        },
    ],
    "inntekt": {"H": 300000},
}

# (field, required, what), in the words of the enrollment file's columns.
CHILD_FIELDS = [
    ("barn_id", "ja", "barnets id i svaret (ikke fødselsnummer)"),
    ("husholdning_id", "ja", "barn i samme husholdning får søskenmoderasjon; nøkkelen i inntekt"),
    ("kommunenummer", "ja", "fire sifre; kommunen må ha en kommunefil i regelsettet"),
    ("tilbud", "ja", "barnehage eller sfo"),
    ("barn_fodselsdato", "barnehage", "ÅÅÅÅ-MM-DD eller DD.MM.ÅÅÅÅ"),
    ("plass_prosent", "barnehage", "plass i prosent, over 0 og høyst 100"),
    ("trinn", "sfo", "1–7"),
    ("timer_per_uke", "sfo", "avtalte timer i uka, over 0 og høyst 60"),
    ("saerskilte_behov", "nei", "ja/nei (SFO 5.–7. trinn)"),
    ("pris_maaned", "nei", "plassens egen pris i måneden før reduksjoner (for eksempel en privat barnehage), kroner"),
    ("institusjon", "nei", "navnet på barnehagen eller skolen"),
    ("fra_dato", "nei", "plassen begynner (ÅÅÅÅ-MM-DD)"),
    ("til_dato", "nei", "plassen slutter (ÅÅÅÅ-MM-DD)"),
    ("soekt_redusert", "nei", "ja/nei; standard ja når inntekt er oppgitt"),
    ("dokumentert_inntekt", "nei", "husholdningens inntekt i kroner, i stedet for inntekt"),
]

_STRING_OR_NUMBER = {"oneOf": [{"type": "string"}, {"type": "number"}]}


def openapi(version: str, server_url: str | None = None) -> dict[str, Any]:
    child_props: dict[str, Any] = {}
    for name, required, what in CHILD_FIELDS:
        child_props[name] = {**_STRING_OR_NUMBER, "description": f"{what} (påkrevd: {required})"}
    for name in ("saerskilte_behov", "soekt_redusert"):
        child_props[name] = {
            "oneOf": [{"type": "string", "enum": ["ja", "nei", ""]}, {"type": "boolean"}],
            "description": child_props[name]["description"],
        }
    step = {
        "type": "object",
        "properties": {
            "regel": {"type": "string"},
            "hjemmel": {"type": ["string", "null"]},
            "for": {"type": ["integer", "null"], "description": "beløpet før steget, hele kroner"},
            "etter": {"type": "integer", "description": "beløpet etter steget, hele kroner"},
            "verdier": {"type": "object", "description": "parameterverdiene steget brukte"},
        },
    }
    result = {
        "type": "object",
        "required": ["barn_id", "maaned", "belop", "status", "forklaring", "steg"],
        "properties": {
            "barn_id": {"type": "string"},
            "husholdning_id": {"type": "string"},
            "tilbud": {"type": "string"},
            "kommunenummer": {"type": "string"},
            "maaned": {"type": "string", "example": "2024-10"},
            "belop": {"type": "integer", "description": "månedsbeløpet å betale, hele kroner"},
            "status": {"type": "string", "enum": ["ok", "manuell"]},
            "forklaring": {"type": "string", "description": "hele utregningen i ord, på kommunens målform"},
            "steg": {"type": "array", "items": step},
            **{c: {"type": "integer"} for c in STEGKOLONNER},
            "manuell_grunn": {"type": "string"},
            "maalform": {"type": "string", "enum": ["bokmål", "nynorsk"]},
        },
    }
    error = {
        "type": "object",
        "properties": {
            "feil": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "felt": {"type": "string", "example": "barn[0].plass_prosent"},
                        "verdi": {"type": "string"},
                        "aarsak": {"type": "string", "example": "plass_prosent må være større enn 0 og høyst 100"},
                        "aarsak_en": {"type": "string"},
                        "kode": {"type": "string", "example": "plass"},
                    },
                },
            }
        },
    }
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "fee-engine priskalkulator",
            "version": version,
            "description": "Foreldrebetaling i barnehage og SFO for én husholdning og én måned, regnet av den "
            "samme motoren som kommunens vedtak. Ingen fødselsnummer trengs eller lagres.",
        },
        "paths": {
            "/api/beregn": {
                "post": {
                    "summary": "Månedsbeløp per barn, med forklaring og steg",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["maaned", "barn"],
                                    "properties": {
                                        "maaned": {
                                            "type": "string",
                                            "pattern": "^[0-9]{4}-[0-9]{2}$",
                                            "example": "2024-10",
                                        },
                                        "barn": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": MAX_BARN,
                                            "items": {
                                                "type": "object",
                                                "required": ["barn_id", "husholdning_id", "kommunenummer", "tilbud"],
                                                "properties": child_props,
                                            },
                                        },
                                        "inntekt": {
                                            "type": "object",
                                            "description": "husholdningens inntekt i kroner per husholdning_id; "
                                            "en husholdning uten inntekt regnes som at den ikke har søkt redusert betaling",
                                            "additionalProperties": _STRING_OR_NUMBER,
                                        },
                                    },
                                },
                                "example": EXAMPLE_REQUEST,
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "beløpene",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "barn": {"type": "array", "items": result},
                                            "regelsett": {"type": "string"},
                                            "advarsler": {"type": "array", "items": {"type": "string"}},
                                        },
                                    }
                                }
                            },
                        },
                        "400": {"description": "ikke gyldig JSON", "content": {"application/json": {"schema": error}}},
                        "401": {"description": "tilgangsnøkkel mangler (når kalkulatoren ikke er offentlig)"},
                        "413": {"description": "forespørselen er for stor"},
                        "415": {"description": "Content-Type må være application/json"},
                        "422": {
                            "description": "feil i feltene: hvert felt med årsak, som fee-engine validate",
                            "content": {"application/json": {"schema": error}},
                        },
                        "429": {"description": "for mange kall; se Retry-After"},
                    },
                }
            }
        },
    }
    if server_url:
        spec["servers"] = [{"url": server_url}]
    return spec
