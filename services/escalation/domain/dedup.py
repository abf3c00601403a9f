"""Near-duplicate detection on redacted text: MinHash signatures, LSH band keys, an index of clusters."""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import MutableMapping
from dataclasses import dataclass

import numpy as np

from services.contracts.models import RedactedInteraction, Role
from services.escalation.domain.policy import DedupSpec

# Redaction placeholders are numbered per interaction (<PERSON_1>, <PERSON_2>); the number is noise.
_PLACEHOLDER = re.compile(r"<([A-Z][A-Z_]*?)_\d+>")
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"<[a-z_]+>|\w+")


def normalize(text: str) -> list[str]:
    """The words of a text with case, numbers, punctuation and placeholder numbering removed."""
    text = _PLACEHOLDER.sub(lambda m: f"<{m.group(1).lower()}>", text)
    text = _DIGITS.sub("0", text.casefold())
    return _WORD.findall(text)


def dedup_text(interaction: RedactedInteraction) -> str:
    """What makes two interactions the same item to review: the user's turns and the response."""
    turns = [message.content for message in interaction.messages if message.role is Role.user]
    return "\n".join([*turns, interaction.response])


# MinHash permutations by multiply-shift hashing, h(x) = ((a*x + b) mod 2**64) >> 32, over 32-bit
# shingle hashes (uint64 arithmetic wraps, which is the mod). A fixed seed: every worker, the bench
# and the offline command compute the same signature.
_PERMUTATIONS = 256
_RNG = np.random.default_rng(20261127)
_A = _RNG.integers(0, 1 << 63, size=_PERMUTATIONS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_B = _RNG.integers(0, 1 << 63, size=_PERMUTATIONS, dtype=np.uint64)
_SHIFT = np.uint64(32)

Fingerprint = tuple[str, ...]
"""LSH band keys of an item's MinHash signature; near-duplicates share at least one, very likely."""


def minhash(words: list[str], shingle_words: int, permutations: int) -> np.ndarray:
    """The MinHash signature of a word sequence's shingles (`permutations` unsigned 64-bit values)."""
    size = max(1, min(shingle_words, len(words)))
    shingles = {" ".join(words[i : i + size]) for i in range(max(1, len(words) - size + 1))}
    # crc32 only spreads shingles over 32 bits; the multiply-shift permutations do the mixing.
    hashes = np.fromiter((zlib.crc32(s.encode()) for s in shingles), dtype=np.uint64, count=len(shingles))
    mixed = (hashes[:, None] * _A[None, :permutations] + _B[None, :permutations]) >> _SHIFT
    signature: np.ndarray = mixed.min(axis=0)
    return signature


def band_keys(signature: np.ndarray, bands: int, rows: int) -> Fingerprint:
    """One key per band of `rows` signature values: two items share a band key with probability J**rows."""
    # A random linear combination of a band's values mod 2**64 stands for the band (collisions ~2**-64).
    folded = (signature[: bands * rows].reshape(bands, rows) * _A[:rows]).sum(axis=1, dtype=np.uint64)
    return tuple(f"{band}:{int(value):x}" for band, value in enumerate(folded))


def fingerprint(interaction: RedactedInteraction, spec: DedupSpec) -> Fingerprint:
    """The LSH band keys of an interaction's redacted text."""
    signature = minhash(normalize(dedup_text(interaction)), spec.shingle_words, spec.bands * spec.rows)
    return band_keys(signature, spec.bands, spec.rows)


def similarity_threshold(spec: DedupSpec) -> float:
    """The Jaccard similarity at which two items share a band key with probability about one half."""
    return float((1.0 / spec.bands) ** (1.0 / spec.rows))


@dataclass(frozen=True, slots=True)
class ClusterMatch:
    """The cluster an item belongs to, and whether it started it."""

    cluster_id: str
    new: bool


class ClusterIndex:
    """Clusters of near-duplicates per queue, kept in any mutable mapping (a Faust table in the service).

    One entry per cluster: `<queue>|<cluster id>` -> the band keys the cluster claimed, so indexing
    an item is one write, not one per band key. A band key belongs to the first cluster that claimed
    it and no other entry lists it, so the band key -> cluster index kept in memory can be rebuilt
    from the entries in any order: `reload` after the mapping changed under it (a worker's
    partitions moved and their tables were recovered). A queue's entries live with its other state.
    An item joins the cluster most of its matching band keys point to; with none, it starts a cluster.
    """

    def __init__(self, clusters: MutableMapping[str, list[str]]) -> None:
        self.clusters = clusters
        self._bands: dict[str, str] | None = None

    def reload(self) -> None:
        """Rebuild the band index from the entries at its next use."""
        self._bands = None

    def _index(self) -> dict[str, str]:
        if self._bands is None:
            bands: dict[str, str] = {}
            for entry, keys in self.clusters.items():
                queue, _, cluster_id = entry.partition("|")
                for key in keys or ():
                    bands[f"{queue}|{key}"] = cluster_id
            self._bands = bands
        return self._bands

    def find(self, queue: str, keys: Fingerprint) -> str | None:
        """The id of the cluster an item's band keys point to most often, if any."""
        bands = self._index()
        votes: dict[str, int] = {}
        for key in keys:
            cluster_id = bands.get(f"{queue}|{key}")
            if cluster_id is not None:
                votes[cluster_id] = votes.get(cluster_id, 0) + 1
        if not votes:
            return None
        return min(votes, key=lambda cluster_id: (-votes[cluster_id], cluster_id))

    def assign(self, queue: str, keys: Fingerprint) -> ClusterMatch:
        """The cluster of an item, indexing its band keys; a new cluster when no band key is known."""
        found = self.find(queue, keys)
        cluster_id = found or hashlib.blake2b("|".join(keys).encode(), digest_size=8).hexdigest()
        bands = self._index()
        # A band key already taken keeps its cluster; new keys of a member widen its cluster's net.
        claimed = [key for key in dict.fromkeys(keys) if f"{queue}|{key}" not in bands]
        if claimed:
            for key in claimed:
                bands[f"{queue}|{key}"] = cluster_id
            entry = f"{queue}|{cluster_id}"
            self.clusters[entry] = [*(self.clusters.get(entry) or ()), *claimed]
        return ClusterMatch(cluster_id, new=found is None)
