"""A Llama-architecture decoder (SmolLM2-135M) in JAX: one pure function per step.

Axis legend: B batch, T query positions, S key positions, H query heads, G key/value heads,
D head dim, M model dim, F MLP width, L layers, V vocabulary.

One layer, pre-norm, as in Meta's reference ``llama/model.py`` and HF's ``modeling_llama.py``::

    h = rms_norm(x)
    q, k = rope(h W_q), rope(h W_k);  v = h W_v            q [B, T, H, D], k and v [B, S, G, D]
    x = x + attention(q, repeat_kv(k), repeat_kv(v), causal mask) W_o
    x = x + (silu(rms_norm(x) W_gate) * rms_norm(x) W_up) W_down           (SwiGLU)

then ``logits = rms_norm(x) E^T`` with E the token embedding (tied, as in SmolLM2) or a separate
output matrix. Attention is :func:`attn_jax.multi_head_attention`, the teaching path's own vmapped
five steps, so the weights it shows are the weights the model runs on; without weights,
:func:`attn_jax.efficient_attention` computes the same output blockwise. The L layers are stacked
and run with ``jax.lax.scan`` (one compiled layer serves all 30).

Generation keeps each layer's keys and values in a cache ``[L, B, S, G, D]`` of fixed size S: the
prompt fills slots 0..n-1 in one :func:`forward`, then each :func:`decode_step` writes one slot at
its position and attends over all S slots with the later ones masked, so one compiled step serves
every position. Slot = position, so the same causal mask rule serves both paths.

Two interventions for analyses, both plain arguments (no recompile when they change):
``gates [L, H]`` multiply each head's output before W_o (0 removes the head, 1 changes nothing);
``window``/``sinks`` restrict query t to keys s with t - s < window, plus the first ``sinks``
positions (StreamingLLM's attention sinks).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from .attention import multi_head_attention
from .efficient import efficient_attention
from .gguf_weights import LlamaConfig

__all__ = [
    "rms_norm", "rope_angles", "apply_rope", "repeat_kv", "decoder_mask", "swiglu",
    "KVCache", "ForwardOutput", "forward", "run_layers", "decode_step", "next_token_losses", "token_losses",
    "sequence_losses", "NO_WINDOW",
]  # fmt: skip

NO_WINDOW = jnp.iinfo(jnp.int32).max  # a window no sequence reaches: plain causal attention


def rms_norm(x: jax.Array, scale: jax.Array, eps: float) -> jax.Array:
    """x / sqrt(mean(x^2) + eps) * scale over the last axis: x ``[..., M]``, scale ``[M]`` (no mean
    subtracted, no bias: Llama's RMSNorm)."""
    return x * lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + eps) * scale


def rope_angles(positions: jax.Array, head_dim: int, theta: float) -> tuple[jax.Array, jax.Array]:
    """cos and sin of the rotary angles: positions int ``[T]`` -> ``([T, D/2], [T, D/2])``.

    Pair i turns by ``position * theta^(-2i/D)``: fast for the first pairs, slow for the last,
    computed in float32 in the order HF uses (so both round alike).
    """
    inv_freq = 1.0 / (jnp.float32(theta) ** (jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim))  # [D/2]
    angles = positions.astype(jnp.float32)[:, None] * inv_freq[None, :]  # [T, D/2]
    return jnp.cos(angles), jnp.sin(angles)


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    """Rotate each pair (x_i, x_{i+D/2}) of every head by its angle: x ``[B, T, heads, D]``,
    cos/sin ``[T, D/2]`` -> ``[B, T, heads, D]``.

    As a complex number ``x_i + j x_{i+D/2}`` times ``e^{j angle_i}``. Since the rotation of q at
    position t and of k at position s combine to one by (t - s), the score q.k depends on the
    offset, not on where the two tokens sit. Pairs are (i, i + D/2), HF's ``rotate_half`` layout:
    :mod:`attn_jax.gguf_weights` undoes llama.cpp's row order for this.
    """
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    c, s = cos[None, :, None, :], sin[None, :, None, :]  # [1, T, 1, D/2]
    return jnp.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1)


