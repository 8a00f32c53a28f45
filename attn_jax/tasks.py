"""Associative recall: a synthetic task where the right place to look is known.

A sequence lists n key-value pairs, then repeats one of the keys as the query; the target is the
value that followed that key::

    position:  0   1   2   3  ...  2n-2  2n-1  2n
    token:     k1  v1  k2  v2 ...  kn    vn    q        target: v_i where k_i == q

Keys are distinct within a sequence, so the answer is always recoverable from the input: find the
earlier copy of the query key (position 2i) and read the token after it (position 2i + 1). Values
may repeat. Token ids: values are ``0 .. V-1`` (so a value's id is also its class index), keys are
``V .. V+K-1``. Length T = 2n + 1; the query is at position 2n.

Distance: the number of positions from the queried key to the query,
``distance = query_position - key_position = 2 (n - i)`` for pair i (0-based), so it runs from 2
(the last pair) to 2n (the first). Every pair after the queried one is a distractor that a
recurrent model reads past while it must keep the fact. In training the queried pair is uniform;
:func:`sample_batch` can also fix the distance, to measure accuracy against distance.

Generators are pure functions of a ``jax.random`` key (deterministic, jit- and device-friendly),
so training batches are drawn inside the compiled training loop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["RecallTask", "RecallBatch", "sample_batch", "token_labels"]

_KEY_NAMES = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class RecallTask:
    """Sizes of an associative-recall task: n pairs, K key tokens, V value tokens (= classes)."""

    num_pairs: int = 8  # n
    num_keys: int = 16  # K >= n: the key vocabulary each sequence draws its n distinct keys from
    num_values: int = 10  # V: the answer classes; chance accuracy is 1 / V

    def __post_init__(self):
        if not 1 <= self.num_pairs <= self.num_keys:
            raise ValueError(f"need 1 <= num_pairs <= num_keys, got {self.num_pairs}, {self.num_keys}")
        if self.num_values < 2:
            raise ValueError(f"need at least 2 values, got {self.num_values}")

    @property
    def length(self) -> int:
        """T = 2n + 1 tokens: n pairs and the query."""
        return 2 * self.num_pairs + 1

    @property
    def vocab_size(self) -> int:
        return self.num_values + self.num_keys

    @property
    def query_position(self) -> int:
        return 2 * self.num_pairs

    @property
    def distances(self) -> tuple[int, ...]:
        """Every distance from a queried key to the query: 2, 4, ..., 2n."""
        return tuple(range(2, 2 * self.num_pairs + 1, 2))

    def to_dict(self) -> dict:
        return asdict(self)


class RecallBatch(NamedTuple):
    tokens: jax.Array  # int32 [B, T]
    query: jax.Array  # int32 [B], position of the query token (2n), where models read out
    targets: jax.Array  # int32 [B], the value id (= class) to predict
    pair: jax.Array  # int32 [B], index i of the queried pair: key at 2i, value at 2i + 1


def sample_batch(
    key: jax.Array, task: RecallTask, batch_size: int, distance: int | None = None
) -> RecallBatch:
    """Draw ``batch_size`` sequences. The queried pair is uniform over the n pairs, or, with
    ``distance`` given, the pair whose key is exactly ``distance`` positions before the query."""
    n, b = task.num_pairs, batch_size
    k_keys, k_values, k_pair = jax.random.split(key, 3)
    # n distinct keys per sequence: the first n of a random permutation of the K key ids.
    order = jnp.argsort(jax.random.uniform(k_keys, (b, task.num_keys)), axis=-1)
    keys = (order[:, :n] + task.num_values).astype(jnp.int32)  # [B, n]
    values = jax.random.randint(k_values, (b, n), 0, task.num_values, dtype=jnp.int32)  # [B, n]
    if distance is None:
        pair = jax.random.randint(k_pair, (b,), 0, n, dtype=jnp.int32)
    else:
        if distance not in task.distances:
            raise ValueError(f"distance must be one of {task.distances} for n={n}, got {distance}")
        pair = jnp.full((b,), n - distance // 2, dtype=jnp.int32)
    rows = jnp.arange(b)
    pairs = jnp.stack([keys, values], axis=-1).reshape(b, 2 * n)  # [B, 2n]: k1 v1 k2 v2 ...
    tokens = jnp.concatenate([pairs, keys[rows, pair][:, None]], axis=1)  # [B, T]
    query = jnp.full((b,), 2 * n, dtype=jnp.int32)
    return RecallBatch(tokens, query, values[rows, pair], pair)


def token_labels(task: RecallTask, tokens) -> list[str]:
    """Readable labels for token ids: keys as letters, values as digits."""
    out = []
    for t in (int(x) for x in tokens):
        if t < task.num_values:
            out.append(str(t) if task.num_values <= 10 else f"v{t}")
        else:
            i = t - task.num_values
            out.append(_KEY_NAMES[i] if task.num_keys <= len(_KEY_NAMES) else f"k{i}")
    return out
