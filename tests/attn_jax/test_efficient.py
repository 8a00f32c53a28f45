"""The O(N)-memory path (blocked online softmax) against the plain path and NumPy float64.

Odd sizes (B=2, T=37, S=53, H=3, D=11) and block sizes that do not divide them, so swapped axes,
off-by-one block edges and padding mistakes fail.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tests.helpers import reference_attention

import attn_jax
from attn_jax import efficient
from attn_jax.attention import causal_mask, padding_mask
from attn_jax.efficient import cudnn_available, default_blocks, efficient_attention

B, T, S, H, D = 2, 37, 53, 3, 11
BLOCKS = [(None, None), (8, 16), (5, 7)]  # default (one block here), even-ish, ragged edges


def rand(shape, seed, dtype=jnp.float32):
    return jax.random.normal(jax.random.PRNGKey(seed), shape).astype(dtype)


def qkv(t=T, s=S, dtype=jnp.float32, seed=0, dv=D):
    return rand((B, t, H, D), seed, dtype), rand((B, s, H, D), seed + 1, dtype), rand((B, s, H, dv), seed + 2, dtype)


def numpy_reference(q, k, v, mask):
    """float64 attention per example and head; mask bool [B, H, T, S]."""
    q, k, v = (np.asarray(a, np.float32) for a in (q, k, v))
    out = np.zeros(q.shape[:3] + (v.shape[-1],))
    for b in range(q.shape[0]):
        for h in range(q.shape[2]):
            out[b, :, h] = reference_attention(q[b, :, h], k[b, :, h], v[b, :, h], mask[b, h])[0]
    return out


LENGTHS = np.array([53, 20])
MASKS = {
    "none": dict(),
    "causal": dict(causal=True),
    "padding": dict(kv_lengths=LENGTHS),
    "causal+padding": dict(causal=True, kv_lengths=LENGTHS),
    "general": dict(mask=np.random.default_rng(0).random((B, H, T, S)) > 0.5),
    "broadcast [B,1,1,S]": dict(mask=np.asarray(padding_mask(jnp.asarray(LENGTHS), S))),
    "broadcast [T,S]": dict(mask=np.asarray(causal_mask(T, S))),
}


def full_mask(t=T, s=S, causal=False, kv_lengths=None, mask=None):
    m = np.ones((B, H, t, s), bool)
    if causal:
        m &= np.asarray(causal_mask(t, s))
    if kv_lengths is not None:
        m &= np.asarray(padding_mask(jnp.asarray(kv_lengths), s))
    if mask is not None:
        m &= np.broadcast_to(mask, m.shape)
    return m


def call(q, k, v, kw, **extra):
    kw = {**kw}
    if "mask" in kw:
        kw["mask"] = jnp.asarray(kw["mask"])
    if "kv_lengths" in kw:
        kw["kv_lengths"] = jnp.asarray(kw["kv_lengths"])
    return efficient_attention(q, k, v, **kw, **extra)


@pytest.mark.parametrize("name", MASKS)
@pytest.mark.parametrize("blocks", BLOCKS)
def test_matches_plain_path_and_numpy(name, blocks):
    q, k, v = qkv()
    kw = MASKS[name]
    out = call(q, k, v, kw, q_block=blocks[0], kv_block=blocks[1])
    m = full_mask(**kw)
    plain, _ = attn_jax.multi_head_attention(q, k, v, jnp.asarray(m))
    assert out.shape == (B, T, H, D) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, plain, atol=1e-5)
    np.testing.assert_allclose(out, numpy_reference(q, k, v, m), atol=1e-5)


@pytest.mark.parametrize("t,s", [(53, 37), (1, 9), (9, 1), (40, 40)])
def test_other_lengths_with_causal_offset(t, s):
    # T != S: with causal the queries are the last T positions of the S keys; T > S leaves the
    # first T - S queries with no key at all (zeros).
    q, k, v = qkv(t, s, dv=5)
    for blocks in [(None, None), (3, 4)]:
        out = efficient_attention(q, k, v, causal=True, q_block=blocks[0], kv_block=blocks[1])
        np.testing.assert_allclose(out, numpy_reference(q, k, v, full_mask(t, s, causal=True)), atol=1e-5)


@pytest.mark.parametrize("dtype,atol", [(jnp.bfloat16, 3e-2), (jnp.float16, 3e-3)])
def test_low_precision_inputs(dtype, atol):
    q, k, v = qkv(dtype=dtype)
    out = efficient_attention(q, k, v, causal=True, q_block=8, kv_block=16)
    assert out.dtype == dtype
    ref = numpy_reference(q, k, v, full_mask(causal=True))
    np.testing.assert_allclose(np.asarray(out, np.float32), ref, atol=atol)


def test_fully_masked_rows_give_zeros_not_nan():
    q, k, v = qkv()
    mask = np.ones((B, H, T, S), bool)
    mask[0, 1, 4] = False  # one query of one head sees nothing
    mask[1] = False  # nor does any query of the second example
    kw = dict(mask=mask)
    out = call(q, k, v, kw, q_block=8, kv_block=16)
    assert np.isfinite(np.asarray(out)).all()
    np.testing.assert_array_equal(out[0, 4, 1], 0.0)
    np.testing.assert_array_equal(out[1], 0.0)
    np.testing.assert_allclose(out, numpy_reference(q, k, v, mask), atol=1e-5)
    # zero-length key padding: the same, through the kv_lengths route
    out = efficient_attention(q, k, v, kv_lengths=jnp.array([0, 5]), kv_block=16)
    np.testing.assert_array_equal(out[0], 0.0)
    grads = jax.grad(lambda q, k, v: call(q, k, v, kw, q_block=8, kv_block=16).sum(), (0, 1, 2))(q, k, v)
    assert all(np.isfinite(np.asarray(g)).all() for g in grads)
    np.testing.assert_array_equal(grads[0][1], 0.0)


@pytest.mark.parametrize("name", ["none", "causal+padding", "general"])
@pytest.mark.parametrize("blocks", [(None, None), (8, 16), (5, 7)])
def test_gradients_match_plain_path(name, blocks):
    q, k, v = qkv()
    kw = MASKS[name]
    m = jnp.asarray(full_mask(**kw))
    weights = rand((B, T, H, D), 9)  # a loss that weighs every output differently

    def loss_fast(q, k, v):
        return (call(q, k, v, kw, q_block=blocks[0], kv_block=blocks[1]) * weights).sum()

    def loss_plain(q, k, v):
        return (attn_jax.multi_head_attention(q, k, v, m)[0] * weights).sum()

    fast = jax.grad(loss_fast, (0, 1, 2))(q, k, v)
    plain = jax.grad(loss_plain, (0, 1, 2))(q, k, v)
    for g, r in zip(fast, plain):
        np.testing.assert_allclose(g, r, atol=2e-5)


def test_causality_through_gradients():
    x = rand((1, 23, 2, 4), 12)

    def out_at(x, t):
        return efficient_attention(x, x, x, causal=True, q_block=4, kv_block=8)[0, t].sum()

    g = jax.grad(out_at)(x, 9)
    assert np.all(np.asarray(g[0, 10:]) == 0) and np.any(np.asarray(g[0, :10]) != 0)


def test_general_mask_matches_the_reference_path_with_gradients():
    q, k, v = qkv(s=T)
    mask = jnp.asarray(full_mask(T, T, causal=True, kv_lengths=np.array([37, 11])))
    out = efficient_attention(q, k, v, mask)
    ref, _ = attn_jax.multi_head_attention(q, k, v, mask)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    g = jax.grad(lambda q: efficient_attention(q, k, v, mask).sum())(q)
    g_ref = jax.grad(lambda q: attn_jax.multi_head_attention(q, k, v, mask)[0].sum())(q)
    np.testing.assert_allclose(g, g_ref, atol=2e-5)


def test_self_attention_without_weights_takes_the_fast_path():
    from attn_jax.projections import init_self_attention

    x = jax.random.normal(jax.random.PRNGKey(3), (B, 13, H * 4))
    params = init_self_attention(jax.random.PRNGKey(4), H * 4, H, 4)
    mask = jnp.asarray(full_mask(13, 13, causal=True, kv_lengths=np.array([13, 7])))
    fast = attn_jax.self_attention(params, x, H, mask, return_weights=False)
    full = attn_jax.self_attention(params, x, H, mask)
    assert fast.weights is None and full.weights.shape == (B, H, 13, 13)
    np.testing.assert_allclose(fast.out, full.out, atol=1e-5)


def test_examples_in_groups_match(monkeypatch):
    # On CPU a step takes as many examples as fit a cache-sized block; force one at a time.
    q, k, v = qkv()
    together = efficient_attention(q, k, v, kv_lengths=jnp.asarray(LENGTHS), q_block=8, kv_block=16)
    monkeypatch.setattr(efficient, "_CPU_BLOCK_BYTES", 1)
    assert efficient._examples_per_step(B, H, 8, 16) == (1 if jax.default_backend() == "cpu" else B)
    apart = efficient_attention(q, k, v, kv_lengths=jnp.asarray(LENGTHS), q_block=8, kv_block=16)
    np.testing.assert_allclose(apart, together, atol=1e-6)
    g = jax.grad(lambda q: efficient_attention(q, k, v, causal=True, q_block=8, kv_block=16).sum())(q)
    g_ref = jax.grad(lambda q: attn_jax.multi_head_attention(q, k, v, causal_mask(T, S))[0].sum())(q)
    np.testing.assert_allclose(g, g_ref, atol=2e-5)


def test_jit_and_vmap():
    q, k, v = qkv()
    f = jax.jit(lambda q, k, v: efficient_attention(q, k, v, causal=True, q_block=8, kv_block=16))
    np.testing.assert_allclose(f(q, k, v), numpy_reference(q, k, v, full_mask(causal=True)), atol=1e-5)
    stacked = jax.vmap(f)(q[None], k[None], v[None])[0]
    np.testing.assert_allclose(stacked, f(q, k, v), atol=1e-6)


def test_trains():
    # Adam through the fast path fits q, k, v to another attention's output: the loss falls.
    import optax

    q, k, v = qkv()
    target = efficient_attention(*qkv(seed=30), causal=True)

    def loss(params):
        return jnp.mean((efficient_attention(*params, causal=True, q_block=8, kv_block=16) - target) ** 2)

    opt = optax.adam(0.05)

    @jax.jit
    def step(params, state):
        updates, state = opt.update(jax.grad(loss)(params), state)
        return optax.apply_updates(params, updates), state

    params = (q, k, v)
    first = float(loss(params))
    with jax.numpy_dtype_promotion("standard"):  # optax's step count mixes int32 and float
        state = opt.init(params)
        for _ in range(20):
            params, state = step(params, state)
    assert float(loss(params)) < 0.5 * first


def test_memory_is_linear_not_quadratic():
    # XLA's own account of the compiled program's scratch memory: the plain path needs the
    # [B, H, T, S] scores; the blocked path only blocks, K/V copies and the output.
    b, n, h, d = 1, 16384, 2, 16
    x = jax.ShapeDtypeStruct((b, n, h, d), jnp.float32)
    fast = jax.jit(lambda q, k, v: efficient_attention(q, k, v)).lower(x, x, x).compile().memory_analysis()
    plain = jax.jit(lambda q, k, v: jax.nn.dot_product_attention(q, k, v, implementation="xla"))
    plain = plain.lower(x, x, x).compile().memory_analysis()
    scores = b * h * n * n * 4
    assert plain.temp_size_in_bytes >= scores
    assert fast.temp_size_in_bytes < scores / 8
    # training too: the backward pass recomputes score blocks instead of storing them
    grad = jax.jit(jax.grad(lambda q, k, v: efficient_attention(q, k, v, causal=True).sum(), (0, 1, 2)))
    assert grad.lower(x, x, x).compile().memory_analysis().temp_size_in_bytes < scores / 8


def test_blocks_cover_the_sequence():
    for n in [1, 7, 256, 257, 1000, 1024, 4097, 16384]:
        tq, sk = default_blocks(n, n, "cpu")
        assert 1 <= tq <= max(n, 256) and 1 <= sk <= max(n, 512)
        assert -(-n // tq) * tq - n < max(8 * -(-n // tq), 1)  # padding under 8 per block
    assert default_blocks(100, 300, "cpu") == (100, 300)


def test_implementation_choice():
    q, k, v = qkv()
    if jax.default_backend() != "gpu":
        assert not cudnn_available(q.shape, k.shape, v.shape, "float32", None, False, False)
    np.testing.assert_allclose(efficient_attention(q, k, v, implementation="blocked"), efficient_attention(q, k, v))
    with pytest.raises(ValueError, match="implementation"):
        efficient_attention(q, k, v, implementation="flash")


def test_wrong_shapes_name_expected_and_actual():
    q, k, v = qkv()
    with pytest.raises(ValueError, match=r"\(2, 3, 3\).*\[B, H, T, S\] = \(2, 3, 37, 53\)"):
        efficient_attention(q, k, v, jnp.ones((2, 3, 3), bool))
    with pytest.raises(ValueError, match="boolean"):
        efficient_attention(q, k, v, jnp.ones((T, S), jnp.int32))
    with pytest.raises(ValueError, match=r"k \[B, S, H, D\]"):
        efficient_attention(q, k[..., :4], v)
    with pytest.raises(ValueError, match=r"kv_lengths must be \[B\]"):
        efficient_attention(q, k, v, kv_lengths=jnp.array([1, 2, 3]))