def repeat_kv(x: jax.Array, num_heads: int) -> jax.Array:
    """Grouped-query attention's sharing, made explicit: ``[B, S, G, D]`` -> ``[B, S, H, D]``.

    Query head h reads key/value head ``h // (H / G)``: with H = 9 and G = 3, heads 0-2 share
    KV head 0, heads 3-5 KV head 1, heads 6-8 KV head 2. The cache holds only the G heads.
    """
    g = x.shape[2]
    if num_heads % g:
        raise ValueError(f"{num_heads} query heads cannot share {g} key/value heads evenly ([B, S, G, D] = {x.shape})")
    return jnp.repeat(x, num_heads // g, axis=2)


def decoder_mask(q_pos: jax.Array, k_pos: jax.Array, window=NO_WINDOW, sinks=0) -> jax.Array:
    """Which keys each query may see: positions ``[T]`` and ``[S]`` -> bool ``[T, S]`` (True = attend).

    Causal (``s <= t``), and within the window (``t - s < window``) unless s is one of the first
    ``sinks`` positions. ``window`` and ``sinks`` may be traced scalars.
    """
    t, s = q_pos[:, None], k_pos[None, :]
    return (s <= t) & ((t - s < window) | (s < sinks))


def swiglu(p: dict, x: jax.Array) -> jax.Array:
    """The MLP: ``(silu(x W_gate) * x W_up) W_down``, x ``[B, T, M]`` -> ``[B, T, M]`` (width F inside)."""
    return (jax.nn.silu(x @ p["gate"]) * (x @ p["up"])) @ p["down"]


def split_heads(x: jax.Array, heads: int) -> jax.Array:
    """``[B, T, heads*D]`` -> ``[B, T, heads, D]``."""
    return x.reshape(*x.shape[:2], heads, x.shape[-1] // heads)


class KVCache(NamedTuple):
    """Keys (after RoPE) and values of every layer, slot = position: k, v ``[L, B, S, G, D]``."""

    k: jax.Array
    v: jax.Array


class ForwardOutput(NamedTuple):
    """What :func:`forward` returns (values, never state kept on objects)."""

    logits: jax.Array  # [B, P, V] at the requested positions (all: P = T)
    attentions: jax.Array | None  # [L, B, H, T, T] (None when run without weights)
    cache: KVCache | None  # [L, B, T, G, D] keys and values (None unless asked for)


def attention_block(p, x, cos, sin, mask, gate, cfg: LlamaConfig, cache=None, start=None, weights=True):
    """The attention half of a layer: x ``[B, T, M]`` -> (update ``[B, T, M]``, weights, k, v).

    Without ``cache`` the keys are this call's own (S = T). With ``cache`` (k, v ``[B, S, G, D]``),
    this call's keys and values are written at slot ``start`` first and all S slots attended over.
    mask bool ``[T, S]``; gate ``[H]``; weights ``[B, H, T, S]`` (None if not ``weights``);
    k, v ``[B, T, G, D]`` are this call's new keys and values.
    """
    h = rms_norm(x, p["attention_norm"], cfg.rms_norm_eps)
    a = p["attention"]
    q = apply_rope(split_heads(h @ a["query"], cfg.num_heads), cos, sin)  # [B, T, H, D]
    k = apply_rope(split_heads(h @ a["key"], cfg.num_kv_heads), cos, sin)  # [B, T, G, D]
    v = split_heads(h @ a["value"], cfg.num_kv_heads)  # [B, T, G, D]
    keys, values = k, v
    if cache is not None:
        keys = lax.dynamic_update_slice_in_dim(cache[0], k, start, axis=1)  # [B, S, G, D]
        values = lax.dynamic_update_slice_in_dim(cache[1], v, start, axis=1)
    keys, values = repeat_kv(keys, cfg.num_heads), repeat_kv(values, cfg.num_heads)  # [B, S, H, D]
    if weights:
        out, w = multi_head_attention(q, keys, values, mask[None, None])  # out [B, T, H, D], w [B, H, T, S]
    else:
        out, w = efficient_attention(q, keys, values, mask[None, None], causal=cache is None), None
    out = out * gate[None, None, :, None].astype(out.dtype)  # a head's share, before heads mix in W_o
    return out.reshape(x.shape[0], x.shape[1], -1) @ a["output"], w, k, v


def decoder_layer(p, x, cos, sin, mask, gate, cfg: LlamaConfig, cache=None, start=None, weights=True):
    """One layer: attention then SwiGLU, each added to the residual stream x ``[B, T, M]``."""
    update, w, k, v = attention_block(p, x, cos, sin, mask, gate, cfg, cache, start, weights)
    x = x + update
    x = x + swiglu(p["mlp"], rms_norm(x, p["mlp_norm"], cfg.rms_norm_eps))
    return x, w, k, v


def output_logits(params: dict, x: jax.Array, cfg: LlamaConfig) -> jax.Array:
    """Final RMSNorm, then scores for every vocabulary entry: ``[..., M]`` -> ``[..., V]``."""
    x = rms_norm(x, params["final_norm"], cfg.rms_norm_eps)
    if cfg.tied_embeddings:
        return jnp.einsum("...m,vm->...v", x, params["embed"])  # E^T: the input embedding reused
    return x @ params["unembed"]


def run_layers(params, ids, gates, window, sinks, *, cfg: LlamaConfig, weights=True, kv=False):
    """Embed token ids ``[B, T]`` and run every layer -> (x ``[B, T, M]``, the last layer's output
    before the final norm; attentions ``[L, B, H, T, T]`` or None; keys and values
    ``[L, B, T, G, D]`` or None). Arguments as :func:`forward`."""
    t = ids.shape[1]
    pos = jnp.arange(t, dtype=jnp.int32)
    cos, sin = rope_angles(pos, cfg.head_dim, cfg.rope_theta)
    mask = decoder_mask(pos, pos, window, sinks)  # [T, T]
    x = params["embed"][ids]  # [B, T, M]

    def step(x, layer):
        p, gate = layer
        x, w, k, v = decoder_layer(p, x, cos, sin, mask, gate, cfg, weights=weights)
        return x, (w, (k, v) if kv else None)

    x, (attentions, cache) = lax.scan(step, x, (params["layers"], gates))
    return x, attentions, None if cache is None else KVCache(*cache)


@partial(jax.jit, static_argnames=("cfg", "weights", "kv"))
def forward(params, ids, gates, window, sinks, logit_positions=None, *, cfg: LlamaConfig, weights=True, kv=False):
    """Run token ids ``[B, T]`` (padded on the right; the causal mask keeps pads out of real rows).

    gates ``[L, H]``, window and sinks int32 scalars (see the module docstring);
    logit_positions int ``[B, P]`` or None (all T) -> :class:`ForwardOutput` with logits
    ``[B, P, V]``, attentions ``[L, B, H, T, T]`` if ``weights``, keys and values if ``kv``.
    """
    x, attentions, cache = run_layers(params, ids, gates, window, sinks, cfg=cfg, weights=weights, kv=kv)
    if logit_positions is not None:
        x = jnp.take_along_axis(x, logit_positions[:, :, None], axis=1)  # [B, P, M]
    return ForwardOutput(output_logits(params, x, cfg), attentions, cache)


def empty_cache(cfg: LlamaConfig, batch: int, size: int) -> KVCache:
    """A zero cache of ``size`` slots: k, v ``[L, B, S, G, D]`` float32."""
    shape = (cfg.num_layers, batch, size, cfg.num_kv_heads, cfg.head_dim)
    return KVCache(jnp.zeros(shape, jnp.float32), jnp.zeros(shape, jnp.float32))


@partial(jax.jit, static_argnames=("size",))
def fill_cache(prompt: KVCache, size: int) -> KVCache:
    """The prompt's keys and values ``[L, B, T, G, D]`` in slots 0..T-1 of a cache of ``size``."""
    pad = ((0, 0), (0, 0), (0, size - prompt.k.shape[2]), (0, 0), (0, 0))
    return KVCache(jnp.pad(prompt.k, pad), jnp.pad(prompt.v, pad))


@partial(jax.jit, static_argnames=("cfg",), donate_argnames=("cache",))
def decode_step(params, cache: KVCache, token, position, gates, window, sinks, *, cfg: LlamaConfig):
    """One generation step: token ids ``[B]`` at ``position`` (int32 scalar; slots before it hold
    the earlier keys) -> (logits ``[B, V]``, attention ``[L, B, H, S]``, the cache with this
    position's keys and values written). The cache buffer is donated: updated in place."""
    pos = jnp.reshape(position, (1,)).astype(jnp.int32)
    cos, sin = rope_angles(pos, cfg.head_dim, cfg.rope_theta)
    slots = jnp.arange(cache.k.shape[2], dtype=jnp.int32)
    mask = decoder_mask(pos, slots, window, sinks)  # [1, S]: slots after `position` stay hidden
    x = params["embed"][token][:, None]  # [B, 1, M]

    def step(x, layer):
        p, gate, k_cache, v_cache = layer
        x, w, k, v = decoder_layer(p, x, cos, sin, mask, gate, cfg, cache=(k_cache, v_cache), start=position)
        return x, (w[:, :, 0], k, v)

    x, (attentions, k, v) = lax.scan(step, x, (params["layers"], gates, cache.k, cache.v))
    cache = KVCache(lax.dynamic_update_slice_in_dim(cache.k, k, position, axis=2),
                    lax.dynamic_update_slice_in_dim(cache.v, v, position, axis=2))  # k, v [L, B, 1, G, D]
    return output_logits(params, x[:, 0], cfg), attentions, cache


def next_token_losses(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """``-log softmax(logits)[target]`` in nats, in float32: logits ``[B, T, V]``, targets ``[B, T]``
    -> ``[B, T]``."""
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return -jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]


def token_losses(logits: jax.Array, ids: jax.Array) -> jax.Array:
    """Loss of each next token: logits ``[B, T, V]``, ids ``[B, T]`` -> ``[B, T-1]`` (position t
    scored on ids[t+1])."""
    return next_token_losses(logits[:, :-1], ids[:, 1:])


def sequence_losses(params, x: jax.Array, ids: jax.Array, cfg: LlamaConfig, chunk: int = 128) -> jax.Array:
    """:func:`token_losses` from the last layer's output x ``[B, T, M]`` -> ``[B, T-1]``, forming
    the logits ``chunk`` positions at a time (``[B, chunk, V]``, 25 MB per row, instead of
    ``[B, T, V]``, 200 MB per row of 1024 positions), so long texts fit in memory."""
    b, t, m = x.shape
    chunk = min(chunk, t)  # a short text's logits are formed for its own positions, not padded to a chunk
    n = -(-t // chunk)
    xs = jnp.pad(x, ((0, 0), (0, n * chunk - t), (0, 0))).reshape(b, n, chunk, m).swapaxes(0, 1)  # [n, B, c, M]
    targets = jnp.pad(ids[:, 1:], ((0, 0), (0, n * chunk - t + 1))).reshape(b, n, chunk).swapaxes(0, 1)
    losses = lax.map(lambda c: next_token_losses(output_logits(params, c[0], cfg), c[1]), (xs, targets))
    return losses.swapaxes(0, 1).reshape(b, n * chunk)[:, : t - 1]  # the last position has no next token
