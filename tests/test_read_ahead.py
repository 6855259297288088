"""Batches read ahead in a thread: all of them in order, errors where the caller reads, nothing read after the block."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import duckdb
import pyarrow as pa
import pytest

from warehouse.read_ahead import read_ahead


def _batch(number: int) -> pa.RecordBatch:
    return pa.record_batch({"n": [number, number]})


class _Source:
    """Batches 0..count-1, counting how many were read; raises at `fail_at` if given."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at, self.read = count, fail_at, 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for number in range(self.count):
            if number == self.fail_at:
                raise OSError(f"disk gone at batch {number}")
            self.read += 1
            yield _batch(number)


def _readers_alive() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "read-ahead"]


def test_every_batch_in_order_then_the_thread_is_gone():
    with read_ahead(_Source(50), depth=3) as batches:
        seen = [batch.column("n")[0].as_py() for batch in batches]
    assert seen == list(range(50))
    assert not _readers_alive()


def test_a_duckdb_result_streams_whole():
    con = duckdb.connect()
    reader = con.execute("SELECT range AS n FROM range(100000) ORDER BY n").to_arrow_reader(4096)
    with read_ahead(reader) as batches:
        values = pa.Table.from_batches(list(batches)).column("n").to_pylist()
    assert values == list(range(100000))
    assert con.execute("SELECT 42").fetchall() == [(42,)]  # the connection is free again


def test_an_error_while_reading_reaches_the_caller_after_the_batches_before_it():
    seen = []
    with pytest.raises(OSError, match="disk gone at batch 7"), read_ahead(_Source(20, fail_at=7), depth=2) as batches:
        for batch in batches:
            seen.append(batch.column("n")[0].as_py())
    assert seen == list(range(7))
    assert not _readers_alive()


def test_a_caller_that_stops_early_stops_the_reading():
    source = _Source(10_000)
    with pytest.raises(RuntimeError, match="writer full"), read_ahead(source, depth=4) as batches:
        for batch in batches:
            if batch.column("n")[0].as_py() == 5:
                raise RuntimeError("writer full")
    assert not _readers_alive()
    read = source.read
    assert read <= 6 + 4 + 1  # what the caller took, what waited in the queue, the one being put
    assert source.read == read  # and nothing more once the block is left
