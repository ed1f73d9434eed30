"""The results store: runs, sweeps and their metrics in SQLite (or any SQLAlchemy URL).

SQLite runs in WAL mode with a busy timeout so several kernels of a sweep can write metrics at
once. Everything is queryable from pandas: ``store.runs_frame()``, ``store.metrics_frame()``, or
``pd.read_sql(sql, store.engine)`` for anything else.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import pandas as pd
from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    delete,
    event,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from vega_lab.errors import RunNotFoundError, StoreError

RUN_STATUSES = ("pending", "running", "finished", "failed", "skipped")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_run_id() -> str:
    """Sortable, unique, filesystem-safe: ``r20261121-223755-1a2b3c``."""
    return f"r{utcnow():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def run_key(notebook: str, parameters: Mapping[str, Any], seed: int | None) -> str:
    """Identity of a run's inputs: a sweep re-run skips a finished run with the same key."""
    blob = json.dumps(
        {"nb": notebook, "p": dict(parameters), "seed": seed}, sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {dict[str, Any]: JSON}


class SweepRow(Base):
    __tablename__ = "sweeps"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    notebook: Mapped[str] = mapped_column(Text)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RunRow(Base):
    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sweep_id: Mapped[str | None] = mapped_column(ForeignKey("sweeps.id"), index=True)
    key: Mapped[str] = mapped_column(String(32), index=True)
    notebook: Mapped[str] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    seed: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    executor: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    duration_s: Mapped[float | None] = mapped_column(Float)
    output_path: Mapped[str | None] = mapped_column(Text)
    environment: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    git_commit: Mapped[str | None] = mapped_column(String(64))
    error_cell: Mapped[int | None] = mapped_column(Integer)
    error_name: Mapped[str | None] = mapped_column(String(200))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_traceback: Mapped[str | None] = mapped_column(Text)


def new_run_row(
    notebook: str, parameters: Mapping[str, Any], seed: int | None, **fields: Any
) -> RunRow:
    """A fresh run row with its id and input key filled in (other columns from ``fields``)."""
    params = dict(parameters)
    return RunRow(
        id=new_run_id(),
        key=run_key(notebook, params, seed),
        notebook=notebook,
        parameters=params,
        seed=seed,
        **fields,
    )


class MetricRow(Base):
    __tablename__ = "metrics"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    name: Mapped[str] = mapped_column(String(200))
    step: Mapped[int | None] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(8))  # "step" or "final"
    logged_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (Index("ix_metrics_run_name", "run_id", "name"),)


class TableRow(Base):
    __tablename__ = "tables"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    records: Mapped[dict[str, Any]] = mapped_column(JSON)
    logged_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _finite(value: Any, what: str) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise StoreError(
            f"{what} must be a number, got {type(value).__name__} {value!r}",
            "log scalars with log()/log_final(); use log_table() for anything else",
        ) from None
    return None if math.isnan(v) else v  # SQLite stores NaN as NULL anyway; inf is kept


