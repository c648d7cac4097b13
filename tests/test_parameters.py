import datetime as dt
import shutil

import pytest

from fee_engine.beregning import month_table
from fee_engine.errors import RuleSetError
from fee_engine.regelsett import load_rules


@pytest.fixture
def rules_copy(root, tmp_path):
    target = tmp_path / "rules"
    shutil.copytree(root / "rules", target)
    return target


def test_bundled_rules_load_and_give_values_by_date():
    r = load_rules()
    assert r.value("barnehage.maksimalpris.generell", dt.date(2024, 7, 31)).verdi == 3000
    assert r.value("barnehage.maksimalpris.generell", dt.date(2024, 8, 1)).verdi == 2000
    assert r.value("kommune.4641.sone", dt.date(2024, 8, 1)).verdi == "sentralitet_5_6"
    assert r.value("barnehage.maksimalpris.generell", dt.date(2025, 8, 1)).verifisert is False


def test_every_value_has_source_and_flag():
    r = load_rules()
    params = list(r.national.values()) + [p for m in r.municipalities.values() for p in m.parametere.values()]
    for p in params:
        assert p.hjemmel
        for v in p.verdier:
            assert v.kilde and isinstance(v.verifisert, bool)


def test_month_before_first_value_is_an_error():
    r = load_rules()
    with pytest.raises(RuleSetError, match="ingen verdi gjelder 2017-12-01"):
        r.value("barnehage.maksimalpris.generell", dt.date(2017, 12, 1))


def test_month_after_rule_set_is_an_error():
    r = load_rules()
    with pytest.raises(RuleSetError, match="gjelder til 2027-07-31"):
        r.value("barnehage.maksimalpris.generell", dt.date(2027, 8, 1))


def test_unknown_key_is_an_error(rules_copy):
    f = rules_copy / "barnehage" / "redusert_betaling.yaml"
    f.write_text(f.read_text().replace("enhet: prosent", "enhet: prosent\n  ukjent_nokkel: 1"))
    with pytest.raises(RuleSetError, match="ukjent_nokkel"):
        load_rules(rules_copy)


def test_unknown_parameter_names_the_nearest(rules_copy):
    f = rules_copy / "barnehage" / "maksimalpris.yaml"
    f.write_text(f.read_text().replace("barnehage.maksimalpris.generell:", "barnehage.maksimalpris.generel:"))
    with pytest.raises(RuleSetError, match="Mente du: barnehage.maksimalpris.generell"):
        load_rules(rules_copy)


def test_two_values_on_one_date_is_an_error(rules_copy):
    f = rules_copy / "barnehage" / "maksimalpris.yaml"
    text = f.read_text().replace("gjelder_fra: 2019-01-01, verdi: 2990", "gjelder_fra: 2018-01-01, verdi: 2990", 1)
    f.write_text(text)
    with pytest.raises(RuleSetError, match="samme dato: 2018-01-01"):
        load_rules(rules_copy)


def test_wrong_type_is_an_error(rules_copy):
    f = rules_copy / "kommuner" / "0301.yaml"
    f.write_text(f.read_text().replace("verdi: generell", "verdi: sentrum"))
    with pytest.raises(RuleSetError, match="kommune.0301.sone"):
        load_rules(rules_copy)


def test_missing_municipal_parameter_is_an_error(rules_copy):
    f = rules_copy / "kommuner" / "0301.yaml"
    text = f.read_text()
    start = text.index("  inntekt.ukjent_post:")
    f.write_text(text[:start])
    with pytest.raises(RuleSetError, match="mangler parametere: inntekt.ukjent_post"):
        load_rules(rules_copy)


def test_income_lists_follow_their_base_year():
    r = load_rules()
    y24, y25 = r.income_classification(2024), r.income_classification(2025)
    assert "annenPensjonFoerAlderspensjon" in y24 and "annenPensjonFoerAlderspensjon" not in y25
    assert y25["ungdomsprogramytelse"] == "personinntekt"
    assert r.income_classification(2023)["samletPensjonFraFolketrygden"] == "personinntekt"
    assert y24["skjermingsfradrag"].startswith("utelatt")


def test_unverified_values_are_reported_by_month_table():
    r = load_rules()
    _, _, unverified = month_table(r, [dt.date(2025, 9, 1)], ["0301"], ("barnehage",))
    paths = [p for p, _ in unverified]
    assert "barnehage.maksimalpris.generell" in paths
    assert "barnehage.gratis_kjernetid.inntektsgrense" in paths


def test_an_unverified_maalform_warns_but_leaves_the_amounts_final():
    # Aurland's målform is marked verifisert: false; it changes the words, never an amount
    r = load_rules()
    assert not r.value("kommune.4641.maalform", dt.date(2024, 9, 1)).verifisert
    table, _, unverified = month_table(r, [dt.date(2024, 9, 1)], ["4641"], ("barnehage",))
    assert "kommune.4641.maalform" in [p for p, _ in unverified]  # still a warning in the run
    assert "maalform" not in table.loc[0, "uverifisert_barnehage"]
    assert "maalform" not in table.loc[0, "uverifisert_sfo"]
