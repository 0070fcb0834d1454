"""Result rows: one per run, its configuration and every metric of the simulator's report, as
CSV and Parquet.

Columns, in this order: `run` (index in the study), `study`, `status` (`ok` or `failed`),
`error`; `axis.KEY` for each axis of the study (the value the study gave); `config.*`, the run's
full configuration from the front end (`run.config_of`: machine, model, tokens, routing,
strategy and the options given); then the simulator's JSON report flattened, nested keys joined
by dots (`lower_bound.cycles`, `ddr.bytes`, `min_sram.sram_bytes`), lists as JSON text
(`chiplets`, `ddr.channels`, `d2d.links`). A failed run has its configuration and an empty
report. Nothing else (no timing, no cache state): the same study gives the same files.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from typing import Any

from fsedp_compiler.errors import FsedpError

CSV_NAME, PARQUET_NAME = "results.csv", "results.parquet"
Row = dict[str, Any]


def make_row(study: str, index: int, settings, config: dict[str, Any], outcome) -> Row:
    error = outcome.error or None  # empty, as CSV reads back an empty cell
    row: Row = {"run": index, "study": study, "status": outcome.status, "error": error}
    row |= {f"axis.{key}": value for key, value in settings}
    row |= {f"config.{key}": value for key, value in config.items()}
    row |= flatten(outcome.report)
    return row


def flatten(report: dict[str, Any], prefix: str = "") -> Row:
    """Nested dictionaries to dotted keys in sorted order (a report read back from the cache
    has its keys sorted); lists as JSON text."""
    flat: Row = {}
    for key, value in sorted(report.items()):
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= flatten(value, f"{name}.")
        elif isinstance(value, list):
            flat[name] = json.dumps(value, sort_keys=True)
        else:
            flat[name] = value
    return flat


def columns_of(rows: Sequence[Row]) -> list[str]:
    """Every key of any row, in order of first appearance (rows are in run order)."""
    seen: dict[str, None] = {}
    for row in rows:
        seen |= dict.fromkeys(row)
    return list(seen)


def _column_values(rows: Sequence[Row], column: str) -> list[Any]:
    """One column with one type: integers become floats beside floats, anything beside text
    becomes text (Parquet columns are typed; CSV is written from the same values)."""
    values = [row.get(column) for row in rows]
    kinds = {type(v) for v in values if v is not None}
    if kinds == {int, float} or kinds == {bool, float} or kinds == {bool, int, float}:
        return [None if v is None else float(v) for v in values]
    if kinds == {bool, int}:
        return [None if v is None else int(v) for v in values]
    if len(kinds) > 1:
        return [None if v is None else _text(v) for v in values]
    return values


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def write_results(rows: Sequence[Row], folder: str) -> tuple[str, str]:
    """`results.csv` and `results.parquet` in `folder`; their paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = columns_of(rows)
    data = {column: _column_values(rows, column) for column in columns}
    csv_path, parquet_path = os.path.join(folder, CSV_NAME), os.path.join(folder, PARQUET_NAME)
    try:
        os.makedirs(folder, exist_ok=True)
        with open(csv_path, "w", newline="") as stream:
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(columns)
            for i in range(len(rows)):
                writer.writerow(["" if data[c][i] is None else _cell(data[c][i]) for c in columns])
        pq.write_table(pa.table(data), parquet_path)
    except OSError as error:
        raise FsedpError(f"cannot write results to {folder}: {error.strerror or error}") from None
    return csv_path, parquet_path


def _cell(value: Any) -> Any:
    return ("true" if value else "false") if isinstance(value, bool) else value


def read_results(path: str) -> list[Row]:
    """Rows from a results folder, a `.parquet` or a `.csv` file (CSV cells typed back)."""
    if os.path.isdir(path):
        parquet = os.path.join(path, PARQUET_NAME)
        path = parquet if os.path.exists(parquet) else os.path.join(path, CSV_NAME)
    try:
        if path.endswith(".parquet"):
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
        if path.endswith(".csv"):
            with open(path, newline="") as stream:
                return [{k: _typed(v) for k, v in row.items()} for row in csv.DictReader(stream)]
    except OSError as error:
        raise FsedpError(f"cannot read results {path}: {error.strerror or error}") from None
    except Exception as error:  # noqa: BLE001 - pyarrow's and csv's many ways to say "not data"
        raise FsedpError(f"cannot read results {path}: {error}") from None
    raise FsedpError(f"results are a folder, a .parquet or a .csv file, got {path}")


def _typed(cell: str) -> Any:
    if cell == "":
        return None
    if cell in ("true", "false"):
        return cell == "true"
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            pass
    return cell
