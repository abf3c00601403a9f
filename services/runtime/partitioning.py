"""Kafka's default partition for a key (the Java client's murmur2), as Flagstream's producers pick it.

Stateful stages keep their tables on the partition a record's id maps to, so they check where a
record landed against this (`Stage.repartition`): an outside producer may use any partitioner and
key (librdkafka's default is CRC32, `consistent_random`), and such records are sent again by id.
"""

from __future__ import annotations

SEED = 0x9747B28C
M = 0x5BD1E995
MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """The 32-bit murmur2 hash of `data` as Kafka's `Utils.murmur2` computes it (unsigned here)."""
    length = len(data)
    h = (SEED ^ length) & MASK
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * M) & MASK
        k ^= k >> 24
        k = (k * M) & MASK
        h = ((h * M) & MASK) ^ k
    tail = length % 4
    if tail == 3:
        h ^= data[whole + 2] << 16
    if tail >= 2:
        h ^= data[whole + 1] << 8
    if tail >= 1:
        h ^= data[whole]
        h = (h * M) & MASK
    h ^= h >> 13
    h = (h * M) & MASK
    h ^= h >> 15
    return h


def partition_for(key: bytes, partitions: int) -> int:
    """The partition of `key` among `partitions`: positive(murmur2(key)) % partitions, as Kafka's
    Java client, aiokafka (Faust) and librdkafka's `murmur2_random` pick it."""
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, not {partitions}")
    return (murmur2(key) & 0x7FFFFFFF) % partitions
