"""Random streams: one numpy Generator per replication, purpose and node.

Every stream descends from the scenario's seed through a SeedSequence spawn key
``(replication, hash(purpose))``. A stream depends only on its own name, not on the order in which
streams are created, the other nodes of the plant or the worker that runs the replication: policies
compared on the same seed see the same failures, repairs and process times (common random numbers).
"""

from __future__ import annotations

import hashlib

import numpy as np


def stream_key(name: str) -> int:
    """A stable 64-bit key of a stream name (BLAKE2b), independent of Python's hash seed."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")


def replication_seed(seed: int, replication: int) -> np.random.SeedSequence:
    """The seed sequence of one replication: child ``replication`` of ``SeedSequence(seed)``."""
    return np.random.SeedSequence(seed, spawn_key=(replication,))


class Streams:
    """Factory of the named random streams of one replication."""

    def __init__(self, seed: int, replication: int) -> None:
        self.seed = seed
        self.replication = replication

    def rng(self, name: str) -> np.random.Generator:
        """The random stream ``name`` of this replication: a PCG64 Generator seeded by (seed,
        replication, ``stream_key(name)``)."""
        sequence = np.random.SeedSequence(self.seed, spawn_key=(self.replication, stream_key(name)))
        return np.random.Generator(np.random.PCG64(sequence))
