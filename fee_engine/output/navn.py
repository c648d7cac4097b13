"""Column headers as people read them, in one place: the workbooks and the report use these.

CSV files keep the machine names (``saerskilte_behov_fritak``), which scripts rely on; a
spreadsheet or a page shows «Særskilte behov (fritak)». A column without an entry here (a column
of the enrollment file's own) is shown as it is named.
"""

from __future__ import annotations

OVERSKRIFTER: dict[str, str] = {
    # the child and the place
    "barn_id": "Barn-ID",
    "husholdning_id": "Husholdning-ID",
    "tilbud": "Tilbud",
    "kommunenummer": "Kommunenr.",
    "institusjon": "Enhet",
    "maaned": "Måned",
    "fra_maaned": "Fra måned",
    "til_maaned": "Til måned",
    # the amounts, in the order the steps are taken
    "ordinaer_pris": "Ordinær pris",
    "saerskilte_behov_fritak": "Særskilte behov (fritak)",
    "etter_inntektsgrense": "Etter inntektsgrensen (6 %)",
    "inntektsreduksjon": "Redusert betaling (6 %)",
    "soeskenmoderasjon": "Søskenmoderasjon",
    "gratis_timer": "Gratis timer (kjernetid/SFO)",
    "belop": "Beløp",
    "status": "Status",
    "forklaring_kode": "Forklaringskode",
    "manuell_grunn": "Grunn til manuell behandling",
    # the decision
    "inntektsaar": "Inntektsår",
    "stadie": "Skattegrunnlag",
    "husholdningsinntekt": "Husholdningens inntekt",
    "regelsett": "Regelsett",
    "forklaring": "Forklaring",
    # summaries
    "barn": "Barn",
    "barn_maaneder": "Barn-måneder",
    "manuell": "Til manuell behandling",
    # rejected rows
    "type": "Type",
    "rad": "Rad",
    "kolonne": "Kolonne",
    "verdi": "Verdi",
    "aarsak": "Årsak",
    "kode": "Kode",
    # diff
    "belop_a": "Beløp A",
    "belop_b": "Beløp B",
    "differanse": "Differanse (B − A)",
    "status_a": "Status A",
    "status_b": "Status B",
    "steg": "Endret steg",
    "inntekt_a": "Inntekt A",
    "inntekt_b": "Inntekt B",
    "husholdninger_bedre": "Husholdninger med lavere beløp",
    "husholdninger_verre": "Husholdninger med høyere beløp",
    # the invoicing basis
    "betaler_fnr": "Betalers fødselsnummer",
    "artikkel": "Artikkel",
    "ansvar": "Ansvar",
    "tjeneste": "Tjeneste/funksjon",
    "art": "Art",
    "foreloepig": "Foreløpig",
    "linjer": "Linjer",
    "eier_orgnr": "Eiers org.nr.",
    "reduksjon": "Reduksjon i alt",
}


def overskrift(column: str) -> str:
    """The header for ``column``; a column of the file's own keeps its name."""
    return OVERSKRIFTER.get(column, column)


def overskrifter(columns: list[str]) -> list[str]:
    return [overskrift(c) for c in columns]
