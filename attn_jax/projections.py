"""The projections around attention: input -> Q, K, V per head -> attention -> merge -> output.

Axis legend: B batch, T positions, H heads, D head dim, M model dim.

Parameters are a plain pytree (nested dicts of arrays), so the same function serves the
pretrained encoder and the small models trained in this project::

    {"query":  {"w": [M, H*D], "b": [H*D]},
     "key":    {"w": [M, H*D], "b": [H*D]},
     "value":  {"w": [M, H*D], "b": [H*D]},
     "output": {"w": [H*D, M], "b": [M]}}
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .attention import multi_head_attention
from .efficient import efficient_attention

__all__ = ["split_heads", "merge_heads", "project_qkv", "self_attention", "SelfAttention", "init_self_attention"]


def split_heads(x: jax.Array, num_heads: int) -> jax.Array:
    """``[B, T, H*D]`` -> ``[B, T, H, D]`` (head h owns features h*D .. (h+1)*D - 1)."""
    b, t, hd = x.shape
    if hd % num_heads:
        raise ValueError(f"feature size {hd} is not divisible by the number of heads {num_heads}")
    return x.reshape(b, t, num_heads, hd // num_heads)


def merge_heads(x: jax.Array) -> jax.Array:
    """``[B, T, H, D]`` -> ``[B, T, H*D]``: the heads' outputs concatenated, in head order."""
    b, t, h, d = x.shape
    return x.reshape(b, t, h * d)


def _dense(p: dict, x: jax.Array) -> jax.Array:
    return jnp.einsum("btm,mn->btn", x, p["w"]) + p["b"]


def project_qkv(params: dict, x: jax.Array, num_heads: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """x ``[B, T, M]`` -> q, k, v each ``[B, T, H, D]`` through the learned query/key/value maps.

    The three maps run as one matmul against their weights side by side (``[M, 3*H*D]``): one
    wide matmul keeps a CPU's vector units busier than three narrow ones (measured about 1.3x
    faster for the encoder's 384-wide layers).
    """
    names = ("query", "key", "value")
    w = jnp.concatenate([params[name]["w"] for name in names], axis=1)
    b = jnp.concatenate([params[name]["b"] for name in names])
    qkv = _dense({"w": w, "b": b}, x)
    return tuple(split_heads(a, num_heads) for a in jnp.split(qkv, 3, axis=-1))


class SelfAttention(NamedTuple):
    """What one self-attention block produces; every intermediate is returned, never stored."""

    out: jax.Array  # [B, T, M] after the output projection
    weights: jax.Array | None  # [B, H, T, T]
    q: jax.Array  # [B, T, H, D]
    k: jax.Array  # [B, T, H, D]
    v: jax.Array  # [B, T, H, D]


def self_attention(
    params: dict,
    x: jax.Array,
    num_heads: int,
    mask: jax.Array | None = None,
    *,
    return_weights: bool = True,
) -> SelfAttention:
    """Multi-head self-attention of x ``[B, T, M]`` with mask broadcastable to ``[B, H, T, T]``.

    Q, K, V projections -> :func:`~attn_jax.multi_head_attention` -> merge heads -> output
    projection. Returns a :class:`SelfAttention` with the output and the weights, Q, K, V.
    ``return_weights=False`` takes :func:`~attn_jax.efficient_attention` instead: the same output,
    the weights never formed (``weights`` is None).
    """
    q, k, v = project_qkv(params, x, num_heads)
    if return_weights:
        heads, weights = multi_head_attention(q, k, v, mask)
    else:
        heads, weights = efficient_attention(q, k, v, mask), None
    out = _dense(params["output"], merge_heads(heads))
    return SelfAttention(out, weights, q, k, v)


def init_self_attention(key: jax.Array, model_dim: int, num_heads: int, head_dim: int) -> dict:
    """Random parameters (scaled normal weights, zero biases) for :func:`self_attention`."""
    keys = jax.random.split(key, 4)
    hd = num_heads * head_dim

    def dense(k, n_in, n_out):
        return {"w": jax.random.normal(k, (n_in, n_out)) / jnp.sqrt(n_in), "b": jnp.zeros((n_out,))}

    return {
        "query": dense(keys[0], model_dim, hd),
        "key": dense(keys[1], model_dim, hd),
        "value": dense(keys[2], model_dim, hd),
        "output": dense(keys[3], hd, model_dim),
    }
