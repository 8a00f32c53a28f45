"""Two synthetic tasks where the right place to look is known: associative recall and copying.

**Associative recall** (:class:`RecallTask`, :func:`sample_batch`).

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

**Copying a span** (:class:`CopyTask`, :func:`sample_copy_batch`), the task of induction heads
(Olsson et al. 2022): T tokens drawn uniformly from V, in which one span (6-12 tokens by
default) is copied from a random earlier place (source start a) to a random later place (start
b >= a + span)::

    position:  0 ... a ........ a+span ... b ........ b+span ... T-1
    token:     x ... s1 s2 .. sk ...       s1 s2 .. sk ...            (k = span)

Both a and the offset b - a vary from sequence to sequence, so no position tells a model where
the copy is: it has to find the earlier occurrence of the current token by content and read the
token after it (an induction head), or fail. A copied token at t has its source at t - (b - a);
its *induction target* is the position after that, t - (b - a) + 1. Tokens are i.i.d. elsewhere,
so a token may also occur by chance; the target is only given where it is unambiguous.

Generators are pure functions of a ``jax.random`` key (deterministic, jit- and device-friendly),
so training batches are drawn inside the compiled training loop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "RecallTask", "RecallBatch", "sample_batch", "token_labels",
    "CopyTask", "CopyBatch", "sample_copy_batch", "induction_targets",
]

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

    def sample(self, key: jax.Array, batch_size: int) -> "RecallBatch":
        """:func:`sample_batch` with every pair equally likely (what training draws)."""
        return sample_batch(key, self, batch_size)


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


# --- copying a span: the induction task -----------------------------------------------------


@dataclass(frozen=True)
class CopyTask:
    """Sizes of the copy task: T tokens drawn from V; one span of ``min_span..max_span`` copied."""

    vocab_size: int = 64  # V
    length: int = 48  # T
    min_span: int = 6
    max_span: int = 12

    def __post_init__(self):
        if not 1 <= self.min_span <= self.max_span:
            raise ValueError(f"need 1 <= min_span <= max_span, got {self.min_span}, {self.max_span}")
        if 2 * self.max_span > self.length:
            raise ValueError(f"a span and its copy must fit: need 2 * max_span <= length, "
                             f"got max_span {self.max_span}, length {self.length}")
        if self.vocab_size < 2:
            raise ValueError(f"need at least 2 tokens, got {self.vocab_size}")

    def to_dict(self) -> dict:
        return asdict(self)

    def sample(self, key: jax.Array, batch_size: int) -> "CopyBatch":
        """:func:`sample_copy_batch` with the copy in place (what training draws)."""
        return sample_copy_batch(key, self, batch_size)


class CopyBatch(NamedTuple):
    tokens: jax.Array  # int32 [B, T]
    source: jax.Array  # int32 [B], a: where the copied span starts
    start: jax.Array  # int32 [B], b >= a + span: where its copy starts
    span: jax.Array  # int32 [B], the span's length
    copied: jax.Array  # bool [B, T], the positions of the copy, b .. b + span - 1
    # bool [B, T]: the token after t is predictable from an earlier one (t and t + 1 both copied)
    predictable: jax.Array
    # int32 [B, T]: at a copied position t whose token occurs exactly once before t (at its
    # source t - (b - a)), the induction target t - (b - a) + 1; -1 elsewhere
    induction_target: jax.Array


def sample_copy_batch(key: jax.Array, task: CopyTask, batch_size: int, repeat: bool = True) -> CopyBatch:
    """Draw ``batch_size`` sequences, each with one span copied to a later place.

    Span ~ uniform on ``min_span..max_span``; then x, y ~ uniform on ``0..T - 2 span``, a = min,
    b = max + span, so the copy never overlaps its source and both offsets vary. With
    ``repeat=False`` the same key gives the same sequences with the copy left out (fresh random
    tokens at b ..), and the same positions and targets: the "no repeat" twin that a null score
    is measured on.
    """
    b, t = batch_size, task.length
    k_tokens, k_span, k_place = jax.random.split(key, 3)
    drawn = jax.random.randint(k_tokens, (b, t), 0, task.vocab_size, dtype=jnp.int32)
    span = jax.random.randint(k_span, (b,), task.min_span, task.max_span + 1, dtype=jnp.int32)
    xy = jax.random.randint(k_place, (b, 2), 0, (t - 2 * span + 1)[:, None], dtype=jnp.int32)
    source, start = xy.min(axis=1), xy.max(axis=1) + span
    pos = jnp.arange(t, dtype=jnp.int32)[None, :]  # [1, T]
    copied = (pos >= start[:, None]) & (pos < (start + span)[:, None])  # [B, T]
    from_pos = pos - (start - source)[:, None]  # [B, T]: where a copied token comes from
    tokens = jnp.where(copied, jnp.take_along_axis(drawn, jnp.clip(from_pos, 0, t - 1), axis=1), drawn)
    target = induction_targets(tokens, copied, start - source)
    predictable = copied & jnp.concatenate([copied[:, 1:], jnp.zeros((b, 1), bool)], axis=1)
    return CopyBatch(tokens if repeat else drawn, source, start, span, copied, predictable, target)


def induction_targets(tokens: jax.Array, copied: jax.Array, offset: jax.Array) -> jax.Array:
    """tokens int ``[B, T]``, copied bool ``[B, T]``, offset int ``[B]`` (b - a: how far each
    copy lies after its source) -> int32 ``[B, T]``: ``t - offset + 1`` at a copied position t
    whose token occurs exactly once before t, -1 elsewhere.

    A chance repeat of the token elsewhere makes the target ambiguous (an induction head would
    split its attention between the occurrences), so such positions get none.
    """
    pos = jnp.arange(tokens.shape[1], dtype=jnp.int32)
    same = tokens[:, :, None] == tokens[:, None, :]  # [B, T, S]: query t's token at key s
    earlier = (same & (pos[None, :] < pos[:, None])[None]).sum(-1)  # [B, T]
    return jnp.where(copied & (earlier == 1), pos[None, :] - offset[:, None] + 1, -1).astype(jnp.int32)