class ResultsStore:
    """Typed access to the results database; one instance per URL per process is enough."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            if url.startswith("sqlite:///"):
                from pathlib import Path

                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
                self.engine: Engine = create_engine(url, connect_args={"timeout": 30})
                event.listen(self.engine, "connect", _sqlite_pragmas)
            else:
                self.engine = create_engine(url)
            Base.metadata.create_all(self.engine)
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(
                f"cannot open the results store at {url}: {exc.__class__.__name__}: {exc}",
                "check VEGA_RESULTS_URL (a file path or a SQLAlchemy URL)",
            ) from exc
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self._sessions()

    # ---- sweeps -------------------------------------------------------------------------
    def upsert_sweep(self, sweep_id: str, notebook: str, spec: Mapping[str, Any]) -> None:
        with self.session() as s, s.begin():
            row = s.get(SweepRow, sweep_id)
            if row is None:
                s.add(SweepRow(id=sweep_id, notebook=notebook, spec=dict(spec)))
            else:
                row.notebook, row.spec, row.updated_at = notebook, dict(spec), utcnow()

    def sweeps(self) -> list[SweepRow]:
        with self.session() as s:
            return list(s.scalars(select(SweepRow).order_by(SweepRow.updated_at.desc())))

    # ---- runs ---------------------------------------------------------------------------
    def add_runs(self, rows: Iterable[RunRow]) -> None:
        """Insert run rows in one transaction: all of them or none."""
        with self.session() as s, s.begin():
            s.add_all(list(rows))

    def update_run(self, run_id: str, **fields: Any) -> None:
        with self.session() as s, s.begin():
            res = s.execute(update(RunRow).where(RunRow.id == run_id).values(**fields))
            if res.rowcount == 0:
                raise RunNotFoundError(f"no run {run_id!r} in {self.url}")

    def get_run(self, run_id: str) -> RunRow:
        with self.session() as s:
            row = s.get(RunRow, run_id)
        if row is None:
            raise RunNotFoundError(
                f"no run {run_id!r} in the results store", "list runs with `vega-lab runs`"
            )
        return row

    def find_runs(
        self,
        *,
        sweep_id: str | None = None,
        status: str | None = None,
        key: str | None = None,
        notebook: str | None = None,
        limit: int | None = None,
    ) -> list[RunRow]:
        q = select(RunRow).order_by(RunRow.created_at.desc(), RunRow.id)
        if sweep_id is not None:
            q = q.where(RunRow.sweep_id == sweep_id)
        if status is not None:
            q = q.where(RunRow.status == status)
        if key is not None:
            q = q.where(RunRow.key == key)
        if notebook is not None:
            q = q.where(RunRow.notebook.contains(notebook))
        if limit is not None:
            q = q.limit(limit)
        with self.session() as s:
            return list(s.scalars(q))

    def delete_runs(self, run_ids: Iterable[str]) -> None:
        """Remove runs and everything they logged (used when a sweep re-runs them)."""
        ids = list(run_ids)
        if not ids:
            return
        with self.session() as s, s.begin():
            s.execute(delete(MetricRow).where(MetricRow.run_id.in_(ids)))
            s.execute(delete(TableRow).where(TableRow.run_id.in_(ids)))
            s.execute(delete(RunRow).where(RunRow.id.in_(ids)))

    # ---- metrics ------------------------------------------------------------------------
    def log_metrics(
        self, run_id: str, values: Mapping[str, Any], *, step: int | None, kind: str
    ) -> None:
        rows = [
            MetricRow(
                run_id=run_id, name=str(k), step=step, value=_finite(v, f"metric {k!r}"), kind=kind
            )
            for k, v in values.items()
        ]
        with self.session() as s, s.begin():
            if s.get(RunRow, run_id) is None:
                raise RunNotFoundError(f"cannot log to run {run_id!r}: it is not in {self.url}")
            if kind == "final":
                names = [r.name for r in rows]
                s.execute(
                    delete(MetricRow).where(
                        MetricRow.run_id == run_id,
                        MetricRow.kind == "final",
                        MetricRow.name.in_(names),
                    )
                )
            s.add_all(rows)

    def log_table(self, run_id: str, name: str, records: list[dict[str, Any]]) -> None:
        try:
            payload = json.loads(json.dumps({"rows": records}, default=str))
        except (TypeError, ValueError) as exc:
            raise StoreError(f"table {name!r} is not JSON-serializable: {exc}") from exc
        with self.session() as s, s.begin():
            if s.get(RunRow, run_id) is None:
                raise RunNotFoundError(f"cannot log to run {run_id!r}: it is not in {self.url}")
            s.add(TableRow(run_id=run_id, name=name, records=payload))

    # ---- pandas views -------------------------------------------------------------------
    def runs_frame(self, *, sweep_id: str | None = None, status: str | None = None) -> pd.DataFrame:
        """One row per run: identity, status, parameters (``p.<name>``) and final metrics."""
        runs = self.find_runs(sweep_id=sweep_id, status=status)
        base_cols = [
            "run_id",
            "sweep_id",
            "notebook",
            "status",
            "seed",
            "duration_s",
            "created_at",
            "error_name",
        ]
        if not runs:
            return pd.DataFrame(columns=base_cols)
        records = []
        for r in runs:
            rec: dict[str, Any] = {
                "run_id": r.id,
                "sweep_id": r.sweep_id,
                "notebook": r.notebook,
                "status": r.status,
                "seed": r.seed,
                "duration_s": r.duration_s,
                "created_at": r.created_at,
                "error_name": r.error_name,
            }
            rec.update({f"p.{k}": v for k, v in sorted(r.parameters.items())})
            records.append(rec)
        frame = pd.DataFrame.from_records(records)
        finals = self.metrics_frame(run_ids=[r.id for r in runs], kind="final")
        if not finals.empty:
            wide = finals.pivot_table(
                index="run_id", columns="name", values="value", aggfunc="last"
            )
            wide.columns = [f"m.{c}" for c in wide.columns]
            frame = frame.merge(wide, left_on="run_id", right_index=True, how="left")
        return frame

    def metrics_frame(
        self,
        *,
        run_ids: Iterable[str] | None = None,
        sweep_id: str | None = None,
        name: str | None = None,
        kind: str | None = None,
    ) -> pd.DataFrame:
        """Long format: run_id, name, step, value, kind (join runs_frame for parameters)."""
        q = select(
            MetricRow.run_id, MetricRow.name, MetricRow.step, MetricRow.value, MetricRow.kind
        ).order_by(MetricRow.run_id, MetricRow.name, MetricRow.step)
        if run_ids is not None:
            q = q.where(MetricRow.run_id.in_(list(run_ids)))
        if sweep_id is not None:
            q = q.join(RunRow, RunRow.id == MetricRow.run_id).where(RunRow.sweep_id == sweep_id)
        if name is not None:
            q = q.where(MetricRow.name == name)
        if kind is not None:
            q = q.where(MetricRow.kind == kind)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return pd.DataFrame(rows, columns=["run_id", "name", "step", "value", "kind"])

    def tables(self, run_id: str) -> dict[str, pd.DataFrame]:
        with self.session() as s:
            rows = s.scalars(
                select(TableRow).where(TableRow.run_id == run_id).order_by(TableRow.id)
            )
            return {r.name: pd.DataFrame(r.records["rows"]) for r in rows}


_STORES: dict[str, ResultsStore] = {}


def open_store(url: str | None = None) -> ResultsStore:
    """The store at ``url`` (default: settings), shared within the process."""
    if url is None:
        from vega_lab.config import get_settings

        url = get_settings().results_db_url
    else:
        from vega_lab.config import store_url

        url = store_url(url)
    if url not in _STORES:
        _STORES[url] = ResultsStore(url)
    return _STORES[url]
