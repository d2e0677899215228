"""The random streams of a member: every draw of a run comes from
np.random.default_rng([seed, STREAM, ...]) with one of these stream numbers, so that weights,
data and probes never share a generator, and adding draws to one leaves the others as they
were. Numbers are part of the stored results: changing one changes every run that uses it.
"""

from __future__ import annotations

import numpy as np

INIT = 1  # a member's initial weights
DATA = 2  # a member's training batches
PROBE = 3  # the fixed probe batch (and, with the lag as a third key, memory-span batches)
EMBED = 4  # a member's embedding table
WORD2VEC = 5  # skip-gram training of one seed (subsampling, windows, negatives)
CORPUS = 6  # a corpus task's token stream
TEACHER = 99  # a teacher network, keyed by its own teacher_seed, not by a member's seed


def rng(seed: int, stream: int, *more: int) -> np.random.Generator:
    """The generator of one stream of one seed."""
    return np.random.default_rng([seed, stream, *more])
