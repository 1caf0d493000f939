"""Where every random stream of a run starts, from the recipe's one ``train.seed``.

Each process (rank) of a DDP run gets its own dropout stream and its own batch stream; the
strides are primes so that streams of nearby seeds and ranks never coincide. The values are part
of the checkpoint format: changing them would change what a resumed old run draws.
"""

from __future__ import annotations

DROPOUT_STRIDE = 104729  # per-rank torch seed (dropout, noise), after identical initialisation
BATCH_STRIDE = 7919  # per-rank batch stream of sampled tasks (text windows)


def dropout_seed(seed: int, rank: int, step: int = 0) -> int:
    """The torch seed of ``rank`` (``step``: a resumed run reseeded at that step)."""
    return seed + DROPOUT_STRIDE * rank + step


def batch_seed(seed: int, rank: int, step: int = 0) -> int:
    """The seed of ``rank``'s batch stream (``step``: a resumed run reseeded at that step)."""
    return seed + BATCH_STRIDE * rank + step
