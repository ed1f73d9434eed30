"""The audit log of a federated run: for every round, who took part, who was malicious (a
simulation knows), whose update was rejected and why, who was flagged as anomalous, and what the
aggregator did with each update (its coefficient in the pseudo-gradient; Krum's one pick, the
median's share of coordinates). Exportable as JSON lines (one object per round, after a header
line for the run) or CSV (one row per round and client), and readable back.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vega_lab.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

_PER_CLIENT = ("norms", "cosines", "norm_z", "cosine_z", "contributions")


@dataclass(frozen=True)
class AuditEntry:
    round: int
    aggregator: str
    participants: list[int]
    malicious: list[int]  # participants that were malicious
    rejected: dict[int, str]  # client -> reason; not aggregated
    flagged: list[int]  # anomaly detection's outliers
    selected: list[int]  # clients with a non-zero coefficient in the aggregate
    # per participant, in `participants` order (NaN where rejected)
    norms: list[float]
    cosines: list[float]
    norm_z: list[float]
    cosine_z: list[float]
    contributions: list[float]

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["rejected"] = {str(k): v for k, v in self.rejected.items()}
        for key in _PER_CLIENT:  # JSON has no NaN
            out[key] = [None if math.isnan(v) else v for v in out[key]]
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> AuditEntry:
        obj = dict(obj)
        obj["rejected"] = {int(k): v for k, v in obj["rejected"].items()}
        for key in _PER_CLIENT:
            obj[key] = [math.nan if v is None else float(v) for v in obj[key]]
        return cls(**obj)


@dataclass
class AuditLog:
    attack: str = "none"
    malicious: list[int] = field(default_factory=list)  # every malicious client of the run
    entries: list[AuditEntry] = field(default_factory=list)

    def entry(self, rnd: int) -> AuditEntry | None:
        return next((e for e in self.entries if e.round == rnd), None)

    def frame(self) -> pd.DataFrame:
        """One row per round and participant."""
        import pandas as pd

        rows = []
        for e in self.entries:
            for i, cid in enumerate(e.participants):
                rows.append(
                    {
                        "round": e.round,
                        "client": cid,
                        "aggregator": e.aggregator,
                        "malicious": cid in e.malicious,
                        "rejected": cid in e.rejected,
                        "reason": e.rejected.get(cid, ""),
                        "flagged": cid in e.flagged,
                        "selected": cid in e.selected,
                        "contribution": e.contributions[i],
                        "norm": e.norms[i],
                        "cosine": e.cosines[i],
                        "norm_z": e.norm_z[i],
                        "cosine_z": e.cosine_z[i],
                    }
                )
        columns = ["round", "client", "aggregator", "malicious", "rejected", "reason", "flagged"]
        columns += ["selected", "contribution", "norm", "cosine", "norm_z", "cosine_z"]
        return pd.DataFrame(rows, columns=columns)

    def export(self, path: str | Path) -> Path:
        """``.jsonl``: a header line (attack, malicious ids) then one object per round;
        ``.csv``: `frame`."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".jsonl":
            head = {"attack": self.attack, "malicious": self.malicious}
            lines = [json.dumps(head)] + [json.dumps(e.as_json()) for e in self.entries]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        elif path.suffix == ".csv":
            self.frame().to_csv(path, index=False)
        else:
            raise ConfigError(
                f"cannot export an audit log as {path.suffix or 'a file without a suffix'}",
                "name the file .jsonl (one object per round) or .csv (one row per client)",
            )
        return path

    @classmethod
    def read(cls, path: str | Path) -> AuditLog:
        """Read back a ``.jsonl`` export."""
        path = Path(path)
        if path.suffix != ".jsonl":
            raise ConfigError(
                f"{path} is not a .jsonl audit log",
                "read a .csv export with pandas.read_csv",
            )
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        if not lines:
            raise ConfigError(f"{path} is empty", "export the log with result.export_audit()")
        try:
            head = json.loads(lines[0])
            entries = [AuditEntry.from_json(json.loads(ln)) for ln in lines[1:]]
            return cls(head["attack"], list(head["malicious"]), entries)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{path} is not an audit log: {exc}", "export it with result.export_audit()"
            ) from None
