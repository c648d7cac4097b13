"""The calculator page's words in bokmål and nynorsk (the municipality's målform decides)."""

from __future__ import annotations

KALKULATOR = {
    "bokmål": {
        "tittel": "Kalkulator for foreldrebetaling",
        "ingress": "Skriv inn husholdningen og barna, så regner kommunens beregningsmotor ut hva dere skal betale "
                   "i måneden, med hele forklaringen som står i vedtaket.",
        "rett_opp": "Noe må rettes",
        "husholdning": "Husholdningen", "kommune": "Kommune", "maaned": "Måned",
        "inntekt": "Inntekt", "soekt": "Vi søker om redusert foreldrebetaling (inntektsgradert pris)",
        "per_voksen": "Inntekt per voksen", "samlet": "Husholdningens samlede inntekt",
        "soeker": "Søker, kroner i året", "partner": "Ektefelle/samboer, kroner i året",
        "husholdningens": "Samlet inntekt, kroner i året",
        "inntekt_hjelp": "Personinntekt og kapitalinntekt før skatt og fradrag, slik de står i skatteoppgjøret. "
                         "Uten inntekt regnes det som om dere ikke har søkt, og dere får ordinær pris.",
        "barn": "Barn", "tilbud": "Tilbud", "ingen": "Ikke med", "barnehage": "barnehage", "sfo": "SFO",
        "fodt": "Fødselsdato (barnehage)", "plass": "Plass i barnehagen, prosent", "trinn": "Trinn (SFO)",
        "timer": "Timer i uka (SFO)", "pris": "Egen pris for en hel plass, kroner (valgfritt)",
        "saerskilte": "Særskilte behov (SFO, 5.–7. trinn)",
        "beregn": "Beregn", "flere": "Legg til et barn",
        "personvern": "Ingen fødselsnummer trengs, og ingenting av det du skriver, blir lagret.",
        "resultat": "Å betale for", "i_maaneden": "i måneden", "stegene": "Stegene i utregningen",
        "steg": "Steg", "for": "Før", "etter": "Etter", "hjemmel": "Hjemmel", "sum": "Til sammen i måneden",
        "advarsler": "Verdier i regelsettet som ikke er verifisert",
        "uten_inntekt": "Dere har ikke oppgitt inntekt, så beløpet er regnet som om dere ikke har søkt om "
                        "redusert foreldrebetaling.",
        "ingen_barn": "Velg barnehage eller SFO for minst ett barn.",
        "som_vedtaket": "Forklaringen er den samme som i et vedtak der inntekten er dokumentert. I vedtaket henter "
                        "kommunen inntekten fra skatteoppgjøret, om dere ikke dokumenterer den selv.",
    },
    "nynorsk": {
        "tittel": "Kalkulator for foreldrebetaling",
        "ingress": "Skriv inn hushaldet og borna, så reknar utrekningsmotoren til kommunen ut kva de skal betale "
                   "i månaden, med heile forklaringa som står i vedtaket.",
        "rett_opp": "Noko må rettast",
        "husholdning": "Hushaldet", "kommune": "Kommune", "maaned": "Månad",
        "inntekt": "Inntekt", "soekt": "Vi søkjer om redusert foreldrebetaling (inntektsgradert pris)",
        "per_voksen": "Inntekt per vaksen", "samlet": "Samla inntekt i hushaldet",
        "soeker": "Søkjar, kroner i året", "partner": "Ektefelle/sambuar, kroner i året",
        "husholdningens": "Samla inntekt, kroner i året",
        "inntekt_hjelp": "Personinntekt og kapitalinntekt før skatt og frådrag, slik dei står i skatteoppgjeret. "
                         "Utan inntekt blir det rekna som om de ikkje har søkt, og de får ordinær pris.",
        "barn": "Barn", "tilbud": "Tilbod", "ingen": "Ikkje med", "barnehage": "barnehage", "sfo": "SFO",
        "fodt": "Fødselsdato (barnehage)", "plass": "Plass i barnehagen, prosent", "trinn": "Trinn (SFO)",
        "timer": "Timar i veka (SFO)", "pris": "Eigen pris for ein heil plass, kroner (valfritt)",
        "saerskilte": "Særskilde behov (SFO, 5.–7. trinn)",
        "beregn": "Rekn ut", "flere": "Legg til eit barn",
        "personvern": "Ingen fødselsnummer trengst, og ingenting av det du skriv, blir lagra.",
        "resultat": "Å betale for", "i_maaneden": "i månaden", "stegene": "Stega i utrekninga",
        "steg": "Steg", "for": "Før", "etter": "Etter", "hjemmel": "Heimel", "sum": "Til saman i månaden",
        "advarsler": "Verdiar i regelsettet som ikkje er verifiserte",
        "uten_inntekt": "De har ikkje oppgitt inntekt, så beløpet er rekna som om de ikkje har søkt om "
                        "redusert foreldrebetaling.",
        "ingen_barn": "Vel barnehage eller SFO for minst eitt barn.",
        "som_vedtaket": "Forklaringa er den same som i eit vedtak der inntekta er dokumentert. I vedtaket hentar "
                        "kommunen inntekta frå skatteoppgjeret, om de ikkje dokumenterer henne sjølve.",
    },
}

# The enrollment column a calculator error names -> the page's label key.
FIELD_LABELS = {
    "barn_fodselsdato": "fodt", "plass_prosent": "plass", "trinn": "trinn", "timer_per_uke": "timer",
    "pris_maaned": "pris", "tilbud": "tilbud", "kommunenummer": "kommune", "saerskilte_behov": "saerskilte",
}
