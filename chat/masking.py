"""Masking of what identifies a person in text that is kept: Norwegian national identity numbers
(fødselsnummer and D-numbers), phone numbers and e-mail addresses. Pure: text in, text out.

Only the stored copy of what people write is masked (`mask`); what the other side of a live chat
sees is the text as written. Three passes, in this order, each on the previous one's output:

1. Identity numbers: 11 digits, written together or as `DDMMYY NNNNN` with one space, with no
   digit right before or after, whose two mod-11 check digits are valid. The date part is *not*
   checked: the check digits decide. That masks D-numbers (day + 40), H-numbers (month + 40),
   the tax administration's synthetic numbers (month + 80) and whatever scheme follows without
   a change here; it also masks the odd 11-digit number that is no identity number but happens
   to pass both checks (about 1 in 120). Keeping an identity number would cost more than
   hiding a harmless one.
2. E-mail addresses: `local@domain.tld`, letters of any alphabet allowed.
3. Phone numbers: whatever `phonenumbers` finds valid for region NO (Norwegian numbers written
   without a country code; any country's with `+` or `00`), at `Leniency.VALID`. An
   identity-shaped number (the 11 digits of pass 1) is judged by its check digits alone, never
   taken for a phone number, so 11 digits with bad check digits stay as written.

Placeholders are bracketed English words, the same in every language of the service, with no
digit and no `@` in them, so masking masked text changes nothing.

Speed: the phone matcher costs about 0.1 ms a call, and a third of a millisecond over 4,000
characters even with no number in them, so it runs only on the stretches of text a cheap regex
finds holding enough digits to be a phone number. See docs/privacy.md for measured figures.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache

from phonenumbers import Leniency, PhoneMetadata, PhoneNumberMatcher

ID_NUMBER = "[id-number]"
PHONE = "[phone]"
EMAIL = "[email]"

# The weights of the two check digits (the second covers the first).
_K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def _ranges(codes: Iterable[int]) -> str:
    """A regex character class of the code points, as ranges: digits come in blocks of ten, and
    a class of ranges is searched far faster than one of hundreds of single characters."""
    parts: list[str] = []
    ordered = sorted(codes)
    first = previous = ordered[0]
    for code in [*ordered[1:], -1]:
        if code != previous + 1:
            parts.append(f"{re.escape(chr(first))}-{re.escape(chr(previous))}")
            first = code
        previous = code
    return "[" + "".join(parts) + "]"


# Digits of other scripts (Arabic-Indic, Devanagari, full-width ...) are looked at as their
# ASCII twins: one character for one, so every position stays where it was.
_OTHER_DIGITS = {
    code: str(unicodedata.digit(chr(code)))
    for code in range(128, sys.maxunicode + 1)
    if unicodedata.category(chr(code)) == "Nd"
}
_TO_ASCII_DIGITS = str.maketrans(_OTHER_DIGITS)
_OTHER_DIGIT = re.compile(_ranges(_OTHER_DIGITS))
# The first digit outside ASCII is U+0660: text in Latin, Greek or Cyrillic letters alone (most
# messages) is let through by one quick search of a single range.
_FROM_FIRST_OTHER_DIGIT = re.compile("[\u0660-\U0010ffff]")

# Where a number may be: a run of digits with the separators people type between groups
# (spaces, hyphens, dots, slashes, brackets), after an optional + or opening bracket. Python's
# regex engine skips quickly to a position that can start it, which keeps the scan of a long
# message in tens of microseconds; everything slower runs on these stretches only.
_STRETCH = re.compile(r"[+(0-9][0-9 \t\u00a0\-./()+]*[0-9]")
# Eleven digits, or six and five with one space between, not part of a longer run of digits.
_IDENTITY_SHAPED = re.compile(r"(?<![0-9])([0-9]{6}) ?([0-9]{5})(?![0-9])")
# Groups of a stretch: what stands between spaces.
_GROUP = re.compile(r"[^ \t\u00a0]+")
# No number has more digits than this: 15 (E.164's most) after 00.
_MAX_PHONE_DIGITS = 17
_NOT_DIGIT = re.compile(r"[^0-9]")
# Characters in a group that only the matcher understands.
_UNUSUAL_IN_NUMBERS = frozenset("+()./")
# Fewer digits than this cannot be a valid number in any plan the matcher knows (Norway's
# shortest valid numbers have five digits).
_MIN_PHONE_DIGITS = 5
_REGION = "NO"

# A Norwegian number as most people write it, for the fast path: eight digits in groups split
# by single spaces or hyphens, maybe after +47 or 0047.
_PLAIN_NORWEGIAN = re.compile(r"(?:(?:\+|00)47[ -]?)?([0-9]{2,8}(?:[ -][0-9]{2,8})*)")
# The number types phonenumbers counts as valid in Norway, from its own metadata, so the fast
# path agrees with the matcher (tests/chat/test_masking.py checks that it does).


def _norwegian_valid() -> re.Pattern[str]:
    metadata = PhoneMetadata.metadata_for_region(_REGION)
    if metadata is None:
        raise RuntimeError(f"phonenumbers has no metadata for {_REGION}")
    kinds = (
        metadata.fixed_line,
        metadata.mobile,
        metadata.toll_free,
        metadata.premium_rate,
        metadata.shared_cost,
        metadata.personal_number,
        metadata.voip,
        metadata.uan,
        metadata.voicemail,
    )
    return re.compile(
        "|".join(
            f"(?:{kind.national_number_pattern})"
            for kind in kinds
            if kind is not None
            and kind.national_number_pattern
            and 8 in (kind.possible_length or ())
        )
    )


_NORWEGIAN_VALID = _norwegian_valid()

# The e-mail domain after the `@`: labels of letters (any alphabet), digits and hyphens, the
# last one (the top-level domain, `no` or punycode's `xn--...`) starting with a letter.
_EMAIL_DOMAIN = re.compile(r"(?:[\w-]+\.)+[^\W\d_][\w-]*[^\W_](?![\w-])")
# What a local part may hold besides letters and digits (RFC 5322's atext, and dots).
_EMAIL_LOCAL_PUNCTUATION = frozenset("!#$%&'*+/=?^_`{|}~.-")


def check_digits(first_nine: str) -> str | None:
    """The two check digits of an identity number's first nine digits; None when no valid
    number starts with them (a check digit would be 10)."""
    if len(first_nine) != 9 or not first_nine.isascii() or not first_nine.isdigit():
        raise ValueError(f"expected nine digits, got {first_nine!r}")
    digits = [int(c) for c in first_nine]
    k1 = _check(digits, _K1_WEIGHTS)
    if k1 is None:
        return None
    k2 = _check([*digits, k1], _K2_WEIGHTS)
    if k2 is None:
        return None
    return f"{k1}{k2}"


def _check(digits: list[int], weights: tuple[int, ...]) -> int | None:
    remainder = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
    digit = 0 if remainder == 0 else 11 - remainder
    return None if digit == 10 else digit


def is_identity_number(digits: str) -> bool:
    """Whether 11 digits pass both mod-11 checks of a fødselsnummer or D-number."""
    return (
        len(digits) == 11
        and digits.isascii()
        and digits.isdigit()
        and check_digits(digits[:9]) == digits[9:]
    )


def mask(text: str) -> str:
    """The text with every e-mail address, identity number and phone number replaced by its
    placeholder. Idempotent: `mask(mask(t)) == mask(t)`."""
    if "@" in text:
        text = _replace(text, _email_spans(text), EMAIL)
    probe = text
    if _FROM_FIRST_OTHER_DIGIT.search(text) and _OTHER_DIGIT.search(text):
        probe = text.translate(_TO_ASCII_DIGITS)
    stretches = [m.span() for m in _STRETCH.finditer(probe)]
    if not stretches:
        return text
    found, shielded = _identity_spans(probe, stretches)
    if found:
        text = _replace(text, found, ID_NUMBER)
        probe = _replace(probe, found, ID_NUMBER)
        shielded = _shift(shielded, found, len(ID_NUMBER))
        stretches = [m.span() for m in _STRETCH.finditer(probe)]
    return _replace(text, _phone_spans(probe, stretches, shielded), PHONE)


def no_masking(text: str) -> str:
    """The stored copy as written, for a deployment that turned masking off."""
    return text


def masker(enabled: bool) -> Callable[[str], str]:
    """`mask`, or `no_masking` when masking is turned off."""
    return mask if enabled else no_masking


Span = tuple[int, int]


def _replace(text: str, spans: list[Span], placeholder: str) -> str:
    """`text` with each of the spans (in order, not overlapping) replaced by the placeholder."""
    if not spans:
        return text
    out: list[str] = []
    last = 0
    for start, end in spans:
        out.append(text[last:start])
        out.append(placeholder)
        last = end
    out.append(text[last:])
    return "".join(out)


def _shift(spans: list[Span], replaced: list[Span], width: int) -> list[Span]:
    """Spans of the text moved to where they are once `replaced` (none overlapping them) has
    been replaced by placeholders of `width` characters."""
    moved = []
    for start, end in spans:
        delta = sum(width - (e - s) for s, e in replaced if e <= start)
        moved.append((start + delta, end + delta))
    return moved


def _email_spans(text: str) -> list[Span]:
    spans: list[Span] = []
    at = text.find("@")
    while at != -1:
        start = at
        while start > 0 and (
            text[start - 1].isalnum() or text[start - 1] in _EMAIL_LOCAL_PUNCTUATION
        ):
            start -= 1
        domain = _EMAIL_DOMAIN.match(text, at + 1)
        if start < at and domain is not None and (not spans or spans[-1][1] <= start):
            spans.append((start, domain.end()))
            at = text.find("@", domain.end())
        else:
            at = text.find("@", at + 1)
    return spans


def _identity_spans(probe: str, stretches: list[Span]) -> tuple[list[Span], list[Span]]:
    """Valid identity numbers, and identity-shaped numbers whose check digits fail."""
    valid: list[Span] = []
    invalid: list[Span] = []
    for start, end in stretches:
        if end - start < 11:
            continue
        for found in _IDENTITY_SHAPED.finditer(probe, start, end):
            if is_identity_number(found.group(1) + found.group(2)):
                valid.append(found.span())
            else:
                invalid.append(found.span())
    return valid, invalid


def _phone_spans(probe: str, stretches: list[Span], shielded: list[Span]) -> list[Span]:
    """Phone numbers in the stretches, group by group (groups are split by spaces): a stretch
    may be a list of many numbers, and the matcher given a whole list is slow (about a
    millisecond a number), so each is looked for on its own."""
    spans: list[Span] = []
    for start, end in stretches:
        if sum(c.isdigit() for c in probe[start:end]) < _MIN_PHONE_DIGITS:
            continue
        groups = [m.span() for m in _GROUP.finditer(probe, start, end)]
        i = 0
        while i < len(groups):
            found = _phone_from(probe, groups, i)
            if found is None:
                i += 1
                continue
            span = found
            overlaps = any(s < span[1] and span[0] < e for s, e in shielded)
            if not overlaps and (not spans or spans[-1][1] <= span[0]):
                spans.append(span)
            while i < len(groups) and groups[i][0] < span[1]:
                i += 1
    return spans


def _phone_from(probe: str, groups: list[Span], i: int) -> Span | None:
    """The first phone number that starts in group `i` or in the few groups after it."""
    digits = ""
    ask = False  # whether the matcher may find what the fast path does not
    last = i
    for j in range(i, len(groups)):
        piece = probe[groups[j][0] : groups[j][1]]
        if j > i and piece[0] == "+":
            break  # another number starts
        digits += _NOT_DIGIT.sub("", piece)
        if len(digits) > _MAX_PHONE_DIGITS:
            break
        last = j
        if _plain_norwegian(probe, groups[i][0], groups[j][1]):
            return groups[i][0], groups[j][1]
        ask = ask or _worth_asking(piece, digits, j == i)
    if not ask:
        return None
    # One character either side: the matcher refuses a number glued to a letter.
    left = max(groups[i][0] - 1, 0)
    found = _matched(probe[left : groups[last][1] + 1])
    return None if found is None else (left + found[0], left + found[1])


def _worth_asking(piece: str, digits: str, first: bool) -> bool:
    """Whether the matcher could find a number the fast path did not: one written with a
    country code (+, 00), brackets, dots or slashes, a five-digit Norwegian service number, or
    a Norwegian number after 47 without the +, or one with a group of a single digit (which
    the fast path does not take). Eight digits as Norwegians write them that the fast path
    refused are no valid number, and the matcher would say so more slowly."""
    return (
        not _UNUSUAL_IN_NUMBERS.isdisjoint(piece)
        or sum(c.isdigit() for c in piece) == 1
        or (first and digits.startswith("00"))
        or (len(digits) == 5 and digits.startswith("0"))
        or (len(digits) == 10 and digits.startswith("47"))
    )


def _plain_norwegian(probe: str, start: int, end: int) -> bool:
    """The fast path: a valid Norwegian number alone in its stretch, between characters that
    cannot make the matcher refuse it. False means "ask the matcher", not "no number"."""
    plain = _PLAIN_NORWEGIAN.fullmatch(probe, start, end)
    if plain is None:
        return False
    digits = plain.group(1).replace(" ", "").replace("-", "")
    if len(digits) != 8 or _NORWEGIAN_VALID.fullmatch(digits) is None:
        return False
    before = probe[start - 1] if start > 0 else " "
    after = probe[end] if end < len(probe) else " "
    return _neutral(before) and _neutral(after)


def _neutral(char: str) -> bool:
    """A character next to a number that never makes the matcher refuse it."""
    return not char.isalnum() and char != "%" and unicodedata.category(char) != "Sc"


@lru_cache(maxsize=4096)
def _matched(window: str) -> Span | None:
    """Where phonenumbers finds the first valid number in a few groups of digits (cached: a
    number repeated in a message, or a message resent, is looked up once)."""
    for match in PhoneNumberMatcher(window, _REGION, leniency=Leniency.VALID):
        return match.start, match.end
    return None
