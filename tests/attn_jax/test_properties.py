"""Invariants of attention, checked on random shapes and values with hypothesis."""

import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import jax

import attn_jax

# jit: one compile per distinct shape (hypothesis revisits shapes), instead of one per op per shape
attention = jax.jit(attn_jax.dot_product_attention)
dims = st.sampled_from([1, 2, 3, 5])  # a few odd sizes: compiles are shared across examples
floats = st.floats(-3, 3, width=32)


@st.composite
def problem(draw):
    t, s, d = draw(dims), draw(dims), draw(dims)
    q = draw(arrays(np.float32, (t, d), elements=floats))
    k = draw(arrays(np.float32, (s, d), elements=floats))
    v = draw(arrays(np.float32, (s, d), elements=floats))
    mask = draw(arrays(np.bool_, (t, s)))
    return q, k, v, mask


SETTINGS = settings(max_examples=50, deadline=None)


@SETTINGS
@given(problem())
def test_rows_sum_to_one_or_zero(p):
    q, k, v, mask = p
    _, w = attention(q, k, v, jnp.asarray(mask))
    sums = np.asarray(w).sum(-1)
    expected = np.where(mask.any(-1), 1.0, 0.0)
    np.testing.assert_allclose(sums, expected, atol=1e-5)


@SETTINGS
@given(problem())
def test_masked_keys_get_exactly_zero(p):
    q, k, v, mask = p
    _, w = attention(q, k, v, jnp.asarray(mask))
    assert np.all(np.asarray(w)[~mask] == 0.0)


@SETTINGS
@given(problem(), st.randoms(use_true_random=False))
def test_permutation_equivariance(p, rnd):
    # Permuting keys and values together leaves the output unchanged and permutes weight columns;
    # permuting queries permutes output rows.
    q, k, v, _ = p
    kp = list(range(k.shape[0]))
    qp = list(range(q.shape[0]))
    rnd.shuffle(kp)
    rnd.shuffle(qp)
    out, w = attention(q, k, v)
    out2, w2 = attention(q[qp], k[kp], v[kp])
    np.testing.assert_allclose(np.asarray(out2), np.asarray(out)[qp], atol=1e-5)
    np.testing.assert_allclose(np.asarray(w2), np.asarray(w)[qp][:, kp], atol=1e-6)


@SETTINGS
@given(problem(), st.integers(1, 4), floats)
def test_padding_does_not_change_unmasked_outputs(p, extra, pad_value):
    q, k, v, mask = p
    d = q.shape[1]
    k2 = np.concatenate([k, np.full((extra, d), pad_value, np.float32)])
    v2 = np.concatenate([v, np.full((extra, d), pad_value, np.float32)])
    mask2 = np.concatenate([mask, np.zeros((mask.shape[0], extra), bool)], axis=1)
    out, w = attention(q, k, v, jnp.asarray(mask))
    out2, w2 = attention(q, k2, v2, jnp.asarray(mask2))
    np.testing.assert_allclose(np.asarray(out2), np.asarray(out), atol=1e-6)
    np.testing.assert_allclose(np.asarray(w2)[:, : k.shape[0]], np.asarray(w), atol=1e-7)
