"""The steps declare their output columns in one place; everything that shows the columns takes them from there."""

from fee_engine import forklaring, kalkulator
from fee_engine.beregning import AMOUNT_COLUMNS
from fee_engine.steg import REKKEFOLGE, STEGKOLONNER


def test_every_step_column_is_an_output_column_and_every_output_column_is_a_steps():
    declared = {c for s in REKKEFOLGE for c in (s.utkolonne, s.etterkolonne) if c}
    assert declared | {"ordinaer_pris"} == set(STEGKOLONNER)
    assert len(STEGKOLONNER) == len(set(STEGKOLONNER))


def test_the_outputs_show_the_step_columns_in_one_order():
    monthly = [c for c in forklaring.MONTHLY_COLUMNS if c in STEGKOLONNER]
    assert monthly == list(STEGKOLONNER) == kalkulator.AMOUNT_FIELDS == AMOUNT_COLUMNS[:-1]
    # the order of maanedlig.csv: the price, then the steps as the amount passes through them
    assert monthly.index("saerskilte_behov_fritak") < monthly.index("inntektsreduksjon") < monthly.index("gratis_timer")
