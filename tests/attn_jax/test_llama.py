"""The decoder's maths, step by step (attn_jax.llama), on hand-checkable values and a tiny random
Llama (odd sizes, so swapped axes fail) against a NumPy float64 reference that shares no code with
it. The real model is checked against Hugging Face in test_decoder.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax.llama import (
    NO_WINDOW, apply_rope, attention_block, decode_step, decoder_mask, fill_cache, forward, repeat_kv, rms_norm,
    rope_angles, run_layers, sequence_losses, token_losses,
)  # fmt: skip
from tests.helpers import reference_attention


def run(cfg, params, ids, gates=None, window=NO_WINDOW, sinks=0, **kw):
    gates = jnp.ones((cfg.num_layers, cfg.num_heads), jnp.float32) if gates is None else gates
    return forward(params, jnp.asarray(ids, jnp.int32), gates, jnp.int32(window), jnp.int32(sinks), cfg=cfg, **kw)


# --- the NumPy reference: the same model written from the formulas ------------------------------


def np_rope(x, positions, theta):
    """x [T, heads, D]: pair (i, i + D/2) as the complex number x_i + j x_{i+D/2}, times e^{j angle}."""
    half = x.shape[-1] // 2
    freq = theta ** (-np.arange(half) * 2.0 / x.shape[-1])
    z = (x[..., :half] + 1j * x[..., half:]) * np.exp(1j * positions[:, None, None] * freq)
    return np.concatenate([z.real, z.imag], axis=-1)


def np_forward(cfg, params, ids):
    """float64 logits [T, V] and attentions [L, H, T, T] of one sequence."""
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    t, d, h, g = len(ids), cfg.head_dim, cfg.num_heads, cfg.num_kv_heads

    def norm(x, s):
        return x / np.sqrt((x**2).mean(-1, keepdims=True) + cfg.rms_norm_eps) * s

    x, pos, atts = p["embed"][ids], np.arange(t), []
    for layer in range(cfg.num_layers):
        lp = jax.tree.map(lambda a: a[layer], p["layers"])
        a = norm(x, lp["attention_norm"])
        q = np_rope((a @ lp["attention"]["query"]).reshape(t, h, d), pos, cfg.rope_theta)
        k = np_rope((a @ lp["attention"]["key"]).reshape(t, g, d), pos, cfg.rope_theta)
        v = (a @ lp["attention"]["value"]).reshape(t, g, d)
        causal = np.tril(np.ones((t, t), bool))
        # Query head j reads key/value head j // (H / G).
        heads = [reference_attention(q[:, j], k[:, j // (h // g)], v[:, j // (h // g)], causal) for j in range(h)]
        atts.append(np.stack([w for _, w in heads]))
        x = x + np.concatenate([o for o, _ in heads], axis=-1) @ lp["attention"]["output"]
        m = norm(x, lp["mlp_norm"])
        gate = m @ lp["mlp"]["gate"]
        x = x + (gate / (1 + np.exp(-gate)) * (m @ lp["mlp"]["up"])) @ lp["mlp"]["down"]
    return norm(x, p["final_norm"]) @ p["embed"].T, np.stack(atts)


IDS = [3, 1, 4, 1, 5, 9, 2, 6, 5]


def test_tiny_llama_matches_the_numpy_reference(tiny_llama):
    cfg, params = tiny_llama
    out = run(cfg, params, [IDS])
    logits, att = np_forward(cfg, params, np.array(IDS))
    np.testing.assert_allclose(out.logits[0], logits, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(out.attentions[:, 0], att, atol=1e-5)
    assert out.attentions.shape == (cfg.num_layers, 1, cfg.num_heads, len(IDS), len(IDS))


# --- one step at a time -------------------------------------------------------------------------


def test_rms_norm_by_hand():
    # mean of squares of (3, 4) is 12.5: (3, 4) / sqrt(12.5) = (0.8485, 1.1314), then scaled by (1, 2).
    out = rms_norm(jnp.array([3.0, 4.0]), jnp.array([1.0, 2.0]), 0.0)
    np.testing.assert_allclose(out, [3 / np.sqrt(12.5), 8 / np.sqrt(12.5)], rtol=1e-6)


def test_rope_angles_by_hand():
    # D = 4, theta = 10000: pair 0 turns 1 rad per position, pair 1 0.01 rad.
    cos, sin = rope_angles(jnp.array([0, 2]), 4, 10000.0)
    np.testing.assert_allclose(cos, np.cos([[0, 0], [2, 0.02]]), atol=1e-7)
    np.testing.assert_allclose(sin, np.sin([[0, 0], [2, 0.02]]), atol=1e-7)


def test_rope_is_the_complex_multiply_of_each_pair():
    x = np.random.default_rng(1).normal(size=(1, 7, 3, 10)).astype(np.float32)
    pos = np.array([0, 1, 2, 5, 11, 100, 4097])
    cos, sin = rope_angles(jnp.asarray(pos), 10, 100000.0)
    err = np.abs(np.asarray(apply_rope(jnp.asarray(x), cos, sin)[0]) - np_rope(x[0], pos, 100000.0)).max((1, 2))
    # A float32 angle is off by up to half an ulp of position * frequency: about 6e-8 * position rad
    # (HF computes it the same way), so the tolerance grows with the position.
    assert np.all(err <= 2e-6 + 1.2e-7 * pos * np.abs(x).max()), err


def test_rope_scores_depend_only_on_the_offset():
    rng = np.random.default_rng(2)
    q, k = (jnp.asarray(rng.normal(size=(1, 1, 1, 64)).astype(np.float32)) for _ in range(2))

    def score(t, s):
        rq = apply_rope(q, *rope_angles(jnp.array([t]), 64, 100000.0))
        rk = apply_rope(k, *rope_angles(jnp.array([s]), 64, 100000.0))
        return float(jnp.sum(rq * rk))

    same = [score(t, t - 3) for t in (3, 10, 57, 500)]
    np.testing.assert_allclose(same, same[0], rtol=1e-4)
    assert abs(score(10, 7) - score(10, 2)) > 1e-2  # another offset, another score
    np.testing.assert_allclose(score(6, 6), float(jnp.sum(q * k)), rtol=1e-5)  # offset 0: no turn at all


def test_repeat_kv_query_head_h_reads_kv_head_h_over_group_size():
    x = jnp.asarray(np.random.default_rng(3).normal(size=(2, 5, 3, 7)).astype(np.float32))  # [B, S, G, D]
    out = repeat_kv(x, 9)
    assert out.shape == (2, 5, 9, 7)
    for h in range(9):
        np.testing.assert_array_equal(out[:, :, h], x[:, :, h // 3])
    with pytest.raises(ValueError, match=r"\[B, S, G, D\]"):
        repeat_kv(x, 10)


def test_decoder_mask_by_hand():
    pos = jnp.arange(6)
    # Window 2: a query sees itself and the token before; sink 1: position 0 stays visible.
    expected = np.array([[1, 0, 0, 0, 0, 0],
                         [1, 1, 0, 0, 0, 0],
                         [1, 1, 1, 0, 0, 0],
                         [1, 0, 1, 1, 0, 0],
                         [1, 0, 0, 1, 1, 0],
                         [1, 0, 0, 0, 1, 1]], bool)  # fmt: skip
    np.testing.assert_array_equal(decoder_mask(pos, pos, 2, 1), expected)
    np.testing.assert_array_equal(decoder_mask(pos, pos), np.tril(np.ones((6, 6), bool)))


def test_attention_is_causal_through_gradients(tiny_llama):
    cfg, params = tiny_llama
    p = jax.tree.map(lambda a: a[0], params["layers"])
    t = 6
    x = jnp.asarray(np.random.default_rng(4).normal(size=(1, t, cfg.hidden_size)).astype(np.float32))
    cos, sin = rope_angles(jnp.arange(t), cfg.head_dim, cfg.rope_theta)
    mask = decoder_mask(jnp.arange(t), jnp.arange(t))
    gate = jnp.ones(cfg.num_heads, jnp.float32)
    # jac[t, m, s, m'] = d out[t, m] / d x[s, m']: zero for every later position s > t.
    jac = jax.jit(jax.jacrev(lambda x: attention_block(p, x, cos, sin, mask, gate, cfg)[0][0]))(x)
    jac = np.asarray(jac)[:, :, 0]
    reach = np.abs(jac).sum((1, 3)) > 0  # [T, S]: does output row t depend on input row s
    np.testing.assert_array_equal(reach, np.tril(np.ones((t, t), bool)))


def test_a_later_token_changes_no_earlier_row(tiny_llama):
    cfg, params = tiny_llama
    a, b = run(cfg, params, [IDS]), run(cfg, params, [IDS[:6] + [7, 7, 7]])
    np.testing.assert_array_equal(a.logits[0, :6], b.logits[0, :6])
    np.testing.assert_array_equal(a.attentions[:, 0, :, :6], b.attentions[:, 0, :, :6])


def test_cached_decode_steps_equal_the_full_forward(tiny_llama):
    cfg, params = tiny_llama
    full = run(cfg, params, [IDS])
    n = 4
    prefill = run(cfg, params, [IDS[:n]], kv=True)
    cache = fill_cache(prefill.cache, 16)
    gates = jnp.ones((cfg.num_layers, cfg.num_heads), jnp.float32)
    for t in range(n, len(IDS)):
        logits, att, cache = decode_step(params, cache, jnp.asarray([IDS[t]], jnp.int32), jnp.int32(t), gates,
                                         jnp.int32(NO_WINDOW), jnp.int32(0), cfg=cfg)  # fmt: skip
        np.testing.assert_allclose(logits[0], full.logits[0, t], atol=1e-5)
        np.testing.assert_allclose(att[:, 0, :, : t + 1], full.attentions[:, 0, :, t, : t + 1], atol=1e-5)
        assert np.all(np.asarray(att[:, 0, :, t + 1 :]) == 0)  # later slots are masked


def test_gate_zero_equals_removing_the_heads_rows_of_the_output_weight(tiny_llama):
    cfg, params = tiny_llama
    gates = np.ones((cfg.num_layers, cfg.num_heads), np.float32)
    gates[1, 2] = 0.0
    d = cfg.head_dim
    w = np.array(params["layers"]["attention"]["output"])
    w[1, 2 * d : 3 * d] = 0.0  # head 2 of layer 1 writes nothing to the residual stream
    edited = {**params, "layers": {**params["layers"], "attention": {**params["layers"]["attention"], "output": w}}}
    np.testing.assert_allclose(run(cfg, params, [IDS], jnp.asarray(gates)).logits, run(cfg, edited, [IDS]).logits,
                               atol=1e-6)  # fmt: skip
    np.testing.assert_array_equal(run(cfg, params, [IDS], jnp.ones_like(jnp.asarray(gates))).logits,
                                  run(cfg, params, [IDS]).logits)  # fmt: skip
    assert not np.allclose(run(cfg, params, [IDS], jnp.asarray(gates)).logits, run(cfg, params, [IDS]).logits)


@pytest.mark.parametrize("window,sinks", [(NO_WINDOW, 0), (3, 0), (3, 2)])
def test_weights_free_path_computes_the_same(tiny_llama, window, sinks):
    cfg, params = tiny_llama
    a = run(cfg, params, [IDS, IDS[::-1]], window=window, sinks=sinks)
    b = run(cfg, params, [IDS, IDS[::-1]], window=window, sinks=sinks, weights=False)
    assert b.attentions is None
    np.testing.assert_allclose(a.logits, b.logits, rtol=1e-5, atol=2e-5)


def test_window_and_sinks_show_in_the_weights(tiny_llama):
    cfg, params = tiny_llama
    att = np.asarray(run(cfg, params, [IDS], window=3, sinks=2).attentions[:, 0])  # [L, H, T, T]
    allowed = np.asarray(decoder_mask(jnp.arange(len(IDS)), jnp.arange(len(IDS)), 3, 2))
    assert np.all(att[..., ~allowed] == 0)
    np.testing.assert_allclose(att.sum(-1), 1.0, atol=1e-6)
    assert np.all(att[..., 8, :2] > 0)  # the sinks are seen from the last query, outside its window


def test_token_losses_are_minus_log_softmax_of_the_next_token():
    logits = np.random.default_rng(5).normal(size=(2, 5, 7)).astype(np.float32)
    ids = np.array([[1, 2, 3, 4, 5], [6, 0, 6, 0, 6]], np.int32)
    logp = logits - np.log(np.exp(logits.astype(np.float64)).sum(-1, keepdims=True))
    expected = -np.take_along_axis(logp[:, :-1], ids[:, 1:, None], -1)[..., 0]
    np.testing.assert_allclose(token_losses(jnp.asarray(logits), jnp.asarray(ids)), expected, atol=1e-5)


@pytest.mark.parametrize("chunk", [3, 4, 128])
def test_sequence_losses_in_chunks_equal_the_whole(tiny_llama, chunk):
    cfg, params = tiny_llama
    ids = jnp.asarray([IDS, IDS[::-1]], jnp.int32)
    gates = jnp.ones((cfg.num_layers, cfg.num_heads), jnp.float32)
    x, _, _ = run_layers(params, ids, gates, jnp.int32(NO_WINDOW), jnp.int32(0), cfg=cfg)
    whole = token_losses(run(cfg, params, ids).logits, ids)
    np.testing.assert_allclose(sequence_losses(params, x, ids, cfg, chunk=chunk), whole, atol=1e-5)
