import datetime as dt

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fee_engine.identity import make_synthetic, mask, mask_digits_in_text, mask_ids

from .fnr_oracle import FnrError, birth_date, is_synthetic, validate_fnr

# Published examples from Skatteetaten's documentation (synthetic, month + 80)
PUBLISHED = ["21839199217", "09819899123", "03870349520"]


@pytest.mark.parametrize("number", PUBLISHED)
def test_published_synthetic_numbers_validate(number):
    assert validate_fnr(number) == number
    assert is_synthetic(number)


def test_birth_date_of_synthetic_and_d_number():
    assert birth_date("21839199217") == dt.date(1991, 3, 21)
    d = make_synthetic(dt.date(2021, 3, 10), 5)
    assert birth_date(d) == dt.date(2021, 3, 10)


@pytest.mark.parametrize("serial", range(0, 400, 37))
def test_made_numbers_validate(serial):
    n = make_synthetic(dt.date(1985, 12, 31), serial)
    assert validate_fnr(n) == n


def test_checksum_error_names_no_digits():
    good = "21839199217"
    bad = good[:10] + str((int(good[10]) + 1) % 10)
    with pytest.raises(FnrError) as err:
        validate_fnr(bad)
    assert "mod 11" in str(err.value)
    assert good[:9] not in str(err.value)


@pytest.mark.parametrize("value,reason", [("", "mangler"), ("1234567890", "11 sifre"), ("2183919921x", "sifre")])
def test_other_errors(value, reason):
    with pytest.raises(FnrError, match=reason):
        validate_fnr(value)


def test_masking():
    assert mask("21839199217") == "218391*****"
    text = mask_digits_in_text("person 21839199217 ikke funnet, rad 12")
    assert "21839199217" not in text and "218391*****" in text and "rad 12" in text


@pytest.mark.parametrize("written", ["218391 99217", "218391.99217", "218391-99217"])
def test_a_number_written_with_a_separator_is_masked_too(written):
    # the enrollment reader accepts these forms, so an error or log line may carry them
    text = mask_digits_in_text(f"rad 4: {written} ikke funnet")
    assert "99217" not in text and text.startswith("rad 4: 218391")
    masked = mask_ids(pd.Series([f"Foresatt {written} har ikke svar", "konto 1234 56 78903"]))
    assert "99217" not in masked[0]
    assert masked[1] == "konto 1234 56 78903"  # not a fødselsnummer: left as written


def test_vectorised_check_agrees_with_the_scalar_one():
    """enrollment.fnr_problems (numpy, used on whole files) and validate_fnr (stdnum check digits) must agree."""
    import random

    import pandas as pd

    from fee_engine.identity import fnr_problems

    rng = random.Random(5)
    values = [
        make_synthetic(dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(25000)), rng.randrange(900))
        for _ in range(300)
    ]
    values += ["".join(rng.choice("0123456789") for _ in range(11)) for _ in range(700)]  # mostly invalid
    values += ["01019912345", "31029912345", "41019954321", "0101991234", "0101991234x", ""]
    values += _valid_check_digits_any_date()  # the date rule decides: 29 February, day 31 of a short month, …
    codes = fnr_problems(pd.Series(values, dtype=object))
    for value, code in zip(values, codes):
        try:
            validate_fnr(value)
            scalar_ok = True
        except FnrError:
            scalar_ok = False
        assert (code == "") == scalar_ok, (value, code)


def _valid_check_digits_any_date() -> list[str]:
    """Numbers whose mod-11 check digits are right, with every kind of day and month (D-numbers, synthetic
    months, day 0, 29 February in leap and other years, day 31 of April, month 13) and each century rule."""
    w1, w2 = [3, 7, 6, 1, 8, 9, 4, 5, 2], [5, 4, 3, 2, 7, 6, 5, 4, 3, 2]
    out = []
    for dd in (0, 1, 28, 29, 30, 31, 32, 41, 69, 70, 71, 72):
        for mm in (0, 1, 2, 4, 12, 13, 41, 42, 44, 52, 53, 81, 82, 84, 92, 93):
            for yy in (0, 4, 23, 54, 99):
                for individ in (10, 499, 510, 760, 910):
                    nine = [int(c) for c in f"{dd:02d}{mm:02d}{yy:02d}{individ:03d}"]
                    k1 = (11 - sum(a * b for a, b in zip(w1, nine)) % 11) % 11
                    k2 = (11 - sum(a * b for a, b in zip(w2, nine + [k1])) % 11) % 11
                    if k1 < 10 and k2 < 10:
                        out.append("".join(map(str, nine)) + f"{k1}{k2}")
    return out


_WRITTEN = st.one_of(
    st.builds(  # a valid synthetic number, as written or with a separator after the birth date
        lambda d, i, sep: (lambda n: n[:6] + sep + n[6:])(make_synthetic(d, i)),
        st.dates(dt.date(1900, 1, 1), dt.date(2039, 12, 31)),
        st.integers(0, 999),
        st.sampled_from(["", "", " ", ".", "-"]),
    ),
    st.text(alphabet="0123456789", min_size=10, max_size=12),  # mostly wrong check digits or length
    st.sampled_from(["", " ", "0101991234x", "01 01 99 12345", "x"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_WRITTEN, min_size=1, max_size=30))
def test_each_number_gets_the_code_it_gets_alone_whatever_else_the_column_holds(values):
    """fnr_problems checks the numbers written as eleven plain digits apart from the others (separators, empty
    cells): a number's code must not depend on what else the column holds."""
    from fee_engine.identity import fnr_problems

    together = fnr_problems(pd.Series(values, dtype=object)).tolist()
    alone = [fnr_problems(pd.Series([v], dtype=object)).iloc[0] for v in values]
    assert together == alone
    for v, code in zip(values, together):  # and the plain digits agree with the scalar check
        if len(v) == 11 and v.isdigit():
            try:
                validate_fnr(v)
                assert code == ""
            except FnrError:
                assert code != ""
