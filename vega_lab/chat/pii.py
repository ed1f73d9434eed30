"""PII masking for chat text: emails, phone numbers and payment card numbers.

Applied *before* a message is written, so the database never holds the original (a soft delete
or a purge cannot take back what a backup already copied). The rules lean towards keeping text:
years, short numbers, dates, IP addresses and 16-digit ids that fail the Luhn check survive.
"""

from __future__ import annotations

import re

EMAIL_TOKEN, PHONE_TOKEN, CARD_TOKEN = "[EMAIL]", "[PHONE]", "[CARD]"

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)

# 13-19 digits, optionally grouped by single spaces or dashes (4111 1111 1111 1111).
_CARD = re.compile(r"(?<![\w.+-])\d(?:[ -]?\d){12,18}(?![\w-])")

_PHONE = re.compile(
    r"""
    (?<![\w+.-])
    (?:
        \+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){1,4}  # +44 20 7946 0958
      | (?:1[\s.-])?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}              # (202) 555-0143
    )
    (?![\w-])
    """,
    re.VERBOSE,
)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies (1 in 10 random numbers do)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def mask_pii(text: str) -> tuple[str, dict[str, int]]:
    """``text`` with emails, phones and Luhn-valid card numbers replaced by tokens, and counts.

    Cards are matched before phones so a grouped card number is never half-masked as a phone.
    """
    counts = {"email": 0, "phone": 0, "card": 0}

    def _email(_m: re.Match[str]) -> str:
        counts["email"] += 1
        return EMAIL_TOKEN

    def _card(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            counts["card"] += 1
            return CARD_TOKEN
        return m.group()

    def _phone(m: re.Match[str]) -> str:
        n = sum(ch.isdigit() for ch in m.group())
        low = 8 if m.group().startswith("+") else 10  # E.164 has at most 15 digits
        if low <= n <= 15:
            counts["phone"] += 1
            return PHONE_TOKEN
        return m.group()

    text = _EMAIL.sub(_email, text)
    text = _CARD.sub(_card, text)
    text = _PHONE.sub(_phone, text)
    return text, counts
