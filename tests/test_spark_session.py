"""Spark sized from the machine or the cluster's settings (no JVM: the sizing rules are plain functions)."""

from __future__ import annotations

import logging
import os

import pytest

from core.config import Config, SparkConfig
from core.machine import machine_memory_bytes, usable_cpus
from warehouse.spark.session import (
    broadcast_threshold_bytes,
    jvm_megabytes,
    master_url,
    py4j_retry_in_one_line,
    shuffle_partitions,
    sized_settings,
)

GIB = 1024**3


def test_auto_gives_the_driver_half_of_a_24_gib_machine_and_all_its_cpus():
    settings = SparkConfig()
    sized = sized_settings(settings, 24 * GIB)
    assert sized["spark.driver.memory"] == "12288m"
    assert sized["spark.driver.maxResultSize"] == "6144m"  # a national month's results exceed Spark's 1 GB
    assert sized["spark.sql.session.timeZone"] == "UTC"
    assert master_url(settings, 2) == "local[2]"
    assert master_url(SparkConfig(master="yarn"), 2) == "yarn"


def test_a_small_machine_still_gets_spark_default_heap():
    assert sized_settings(SparkConfig(), 1 * GIB)["spark.driver.memory"] == "1024m"


def test_written_settings_win_over_the_sized_ones():
    explicit = SparkConfig(settings={"spark.driver.memory": "4g", "spark.driver.maxResultSize": "3g"})
    sized = sized_settings(explicit, 24 * GIB)
    assert (sized["spark.driver.memory"], sized["spark.driver.maxResultSize"]) == ("4g", "3g")
    assert sized_settings(SparkConfig(driver_memory="8g"), 24 * GIB)["spark.driver.memory"] == "8192m"


def test_under_spark_submit_the_driver_memory_is_spark_submits():
    sized = sized_settings(SparkConfig(), 24 * GIB, submitted=True)
    assert "spark.driver.memory" not in sized and "spark.driver.maxResultSize" not in sized


def test_broadcast_threshold_is_a_share_of_the_smallest_heap_holding_the_table():
    settings = SparkConfig()
    assert broadcast_threshold_bytes(settings, "local[2]", "12g", "1g") == 12 * 1024 * 1024  # executor = driver
    assert broadcast_threshold_bytes(settings, "yarn", "12g", "4g") == 4 * 1024 * 1024
    assert broadcast_threshold_bytes(SparkConfig(broadcast_heap_ratio=64), "yarn", "1g", "8g") == 16 * 1024 * 1024


def test_shuffle_partitions_follow_the_input_with_two_per_core_at_least():
    assert shuffle_partitions(4_100_000_000, 2, 64) == 62  # a national warehouse, 4.1 GB
    assert shuffle_partitions(5_000_000, 2, 64) == 4  # the small population
    assert shuffle_partitions(5_000_000, 40, 64) == 80  # a cluster of 40 cores


@pytest.mark.parametrize("size, megabytes", [("512m", 512), ("12g", 12288), ("1024", 1024), ("1t", 1048576), ("2048k", 2)])
def test_jvm_memory_sizes(size, megabytes):
    assert jvm_megabytes(size) == megabytes


@pytest.mark.parametrize("section, message", [
    ({"driver_memory": "12 GB"}, "driver_memory"),
    ({"master": "local[two]"}, "master"),
    ({"driver_memory_share": 0.9}, "driver_memory_share"),
    ({"settings": {"spark.master": "yarn"}}, "spark.master is given by `master`"),
    ({"driver_memory": "8g", "settings": {"spark.driver.memory": "4g"}}, "give the driver's memory once"),
    ({"settings": {"spark.sql.shuffle.partitions": "many"}}, "positive integer"),
    ({"settings": {"spark.executor.memory": "4 GB"}}, "spark.executor.memory must be a size"),
])
def test_bad_spark_settings_are_refused_before_any_work(section, message):
    with pytest.raises(ValueError, match=message):
        Config.model_validate({"spark": section})


def test_machine_limits_come_from_the_container_when_lower(tmp_path):
    (tmp_path / "memory.max").write_text("8589934592\n")
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    assert machine_memory_bytes(tmp_path) == 8 * GIB
    assert usable_cpus(tmp_path) == 1
    (tmp_path / "memory.max").write_text("max\n")
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert machine_memory_bytes(tmp_path) > 0 and usable_cpus(tmp_path) >= 1


def test_py4j_notes_of_a_command_sent_again_are_one_line_but_not_its_warnings():
    gateway = os.path.join(os.sep, "venv", "site-packages", "py4j", "java_gateway.py")

    def filtered(name: str, level: int, path: str) -> logging.LogRecord:
        record = logging.LogRecord(name, level, path, 1056, "Exception while sending command.", None,
                                   (ConnectionResetError, ConnectionResetError(104, "reset"), None))
        assert py4j_retry_in_one_line(record)
        return record

    note = filtered("root", logging.INFO, gateway)
    assert note.exc_info is None and note.getMessage().startswith("py4j sent a command again on a new connection")
    for kept in (filtered("root", logging.ERROR, gateway), filtered("root", logging.INFO, "/work/features/build.py"),
                 filtered("champollion.spark", logging.INFO, gateway)):
        assert kept.exc_info is not None and kept.getMessage() == "Exception while sending command."
