"""Word error rate: (substitutions + deletions + insertions) / reference words.

Both texts are normalized first so that WER measures recognition, not formatting: Unicode NFKC,
lowercase, punctuation removed (apostrophes too: "don't" == "dont"), dashes and slashes split
words ("round-trip" == "round trip"). Numbers stay as written ("7" != "seven"), and a decimal
point or thousands comma between digits is kept ("3.5", "1,000"): spelling numbers out would
need a language-specific normalizer, which would hide real differences.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from vega_lab.errors import MultimodalError

__all__ = ["WerDetails", "normalize_words", "wer_details", "word_error_rate"]

_SPLIT = re.compile(r"[\-\u2010-\u2015/]")


@dataclass(frozen=True)
class WerDetails:
    wer: float
    substitutions: int
    deletions: int
    insertions: int
    hits: int
    reference_words: int
    hypothesis_words: int


def normalize_words(text: str) -> list[str]:
    """The words WER compares: lowercase, no punctuation, numbers as written."""
    text = _SPLIT.sub(" ", unicodedata.normalize("NFKC", text).lower())
    kept = []
    for i, ch in enumerate(text):
        if unicodedata.category(ch)[0] in "PS":  # punctuation and symbols
            between_digits = (
                0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()
            )
            if not (ch in ".," and between_digits):  # 3.5 and 1,000 stay numbers
                continue
        kept.append(ch)
    return "".join(kept).split()


def wer_details(reference: str, hypothesis: str) -> WerDetails:
    """Levenshtein alignment over words; ties prefer hits/substitutions (the usual convention)."""
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    if not ref:
        if hyp:
            raise MultimodalError(
                "WER is undefined for an empty reference transcript",
                "give a reference with at least one word (or count insertions yourself)",
            )
        return WerDetails(0.0, 0, 0, 0, 0, 0, 0)
    n, m = len(ref), len(hyp)
    # cost[i][j]: edits turning ref[:i] into hyp[:j]; ops counted along the chosen path
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        cost[i][0] = i
    for j in range(m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            diag = cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1])
            cost[i][j] = min(diag, cost[i - 1][j] + 1, cost[i][j - 1] + 1)
    subs = dels = ins = hits = 0
    i, j = n, m
    while i or j:
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            if ref[i - 1] == hyp[j - 1]:
                hits += 1
            else:
                subs += 1
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            dels += 1
            i -= 1
        else:
            ins += 1
            j -= 1
    return WerDetails((subs + dels + ins) / n, subs, dels, ins, hits, n, m)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER in [0, inf): 0 is perfect; above 1 when the hypothesis adds many words."""
    return wer_details(reference, hypothesis).wer
