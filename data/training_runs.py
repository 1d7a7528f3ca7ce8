"""The trainer's runs and per-step metrics in the store (tables ``training_runs`` and
``training_steps``, created by a migration in ``data/store.py``).

Rows are keyed by run id (a content hash of the config, data and step count) and step, so a
resumed run adds only the steps it had not written, and rerunning a finished run adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from synth.data.store import Store
from synth.records import Record, utcnow


class TrainingRun(Record):
    run_id: str
    config_name: str
    backend: str  # the expert backend that ran (never "auto")
    device: str  # "cpu", "cuda", ...
    seed: int
    total_steps: int
    num_params: int
    num_tasks: int
    created_at: datetime = Field(default_factory=utcnow)


class TrainingStep(Record):
    run_id: str
    step: int  # optimizer steps taken, 1-based
    loss: float  # cross-entropy on target tokens
    aux_loss: float  # load-balancing loss, mean over layers (1.0 under uniform routing)
    z_loss: float
    lr: float
    grad_norm: float
    load_max_over_mean: float  # most loaded expert / mean load, worst layer
    tokens: int
    tokens_per_s: float
    created_at: datetime = Field(default_factory=utcnow)


def _insert(store: Store, table: str, key: str, records: list[Record]) -> None:
    if not records:
        return
    fields = list(type(records[0]).model_fields)
    names = ", ".join(f'"{f}"' for f in fields)
    one_row = "(" + ", ".join("?" * len(fields)) + ")"
    params = [getattr(r, f) for r in records for f in fields]
    store.query(
        f"INSERT INTO {table} ({names}) VALUES {', '.join([one_row] * len(records))}"
        f" ON CONFLICT ({key}) DO NOTHING",
        params,
    )


def write_run(store: Store, run: TrainingRun) -> None:
    _insert(store, "training_runs", "run_id", [run])


def write_steps(store: Store, steps: Iterable[TrainingStep]) -> None:
    _insert(store, "training_steps", "run_id, step", list(steps))


def _read(store: Store, model: type[Record], sql: str, params: list[Any]) -> list[Any]:
    fields = list(model.model_fields)
    rows = store.query(sql.format(columns=", ".join(f'"{f}"' for f in fields)), params)
    out = []
    for row in rows:
        values = dict(zip(fields, row, strict=True))
        values["created_at"] = values["created_at"].astimezone(UTC)
        out.append(model.model_validate(values))
    return out


def list_runs(store: Store) -> list[TrainingRun]:
    return _read(store, TrainingRun, "SELECT {columns} FROM training_runs ORDER BY created_at", [])


def list_steps(store: Store, run_id: str) -> list[TrainingStep]:
    return _read(
        store,
        TrainingStep,
        "SELECT {columns} FROM training_steps WHERE run_id = ? ORDER BY step",
        [run_id],
    )
