"""Identifier checks (GB 11643-1999 resident IDs, GB 32100-2015 credit codes, GB/T 2260
division codes) and the key a party identifier is compared and stored under.

Each case here was accepted before the checks looked past the check character: a date
that does not exist, a province that does not, digits of another script.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from hub.identity import (
    credit_code_check_char,
    credit_code_problem,
    division_code_problem,
    identifier_key,
    is_valid_credit_code,
    is_valid_division_code,
    is_valid_resident_id,
    resident_id_check_char,
    resident_id_problem,
)
from hub.models import CHINA_TZ

#: The example of GB 11643-1999 itself (check character X).
STANDARD_EXAMPLE = "11010519491231002X"


def _id(first17: str) -> str:
    return first17 + resident_id_check_char(first17)


def _code(first17: str) -> str:
    return first17 + credit_code_check_char(first17)


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


@pytest.mark.parametrize(("number", "problem"), [
    (_id("11010519990229001"), "birth date 19990229 is not a date"),  # 1999: no 29 Feb
    (_id("11010519990230001"), "birth date 19990230 is not a date"),
    (_id("11010519991301001"), "birth date 19991301 is not a date"),
    (_id("11010519990100001"), "birth date 19990100 is not a date"),
    (_id("11010520990101001"), "birth date 20990101 is after today"),
    (_id("11010517990101001"), "birth date 17990101 is before 1900"),
    (_id("00000019800101001"), "address code 000000 has no province 00"),
    (_id("99010519800101001"), "address code 990105 has no province 99"),
    (_full_width("11010519491231002") + "X", "digits other than ASCII 0-9"),
    ("".join(chr(0x660 + int(c)) for c in "11010519491231002") + "X",
     "digits other than ASCII 0-9"),
    (STANDARD_EXAMPLE + "\n", "19 characters, not 18"),
    ("11010519491231002Y", "check character 0-9 or X"),
    ("110105194912310021", "check character 1 does not match, GB 11643-1999 gives X"),
])
def test_a_resident_id_that_is_no_gb_11643_number_is_refused_with_its_fault(
        number: str, problem: str) -> None:
    assert is_valid_resident_id(number) is False
    found = resident_id_problem(number)
    assert found is not None and problem in found


@pytest.mark.parametrize("number", [
    STANDARD_EXAMPLE, STANDARD_EXAMPLE.lower(), _id("11010519000101001"),
    _id("11010520000229001"),  # 2000 is a leap year
    _id("83000019900101001"),  # a Taiwan resident's residence permit, numbered as an ID
    _id("71000019900101001"), _id("82000019900101001"),
])
def test_resident_ids_of_the_standard_are_accepted(number: str) -> None:
    assert resident_id_problem(number) is None
    assert is_valid_resident_id(number) is True


def test_a_birth_date_of_today_is_accepted_and_tomorrow_is_refused() -> None:
    today = datetime.now(CHINA_TZ).date()
    born_today = _id(f"110105{today:%Y%m%d}001")
    born_tomorrow = _id(f"110105{today + timedelta(days=1):%Y%m%d}001")
    assert is_valid_resident_id(born_today)
    assert not is_valid_resident_id(born_tomorrow)
    assert "is after today" in (resident_id_problem(born_tomorrow) or "")


@pytest.mark.parametrize(("code", "allow_placeholder", "problem"), [
    (_code("91ABCDEFMA01ABCD1"), False, "division code part ABCDEF"),
    (_code("00000000000000001"), False, "registration department code 0"),
    (_code("0111010800000001X"), True, "registration department code 0"),
    (_code("91110108MA01ABCD1") + "\n", False, "19 characters, not 18"),
    ("91110108MA01ABCD1I", False, "a character outside"),
    ("00000000000000000X", False, "registration department code 0"),
])
def test_a_credit_code_off_the_gb_32100_layout_is_refused_with_its_fault(
        code: str, allow_placeholder: bool, problem: str) -> None:
    assert is_valid_credit_code(code, allow_placeholder=allow_placeholder) is False
    found = credit_code_problem(code, allow_placeholder=allow_placeholder)
    assert found is not None and problem in found


def test_the_sole_trader_placeholder_is_still_accepted_where_the_format_allows_it() -> None:
    # 双公示: a sole trader without a credit code files 17 zeros and X; a leading 0 is
    # refused everywhere else.
    assert is_valid_credit_code("00000000000000000X", allow_placeholder=True)
    assert is_valid_credit_code("00000000000000000x", allow_placeholder=True)
    assert not is_valid_credit_code("00000000000000000X")
    # the placeholder itself, not any code of registration department 0
    assert not is_valid_credit_code(_code("00000000000000001"), allow_placeholder=True)
    real = _code("91110108MA01ABCD1")
    assert is_valid_credit_code(real) and is_valid_credit_code(real.lower())
    assert is_valid_credit_code(_code("11100000000013127"))  # a central organ: 100000


@pytest.mark.parametrize(("code", "problem"), [
    ("990000", "no province 99"), ("100000", "no province 10"), ("000001", "no province 00"),
    ("１１０１０５", "not 6 ASCII digits"), ("٤٢٩٩٠١", "not 6 ASCII digits"),
    ("110105\n", "not 6 ASCII digits"), ("11010a", "not 6 ASCII digits"),
])
def test_a_division_code_needs_ascii_digits_and_a_province_that_exists(
        code: str, problem: str) -> None:
    assert is_valid_division_code(code) is False
    assert problem in (division_code_problem(code) or "")


@pytest.mark.parametrize("code", ["110105", "429901", "710000", "810000", "820000",
                                  "460100", "500101", "540102", "650102"])
def test_division_codes_of_provinces_are_accepted_in_ascii_digits_only(code: str) -> None:
    assert is_valid_division_code(code)
    # the same code typed in full-width digits was stored as typed and routed nowhere
    assert not is_valid_division_code(_full_width(code))


@pytest.mark.parametrize("spelling", [
    STANDARD_EXAMPLE.lower(), _full_width(STANDARD_EXAMPLE), f" {STANDARD_EXAMPLE}\u3000",
    "110105 19491231 002x",
])
def test_every_spelling_of_one_id_number_gives_one_key(spelling: str) -> None:
    assert identifier_key(spelling) == STANDARD_EXAMPLE


def test_a_well_formed_identifier_is_its_own_key() -> None:
    # Keys already stored (history, match index, the view) stay valid.
    for value in (STANDARD_EXAMPLE, _code("91110108MA01ABCD1"), "00000000000000000X"):
        assert identifier_key(value) == value
