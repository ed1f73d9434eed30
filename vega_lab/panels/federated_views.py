"""What the federated panel shows besides its live curves, as plain builders (no widget state):
the grouped strategy choices and the per-round anomaly flags table.

Kept apart from the panel so each view can be checked on its own.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from vega_lab.federated import STRATEGIES, RoundRecord
from vega_lab.federated.audit import AuditLog
from vega_lab.federated.matrix import AGGREGATORS

__all__ = ["flags_html", "strategy_choices"]

_GROUPS = ("", "robust", "private")  # federated optimisers, Byzantine-robust rules, client DP


def _group(name: str) -> str:
    if STRATEGIES[name].noisy:
        return "private"
    return "robust" if name in AGGREGATORS and name != "fedavg" else ""


def strategy_choices() -> list[tuple[str, str]]:
    """(label, name) for every registered strategy: the federated optimisers first, then the
    Byzantine-robust aggregators (``robust: krum``), then client-level DP (``private: ...``),
    registry order within each group (a dropdown has no option groups)."""
    names = list(STRATEGIES)
    ordered = [n for g in _GROUPS for n in names if _group(n) == g]
    return [(f"{_group(n)}: {n}" if _group(n) else n, n) for n in ordered]


def _cell(value: object) -> str:
    return f"<td>{html.escape(str(value))}</td>"


def flags_html(history: Sequence[RoundRecord], audit: AuditLog | None = None) -> str:
    """A small table, one row per round: participants, flagged and rejected counts (live from
    the round records); with the run's audit log also how many participants were malicious, how
    many of those were flagged, and the flagged ids. Empty before the first round."""
    if not history:
        return ""
    entries = {e.round: e for e in audit.entries} if audit is not None else {}
    head = ["round", "clients", "flagged", "rejected"]
    if entries:
        head += ["malicious", "caught", "flagged ids"]
    rows = []
    for r in history:
        cells = [r.round, r.clients, r.flagged, r.rejected]
        e = entries.get(r.round)
        if e is not None:
            caught = len(set(e.flagged) & set(e.malicious))
            cells += [len(e.malicious), caught, ", ".join(map(str, e.flagged)) or "—"]
        elif entries:
            cells += ["", "", ""]
        rows.append("<tr>" + "".join(map(_cell, cells)) + "</tr>")
    flagged = sum(r.flagged for r in history)
    summary = f"anomaly detection flagged {flagged} update(s) in {len(history)} round(s)"
    if entries:
        bad = sum(len(e.malicious) for e in entries.values())
        caught = sum(len(set(e.flagged) & set(e.malicious)) for e in entries.values())
        summary += f"; {caught} of {bad} malicious update(s) caught"
    header = "".join(f"<th>{h}</th>" for h in head)
    return (
        f"<div>{html.escape(summary)}</div>"
        '<div style="max-height:180px;overflow:auto">'
        f'<table class="vega-flags-table"><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
