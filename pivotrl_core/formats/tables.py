"""Rows of columnar inputs: Parquet files and Hugging Face ``datasets`` folders.

Both are read row by row (Parquet in record batches, never a whole file) and yield plain dicts,
the same rows a JSONL line would give; a null field reads as absent (Arrow fills every key of a
struct column, so a message without ``tool_calls`` comes back with ``tool_calls: None``).
``pyarrow`` and ``datasets`` are imported only when such a file is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["TABLE_SUFFIXES", "dataset_rows", "drop_nulls", "parquet_rows"]

TABLE_SUFFIXES = (".parquet", ".pq")
_BATCH = 256


def drop_nulls(value: Any) -> Any:
    """``value`` with every ``None``-valued key of every mapping in it removed."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def _rows(
    rows: Iterator[dict[str, Any]], path: Path, errors: tuple[type[BaseException], ...]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Number the rows, drop their nulls, and turn a reading failure into a located InputError."""
    number = 0
    try:
        for number, row in enumerate(rows, start=1):  # noqa: B007 - read in the except
            try:
                clean = drop_nulls(row)
            except RecursionError:
                raise InputError("the row is nested too deeply to read", path=path, line=number) from None
            yield number, clean
    except errors as e:
        raise InputError(
            f"cannot read this table ({type(e).__name__}: {e})", path=path, line=number + 1
        ) from None


def parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(row number, row)`` of a Parquet file."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError("reading Parquet needs pyarrow: pip install pyarrow", path=path) from None
    if not path.is_file():
        raise InputError("no such file" if not path.exists() else "not a file", path=path)
    try:
        table = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"not a readable Parquet file ({e})", path=path) from None
    batches = table.iter_batches(batch_size=_BATCH)
    yield from _rows(
        (row for batch in batches for row in batch.to_pylist()), path, (pa.ArrowException, OSError)
    )


def dataset_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(row number, row)`` of a folder written by ``datasets``' ``save_to_disk`` (one split)."""
    if (path / "dataset_dict.json").is_file():
        splits = sorted(p.name for p in path.iterdir() if (p / "dataset_info.json").is_file())
        raise InputError(
            f"this datasets folder holds several splits ({', '.join(splits)}); pass one split's "
            f"folder, e.g. {path / (splits[0] if splits else 'train')}",
            path=path,
        )
    if not (path / "dataset_info.json").is_file():
        raise InputError(
            "a folder is read as a `datasets` folder (save_to_disk), but it has no dataset_info.json",
            path=path,
        )
    try:
        import datasets
    except ImportError:
        raise InputError(
            "reading a datasets folder needs `datasets`: pip install datasets", path=path
        ) from None
    try:
        dataset = datasets.load_from_disk(str(path))
    except (OSError, ValueError) as e:
        raise InputError(f"cannot load this datasets folder ({type(e).__name__}: {e})", path=path) from None
    yield from _rows(iter(dataset), path, (OSError, ValueError))
