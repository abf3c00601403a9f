"""Kafka's murmur2 partitioner, checked against the Java client's published test vectors."""

from __future__ import annotations

import pytest

from services.runtime.partitioning import murmur2, partition_for

# org.apache.kafka.common.utils.UtilsTest#testMurmur2 (signed Java ints).
JAVA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("key", "expected"), JAVA_VECTORS.items())
def test_murmur2_matches_kafkas_java_client(key: bytes, expected: int) -> None:
    assert murmur2(key) == expected & 0xFFFFFFFF


def test_partition_is_the_positive_hash_modulo_the_count() -> None:
    for key, signed in JAVA_VECTORS.items():
        assert partition_for(key, 7) == (signed & 0x7FFFFFFF) % 7
    assert partition_for(b"anything", 1) == 0
    assert {partition_for(f"task-{n}".encode(), 3) for n in range(50)} == {0, 1, 2}


def test_a_topic_without_partitions_is_refused() -> None:
    with pytest.raises(ValueError):
        partition_for(b"x", 0)
