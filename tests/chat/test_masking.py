"""Masking of identity numbers, phone numbers and e-mail addresses in stored text. Pure: no
service, no event loop; numbers are generated with their check digits computed here."""

from __future__ import annotations

import time
from datetime import date

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from phonenumbers import Leniency, PhoneNumberMatcher

from chat.masking import EMAIL, ID_NUMBER, PHONE, check_digits, is_identity_number, mask, masker

K1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
K2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def control(digits: str, weights: tuple[int, ...]) -> int:
    """The textbook mod-11 check digit, 10 when there is none (written apart from the module)."""
    rest = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if rest == 11 else rest


@st.composite
def identity_numbers(draw: st.DrawFn, d_number: bool = False) -> str:
    born = draw(st.dates(min_value=date(1854, 1, 1), max_value=date(2039, 12, 31)))
    day = born.day + (40 if d_number else 0)
    individual = draw(st.integers(0, 999))
    first = f"{day:02d}{born.month:02d}{born.year % 100:02d}{individual:03d}"
    k1 = control(first, K1)
    assume(k1 != 10)
    k2 = control(first + str(k1), K2)
    assume(k2 != 10)
    return f"{first}{k1}{k2}"


@st.composite
def bad_identity_numbers(draw: st.DrawFn) -> str:
    """Eleven digits whose check digits are wrong."""
    first = draw(st.text("0123456789", min_size=9, max_size=9))
    checks = draw(st.text("0123456789", min_size=2, max_size=2))
    k1 = control(first, K1)
    assume(k1 == 10 or checks != f"{k1}{control(first + str(k1), K2)}")
    return first + checks


def written(number: str, spaced: bool) -> str:
    return f"{number[:6]} {number[6:]}" if spaced else number


# Words around a number: anything but digits (which would make it part of a longer number),
# ending and starting with a space or punctuation people put next to numbers.
words = st.text(
    st.characters(blacklist_categories=("Nd", "Cs"), blacklist_characters="@+()"), max_size=30
)
prose = st.text(st.characters(whitelist_categories=("L", "Zs")), max_size=30)
before = st.builds(lambda w, e: w + e, words, st.sampled_from([" ", "\n", ": ", "(", "«"]))
after = st.builds(lambda s, w: s + w, st.sampled_from([" ", ".", ",", "\n", ")", "»"]), words)

mobile = st.builds(
    lambda first, rest: f"{first}{rest:07d}", st.sampled_from("49"), st.integers(0, 9999999)
)
norwegian = mobile.filter(
    lambda n: any(True for _ in PhoneNumberMatcher(n, "NO", leniency=Leniency.VALID))
)


@given(identity_numbers(), st.booleans(), before, after)
def test_a_valid_fodselsnummer_is_masked_wherever_it_stands(
    number: str, spaced: bool, left: str, right: str
) -> None:
    # The words around hold no digit and no @: they stay as they are.
    assert mask(left + written(number, spaced) + right) == left + ID_NUMBER + right


@given(identity_numbers(d_number=True), st.booleans(), before, after)
def test_a_valid_d_number_is_masked_too(number: str, spaced: bool, left: str, right: str) -> None:
    assert int(number[:2]) > 40
    assert mask(left + written(number, spaced) + right) == left + ID_NUMBER + right


@given(bad_identity_numbers(), st.booleans(), before, after)
def test_eleven_digits_with_bad_check_digits_are_left_alone(
    number: str, spaced: bool, left: str, right: str
) -> None:
    text = left + written(number, spaced) + right
    assert mask(text) == text


@given(identity_numbers())
def test_the_check_digits_agree_with_the_textbook_rule(number: str) -> None:
    assert check_digits(number[:9]) == number[9:]
    assert is_identity_number(number)


def test_known_numbers_and_edge_cases() -> None:
    # Published synthetic examples and a remainder of 0 (check digit 0).
    assert is_identity_number("15076500565")
    assert is_identity_number("01019000407")  # remainder 0: the first check digit is 0
    assert not is_identity_number("01019000408")
    assert check_digits("010190007") is None  # the first check digit would be 10
    assert mask("01019000704") == "01019000704"
    with pytest.raises(ValueError, match="nine digits"):
        check_digits("12345")
    # Part of a longer run of digits is no identity number, nor is one with two spaces.
    assert mask("115076500565") == "115076500565"
    assert mask("150765  00565") == "150765  00565"
    assert mask("Nr. 150765 00565, takk") == f"Nr. {ID_NUMBER}, takk"


