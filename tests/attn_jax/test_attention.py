"""The attention core against NumPy float64 and jax.nn.dot_product_attention, with odd sizes so
that swapped axes fail (T=3, S=5, H=7, D=11)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tests.helpers import reference_attention

import attn_jax
from attn_jax.attention import causal_mask, padding_mask

B, T, S, H, D = 2, 3, 5, 7, 11


def rand(shape, seed, dtype=jnp.float32):
    return jax.random.normal(jax.random.PRNGKey(seed), shape).astype(dtype)


def test_steps_by_hand():
    # Two keys; the query is aligned with the first. scores = [4, 0], scaled by 1/sqrt(4) = [2, 0].
    q = jnp.array([[2.0, 0.0, 0.0, 0.0]])
    k = jnp.array([[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0]])
    v = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    scores = attn_jax.attention_scores(q, k)
    np.testing.assert_allclose(scores, [[4.0, 0.0]])
    scaled = attn_jax.scale_scores(scores, 4)
    np.testing.assert_allclose(scaled, [[2.0, 0.0]])
    w = attn_jax.softmax_weights(scaled)
    e2 = np.exp(2.0)
    np.testing.assert_allclose(w, [[e2 / (e2 + 1), 1 / (e2 + 1)]], rtol=1e-6)
    out = attn_jax.weighted_sum(w, v)
    np.testing.assert_allclose(out, w, rtol=1e-6)  # v is the identity


@pytest.mark.parametrize("use_mask", [False, True])
def test_one_head_matches_numpy(use_mask):
    q, k, v = rand((T, D), 0), rand((S, D), 1), rand((S, 13), 2)
    mask = np.random.default_rng(0).random((T, S)) > 0.4 if use_mask else None
    if mask is not None:
        mask[:, 0] = True
    out, w = attn_jax.dot_product_attention(q, k, v, None if mask is None else jnp.asarray(mask))
    ref_out, ref_w = reference_attention(q, k, v, mask)
    assert out.shape == (T, 13) and w.shape == (T, S)
    np.testing.assert_allclose(w, ref_w, atol=2e-6)
    np.testing.assert_allclose(out, ref_out, atol=2e-6)


@pytest.mark.parametrize("dtype,atol", [(jnp.float32, 2e-6), (jnp.bfloat16, 3e-2)])
def test_multi_head_matches_numpy_and_jax_nn(dtype, atol):
    q, k, v = rand((B, T, H, D), 3, dtype), rand((B, S, H, D), 4, dtype), rand((B, S, H, D), 5, dtype)
    mask = jnp.asarray(np.random.default_rng(1).random((B, H, T, S)) > 0.3).at[..., 0].set(True)
    out, w = attn_jax.multi_head_attention(q, k, v, mask)
    assert out.shape == (B, T, H, D) and w.shape == (B, H, T, S)
    assert out.dtype == dtype and w.dtype == jnp.float32
    q, k, v, mask, w, out = (np.asarray(a, np.float32) for a in (q, k, v, mask, w, out))
    mask = mask.astype(bool)
    for b in range(B):
        for h in range(H):
            ref_out, ref_w = reference_attention(q[b, :, h], k[b, :, h], v[b, :, h], mask[b, h])
            np.testing.assert_allclose(w[b, h], ref_w, atol=atol)
            np.testing.assert_allclose(out[b, :, h], ref_out, atol=atol * 4)
    with jax.numpy_dtype_promotion("standard"):  # jax.nn itself mixes bfloat16 and float32
        expected = jax.nn.dot_product_attention(*(jnp.asarray(a, dtype) for a in (q, k, v)), mask=jnp.asarray(mask))
    np.testing.assert_allclose(out, np.asarray(expected, np.float32), atol=atol * 4)


def test_causal_and_padding_match_jax_nn():
    q, k, v = rand((B, S, H, D), 6), rand((B, S, H, D), 7), rand((B, S, H, D), 8)
    lengths = jnp.array([5, 3])
    mask = padding_mask(lengths, S) & causal_mask(S)
    out, w = attn_jax.multi_head_attention(q, k, v, mask)
    expected = jax.nn.dot_product_attention(q, k, v, is_causal=True, key_value_seq_lengths=lengths)
    np.testing.assert_allclose(out, expected, atol=2e-6)
    # causal: nothing above the diagonal
    assert np.all(np.triu(np.asarray(w), k=1) == 0)


def test_causal_mask_by_hand():
    np.testing.assert_array_equal(causal_mask(2, 3), [[True, True, False], [True, True, True]])


def test_extreme_logits_are_finite():
    q = jnp.full((3, 1), 100.0)
    k = jnp.array([[100.0], [-100.0], [0.0]])  # scores +-1e4
    out, w = attn_jax.dot_product_attention(q, k, jnp.eye(3))
    assert np.isfinite(np.asarray(w)).all() and np.isfinite(np.asarray(out)).all()
    np.testing.assert_allclose(w[0], [1.0, 0.0, 0.0])


def test_fully_masked_row_gives_zeros_not_nan():
    mask = jnp.array([[True, True, False], [False, False, False]])
    out, w = attn_jax.dot_product_attention(rand((2, 4), 9), rand((3, 4), 10), rand((3, 4), 11), mask)
    np.testing.assert_array_equal(w[1], 0.0)
    np.testing.assert_array_equal(out[1], 0.0)
    # and gradients through a fully masked row are finite too
    g = jax.grad(lambda q: attn_jax.dot_product_attention(q, rand((3, 4), 10), rand((3, 4), 11), mask)[0].sum())(
        rand((2, 4), 9)
    )
    assert np.isfinite(np.asarray(g)).all()


def test_wrong_mask_shape_names_expected_and_actual():
    q, k, v = rand((B, T, H, D), 0), rand((B, S, H, D), 1), rand((B, S, H, D), 2)
    with pytest.raises(ValueError, match=r"\(2, 3, 3\).*\[B, H, T, S\] = \(2, 7, 3, 5\)"):
        attn_jax.multi_head_attention(q, k, v, jnp.ones((2, 3, 3), bool))
    with pytest.raises(ValueError, match=r"\(5, 3\).*\[T, S\] = \(3, 5\)"):
        attn_jax.dot_product_attention(q[0, :, 0], k[0, :, 0], v[0, :, 0], jnp.ones((5, 3), bool))
    with pytest.raises(ValueError, match="boolean"):
        attn_jax.dot_product_attention(q[0, :, 0], k[0, :, 0], v[0, :, 0], jnp.ones((3, 5), jnp.int32))


def test_mismatched_kv_shapes_are_named():
    with pytest.raises(ValueError, match=r"k \[B, S, H, D\].*got shapes \(2, 3, 7, 11\), \(2, 5, 7, 4\)"):
        attn_jax.multi_head_attention(rand((B, T, H, D), 0), rand((B, S, H, 4), 1), rand((B, S, H, D), 2))


def test_causality_through_gradients():
    # Output at position t must not depend on inputs after t.
    x = rand((1, 6, 2, 4), 12)
    mask = causal_mask(6)

    def out_at(x, t):
        return attn_jax.multi_head_attention(x, x, x, mask)[0][0, t].sum()

    g = jax.grad(out_at)(x, 2)
    assert np.all(np.asarray(g[0, 3:]) == 0) and np.any(np.asarray(g[0, :3]) != 0)


def test_projection_block_matches_numpy():
    from attn_jax.projections import init_self_attention, self_attention

    M, Hh, Dh = 10, 2, 3
    params = init_self_attention(jax.random.PRNGKey(0), M, Hh, Dh)
    params = jax.tree.map(lambda a: a + 0.1, params)  # non-zero biases too
    x = rand((2, 4, M), 13)
    res = self_attention(params, x, Hh)
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    xn = np.asarray(x, np.float64)
    for b in range(2):
        heads = []
        for h in range(Hh):
            sl = slice(h * Dh, (h + 1) * Dh)
            q, k, v = (xn[b] @ p[n]["w"][:, sl] + p[n]["b"][sl] for n in ("query", "key", "value"))
            o, w = reference_attention(q, k, v)
            np.testing.assert_allclose(res.weights[b, h], w, atol=1e-5)
            heads.append(o)
        ref = np.concatenate(heads, -1) @ p["output"]["w"] + p["output"]["b"]
        np.testing.assert_allclose(res.out[b], ref, atol=1e-4)
