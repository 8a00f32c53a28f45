"""attn_jax.analysis' induction and previous-token scores, their uniform null and the in-context
learning score, on synthetic attention with a known answer: hand values, perfect and uniform
heads, and a loop reference over odd-sized head axes (3 sequences, 2 layers, 5 heads, n = 11)."""

import numpy as np
import pytest

from attn_jax.analysis import (
    in_context_score,
    induction_scores,
    previous_token_scores,
    previous_token_targets,
    target_attention,
    uniform_target_attention,
)

N, L, H, n = 3, 2, 5, 11


def causal_uniform(n: int) -> np.ndarray:
    return np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None]


def one_hot_rows(keys) -> np.ndarray:
    """Attention that puts all of row t on key ``keys[t]``."""
    att = np.zeros((len(keys), len(keys)))
    att[np.arange(len(keys)), keys] = 1.0
    return att


def repeated_sequence_targets(first: int, second: int) -> np.ndarray:
    """Targets of the classic probe, a random sequence of ``first`` tokens whose first ``second``
    repeat right after it: query first + i targets key i + 1 (the token after its first copy)."""
    t = np.full(first + second, -1)
    t[first: first + second] = np.arange(1, second + 1)
    return t


def test_hand_values():
    att = np.array([[[1.0, 0.0, 0.0], [0.25, 0.75, 0.0], [0.2, 0.3, 0.5]]])  # [1, 3, 3]
    assert previous_token_scores(att) == pytest.approx((0.25 + 0.3) / 2)
    assert induction_scores(att, np.array([[-1, -1, 1]])) == pytest.approx(0.3)
    assert induction_scores(att, np.array([[-1, 0, 1]])) == pytest.approx((0.25 + 0.3) / 2)
    np.testing.assert_array_equal(previous_token_targets(2, 4), [[-1, 0, 1, 2], [-1, 0, 1, 2]])


def test_perfect_heads_score_one_and_uniform_heads_score_the_null():
    targets = np.stack([repeated_sequence_targets(6, 5), repeated_sequence_targets(7, 4),
                        repeated_sequence_targets(8, 3)])  # [N, n], n = 11
    att = np.broadcast_to(causal_uniform(n), (N, L, H, n, n)).copy()
    for i in range(N):
        # layer 2 head 4: induction (rows without a target stay uniform); layer 1 head 2: previous token
        scored = targets[i] >= 0
        att[i, 1, 3][scored] = one_hot_rows(np.where(scored, targets[i], 0))[scored]
        att[i, 0, 1] = one_hot_rows(np.maximum(np.arange(n) - 1, 0))
    ind, prev = induction_scores(att, targets), previous_token_scores(att)
    assert ind.shape == prev.shape == (L, H)
    assert ind[1, 3] == pytest.approx(1.0) and prev[0, 1] == pytest.approx(1.0)
    # A uniform head scores the mean of 1 / (t + 1) over the scored queries: the uniform null.
    queries = np.concatenate([np.arange(6, 11), np.arange(7, 11), np.arange(8, 11)])
    expected = np.mean(1.0 / (queries + 1))
    assert uniform_target_attention(targets) == pytest.approx(expected)
    assert ind[0, 0] == pytest.approx(expected) and ind[1, 4] == pytest.approx(expected)
    expected_prev = np.mean(1.0 / np.arange(2, n + 1))  # queries 1 .. n - 1 see t + 1 keys
    assert prev[0, 0] == pytest.approx(expected_prev)
    assert uniform_target_attention(previous_token_targets(N, n)) == pytest.approx(expected_prev)
    assert uniform_target_attention(targets, causal=False) == pytest.approx(1.0 / n)
    # The previous-token head is not an induction head, and the other way round.
    assert ind[0, 1] < 0.2 and prev[1, 3] < 0.3


def test_scores_match_a_loop_reference_on_random_attention():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(N, L, H, n, n)) + np.where(np.tril(np.ones((n, n))), 0.0, -np.inf)
    att = np.exp(logits - logits.max(-1, keepdims=True))
    att /= att.sum(-1, keepdims=True)
    targets = np.where(rng.random((N, n)) < 0.4, rng.integers(0, n, (N, n)), -1)
    ref = np.zeros((L, H))
    count = 0
    for i in range(N):
        for t in range(n):
            if targets[i, t] >= 0:
                ref += att[i, :, :, t, targets[i, t]]
                count += 1
    np.testing.assert_allclose(target_attention(att, targets), ref / count, rtol=1e-12)
    # One head alone, no head axes: [N, n, n] -> a scalar.
    np.testing.assert_allclose(target_attention(att[:, 1, 2], targets), ref[1, 2] / count, rtol=1e-12)
    # float32 attention (a model's) gives the same in float64.
    assert target_attention(att.astype(np.float32), targets).dtype == np.float64


def test_bad_inputs_are_refused():
    att = np.broadcast_to(causal_uniform(n), (N, H, n, n))
    with pytest.raises(ValueError, match="no query has a target"):
        target_attention(att, np.full((N, n), -1))
    with pytest.raises(ValueError, match=r"\[N, \.\.\., n, n\]"):
        target_attention(att, np.zeros((N, n - 2), int))
    with pytest.raises(ValueError, match=r"\[N, \.\.\., n, n\]"):
        target_attention(att[:2], np.zeros((N, n), int))
    with pytest.raises(ValueError, match="past the last position"):
        target_attention(att, np.full((N, n), n))


def test_in_context_score():
    losses = np.array([[4.0, 4.0, 3.0, 1.0, 2.0], [4.0, 4.0, 4.0, 4.0, 4.0]])  # [2, n = 5]
    np.testing.assert_allclose(in_context_score(losses, slice(0, 2), slice(3, 5)), [-2.5, 0.0])
    np.testing.assert_allclose(in_context_score(losses, [1], [2]), [-1.0, 0.0])