@given(norwegian, before, after, st.sampled_from(["{}", "+47 {}", "+47{}", "0047 {}", "{g}"]))
def test_norwegian_phone_numbers_are_masked(number: str, left: str, right: str, form: str) -> None:
    grouped = f"{number[:3]} {number[3:5]} {number[5:]}"
    text = left + form.format(number, g=grouped) + right
    masked = mask(text)
    assert PHONE in masked
    assert number not in masked and grouped not in masked


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ring meg på 22 33 44 55 i kveld", f"Ring meg på {PHONE} i kveld"),
        ("(+47) 912 34 567", PHONE),
        ("Søster i Sverige: +46 70 123 45 67.", f"Søster i Sverige: {PHONE}."),
        ("Skriv til ola.nordmann@nav.no.", f"Skriv til {EMAIL}."),
        ("åse+jobb@nærbø.kommune.no", EMAIL),
        ("fnr ١٥٠٧٦٥٠٠٥٦٥ og tlf ٩١٢٣٤٥٦٧", f"fnr {ID_NUMBER} og tlf {PHONE}"),
        # Numbers people write that are no phone numbers stay.
        ("Møtet er 30.05.2024 kl. 10-12, rom 2024.", "Møtet er 30.05.2024 kl. 10-12, rom 2024."),
        ("Lønn 450 000 kr, postnr. 0150, orgnr. 974760673", None),
        ("abc91234567", None),
        ("Jeg er 19 år og har 3 års praksis", None),
    ],
)
def test_examples(text: str, expected: str | None) -> None:
    assert mask(text) == (text if expected is None else expected)


emails = st.emails().filter(lambda e: "@" in e)


@given(emails, before, after)
def test_e_mail_addresses_are_masked(address: str, left: str, right: str) -> None:
    masked = mask(left + address + right)
    assert address not in masked
    assert EMAIL in masked


@given(st.text(st.characters(blacklist_categories=("Nd", "Cs"), blacklist_characters="@")))
def test_text_without_digits_or_at_signs_is_unchanged(text: str) -> None:
    assert mask(text) == text


@given(st.text())
def test_masking_is_idempotent(text: str) -> None:
    once = mask(text)
    assert mask(once) == once


@given(
    st.lists(
        st.one_of(
            identity_numbers(), bad_identity_numbers(), norwegian, emails, words, st.just(" ")
        ),
        max_size=8,
    ).map(" ".join)
)
def test_masking_mixed_text_is_idempotent(text: str) -> None:
    once = mask(text)
    assert mask(once) == once


@given(st.text("0123456789 -+()./", min_size=5, max_size=24), before, after)
@example("2100000 0", "", " ")  # a group of one digit: once let through
def test_every_number_the_phone_matcher_finds_is_masked(number: str, left: str, right: str) -> None:
    """The quick paths never let through what phonenumbers' matcher finds in the whole text
    (on odd strings of digits and slashes they may mask a little more)."""
    text = left + number + right
    masked = mask(text)
    for found in PhoneNumberMatcher(text, "NO", leniency=Leniency.VALID):
        inside = found.raw_string
        assert inside not in masked, f"{text!r} masked as {masked!r} keeps {inside!r}"


@given(
    norwegian,
    st.sampled_from(["{}", "{g}", "+47 {g}", "0047{}"]),
    st.builds(lambda w, e: w + e, prose, st.sampled_from([" ", "\n", ": "])),
    st.builds(lambda s, w: s + w, st.sampled_from([" ", ".", ",", "\n"]), prose),
)
def test_the_fast_path_and_the_matcher_agree_on_norwegian_numbers(
    number: str, form: str, left: str, right: str
) -> None:
    """(After a lone bracket the matcher takes no number; the fast path masks it all the same.)"""
    written = form.format(number, g=f"{number[:2]} {number[2:4]} {number[4:6]} {number[6:]}")
    text = left + written + right
    found = [m.raw_string for m in PhoneNumberMatcher(text, "NO", leniency=Leniency.VALID)]
    assert found == [written]
    assert mask(text) == left + PHONE + right


def test_masking_can_be_turned_off() -> None:
    assert masker(False)("ring 91234567") == "ring 91234567"
    assert masker(True)("ring 91234567") == f"ring {PHONE}"


def test_a_long_message_is_masked_in_well_under_a_millisecond() -> None:
    prose = "Jeg lurer på om jeg skal bytte jobb, og hva jeg bør studere nå. " * 70
    message = prose[:3940] + " Ring 91234567, ola@nav.no, 15076500565."
    assert len(message) <= 4000
    mask(message)
    runs = 200
    started = time.perf_counter()
    for _ in range(runs):
        mask(message)
    per_message = (time.perf_counter() - started) / runs
    # Typically 0.1-0.2 ms; the bound leaves room for a machine busy with other tests.
    assert per_message < 0.002, f"{per_message * 1000:.2f} ms per message"
