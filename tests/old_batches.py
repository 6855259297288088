"""Warehouses written before a column existed, to check that they are still read."""

from __future__ import annotations

import pyarrow.parquet as pq

from core.home import Home


def as_written_before_addresses(home: Home) -> None:
    """Rewrite every staged batch and warehouse month of the tables with an address without street and
    city, as a warehouse built before they were kept (each file replaced, never written over: it may be
    a hard link into another version of the warehouse)."""
    for root in (home.staging, home.warehouse):
        for table in ("declarations", "workplaces"):
            for path in sorted((root / table).rglob("*.parquet")):
                old = pq.read_table(path).drop_columns(["street", "city"])
                path.unlink()
                path.with_name(f".{path.name}.crc").unlink(missing_ok=True)  # Hadoop's checksum of a Spark file
                pq.write_table(old, path)
