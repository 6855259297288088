"""Write a monthly warehouse table as one Parquet file per declared month, in bounded memory.

Rows arrive as Arrow record batches in any month order. They are buffered per month and written
as row groups; when the buffers together exceed the memory budget the largest one is written out,
so memory depends on the budget, not on the number of months or rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from warehouse.tables import month_partition

DEFAULT_BUDGET_BYTES = 16 * 1024 * 1024


class MonthlyPartitionWriter:
    """Files `<root>/declared_month=YYYY-MM/part-<uuid>.parquet` of the rows of each month.

    The files hold the table's columns only; the month folder is the hive partition that
    `warehouse.engine.attach_warehouse` reads back as `declared_month`.
    """

    def __init__(self, root: Path, schema: pa.Schema, budget_bytes: int = DEFAULT_BUDGET_BYTES,
                 compression: str = "snappy") -> None:
        self.root = root
        self.schema = schema
        self.budget_bytes = budget_bytes
        self.compression = compression
        self._pending: dict[str, list[pa.RecordBatch]] = {}
        self._pending_bytes: dict[str, int] = {}
        self._writers: dict[str, pq.ParquetWriter] = {}

    def __enter__(self) -> MonthlyPartitionWriter:
        return self

    def write_batches(self, batches: Iterable[pa.RecordBatch]) -> None:
        """Add rows; each batch needs a date column `month` (rows with no month are not written)."""
        for batch in batches:
            self._add(batch)

    def _add(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        months = batch.column("month")
        for month in pc.unique(months).to_pylist():
            if month is None:
                continue
            rows = batch.filter(pc.equal(months, pa.scalar(month, months.type)))
            name = month.strftime("%Y-%m")
            self._pending.setdefault(name, []).append(rows)
            self._pending_bytes[name] = self._pending_bytes.get(name, 0) + rows.nbytes
        while sum(self._pending_bytes.values()) > self.budget_bytes:
            self._flush(max(self._pending_bytes, key=self._pending_bytes.__getitem__))

    def _flush(self, month: str) -> None:
        batches = self._pending.pop(month, [])
        self._pending_bytes.pop(month, None)
        if not batches:
            return
        writer = self._writers.get(month)
        if writer is None:
            folder = self.root / month_partition(month)
            folder.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(folder / f"part-{uuid.uuid4().hex}.parquet", self.schema, compression=self.compression)
            self._writers[month] = writer
        writer.write_table(pa.Table.from_batches(batches).cast(self.schema))

    def __exit__(self, exc_type: type | None, *exc_info: object) -> None:
        try:
            if exc_type is None:
                for month in list(self._pending):
                    self._flush(month)
        finally:
            for writer in self._writers.values():
                writer.close()
