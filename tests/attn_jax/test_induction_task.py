"""attn_jax.tasks' copy task: the copy is where the batch says, its offsets vary, and the induction
targets and loss masks match a brute-force reference that reads only the tokens. Odd sizes
(vocabulary 13, length 29, spans 5-7; hand cases of length 9) so that swapped axes fail."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax.tasks import CopyTask, induction_targets, sample_copy_batch

TASK = CopyTask(vocab_size=13, length=29, min_span=5, max_span=7)
B = 301


@partial(jax.jit, static_argnums=(1, 2, 3))
def sample(key, task=TASK, batch_size=B, repeat=True):
    """One compile per shape instead of op-by-op dispatch (compiles are slow here)."""
    return sample_copy_batch(key, task, batch_size, repeat)


def reference_targets(tokens: np.ndarray, copied: np.ndarray) -> np.ndarray:
    """Brute force from the tokens alone: at a copied position, scan back for earlier
    occurrences of its token; exactly one gives the position after it, else -1."""
    out = np.full(tokens.shape, -1)
    for i, row in enumerate(tokens):
        for t in np.flatnonzero(copied[i]):
            hits = [j for j in range(t) if row[j] == row[t]]
            if len(hits) == 1:
                out[i, t] = hits[0] + 1
    return out


def test_hand_checked_targets():
    # Row 0: [7, 1, 8] at 1..3 copied to 5..7; an 8 also sits at 4, so the 8 at 7 has two earlier
    # occurrences: no target. Row 1: [5, 6, 0] at 0..2 copied to 3..5; the 5 at 8 is no copy.
    tokens = jnp.array([[2, 7, 1, 8, 8, 7, 1, 8, 4], [5, 6, 0, 5, 6, 0, 2, 3, 5]], jnp.int32)
    copied = jnp.zeros((2, 9), bool).at[0, 5:8].set(True).at[1, 3:6].set(True)
    got = induction_targets(tokens, copied, jnp.array([4, 3], jnp.int32))
    np.testing.assert_array_equal(got, [[-1, -1, -1, -1, -1, 2, 3, -1, -1], [-1, -1, -1, 1, 2, 3, -1, -1, -1]])


@pytest.mark.parametrize("seed", [0, 1])
def test_copy_structure_and_targets_match_a_reference(seed):
    batch = sample(jax.random.PRNGKey(seed))
    tokens, a, b, span, copied, predictable, target = (np.asarray(x) for x in batch)
    t = TASK.length
    assert tokens.shape == copied.shape == target.shape == (B, t) and tokens.dtype == np.int32
    assert ((tokens >= 0) & (tokens < TASK.vocab_size)).all()
    assert ((span >= TASK.min_span) & (span <= TASK.max_span)).all()
    assert (a >= 0).all() and (b >= a + span).all() and (b + span <= t).all(), "copy overlaps or overflows"
    pos = np.arange(t)
    for i in range(B):
        np.testing.assert_array_equal(tokens[i, b[i]: b[i] + span[i]], tokens[i, a[i]: a[i] + span[i]])
        np.testing.assert_array_equal(copied[i], (pos >= b[i]) & (pos < b[i] + span[i]))
        np.testing.assert_array_equal(predictable[i], (pos >= b[i]) & (pos < b[i] + span[i] - 1))
    ref = reference_targets(tokens, copied)
    np.testing.assert_array_equal(target, ref)
    # The target is the token after the source: where it is given, the token there is the next
    # copied token (except for the last token of the copy, whose target is just past the source).
    rows, ts = np.nonzero((target >= 0) & predictable)
    np.testing.assert_array_equal(tokens[rows, target[rows, ts]], tokens[rows, ts + 1])
    # Chance repeats are common at this vocabulary, so some copied positions have no target.
    assert 0 < (target >= 0).sum() < copied.sum()


def test_offsets_and_places_vary():
    # A fixed offset would let a 1-layer model with learned positions find the copy by position.
    batch = sample(jax.random.PRNGKey(2))
    a, b, span = (np.asarray(x) for x in (batch.source, batch.start, batch.span))
    assert set(span.tolist()) == set(range(TASK.min_span, TASK.max_span + 1))
    for length in range(TASK.min_span, TASK.max_span + 1):
        rows = span == length
        assert len(set((b - a)[rows].tolist())) >= 3 and len(set(a[rows].tolist())) >= 3, length


def test_no_repeat_twin_keeps_positions_and_targets():
    key = jax.random.PRNGKey(3)
    with_copy, twin = sample(key), sample(key, TASK, B, False)
    for name in ("source", "start", "span", "copied", "predictable", "induction_target"):
        np.testing.assert_array_equal(getattr(with_copy, name), getattr(twin, name), err_msg=name)
    copied = np.asarray(with_copy.copied)
    np.testing.assert_array_equal(np.asarray(with_copy.tokens)[~copied], np.asarray(twin.tokens)[~copied])
    # The fresh tokens at the copy's places mostly differ from the source's.
    assert (np.asarray(with_copy.tokens)[copied] != np.asarray(twin.tokens)[copied]).mean() > 0.8


def test_sampling_is_a_pure_function_of_the_key():
    a, b, c = sample(jax.random.PRNGKey(5)), sample(jax.random.PRNGKey(5)), sample(jax.random.PRNGKey(6))
    np.testing.assert_array_equal(a.tokens, b.tokens)
    assert not np.array_equal(a.tokens, c.tokens)
    np.testing.assert_array_equal(TASK.sample(jax.random.PRNGKey(5), B).tokens, a.tokens)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="min_span <= max_span"):
        CopyTask(min_span=7, max_span=5)
    with pytest.raises(ValueError, match="2 \\* max_span <= length"):
        CopyTask(length=23, max_span=12)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        CopyTask(vocab_size=1)
