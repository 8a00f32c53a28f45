"""Scaled dot-product attention, one pure function per step.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(D)) V

Axis legend (used in every docstring, einsum and chart of this project):
    B batch, T query length, S key length, H heads, D head dim, M model dim, L layers.

The core works on one head of one example (``q [T, D]``); ``jax.vmap`` adds heads and batch in
:func:`multi_head_attention`, which is the jit-compiled entry point. This is the reference path: it
forms the weights so they can be shown. The exact weights-free path for long sequences,
:mod:`attn_jax.efficient`, builds on this module's mask rule, never the other way round. Masks are boolean and
True means "may attend". Masked scores are filled with the float32 minimum, the softmax runs in
float32, masked keys get exactly zero weight, and a query whose keys are all masked gets a row of
zeros (never NaN).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

__all__ = [
    "attention_scores",
    "scale_scores",
    "mask_scores",
    "softmax_weights",
    "weighted_sum",
    "dot_product_attention",
    "multi_head_attention",
    "padding_mask",
    "causal_mask",
    "check_mask_shape",
    "check_qkv_shapes",
]


# --- the five steps, for one head of one example -------------------------------------------------


def attention_scores(q: jax.Array, k: jax.Array) -> jax.Array:
    """Raw dot products of every query with every key.

    q ``[T, D]``, k ``[S, D]`` -> scores ``[T, S]`` in float32 (``scores[t, s] = q[t] . k[s]``).
    """
    return jnp.einsum("td,sd->ts", q, k, preferred_element_type=jnp.float32)


def scale_scores(scores: jax.Array, head_dim: int) -> jax.Array:
    """Divide scores ``[T, S]`` by sqrt(D), so their spread does not grow with the head dim."""
    return scores / jnp.sqrt(jnp.float32(head_dim))


def mask_scores(scores: jax.Array, mask: jax.Array | None) -> jax.Array:
    """Replace scores where ``mask`` ``[T, S]`` is False by the float32 minimum.

    The minimum of the dtype (not a magic -1e9) stays finite, so ``exp(min - max)`` underflows to
    an exact 0 instead of producing ``inf - inf = NaN``.
    """
    if mask is None:
        return scores
    return jnp.where(mask, scores, jnp.finfo(jnp.float32).min)


def softmax_weights(scores: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Row-wise softmax of (already scaled and masked) scores ``[T, S]`` -> weights ``[T, S]``.

    Runs in float32 with the row maximum subtracted, so logits of +-1e4 stay finite. Where
    ``mask`` is given, masked keys get exactly 0 and a row with no allowed key is all zeros.
    """
    weights = jax.nn.softmax(scores.astype(jnp.float32), axis=-1)
    if mask is None:
        return weights
    return jnp.where(mask, weights, 0.0)


def weighted_sum(weights: jax.Array, v: jax.Array) -> jax.Array:
    """Mix the values by the weights: weights ``[T, S]``, v ``[S, Dv]`` -> out ``[T, Dv]``."""
    out = jnp.einsum("ts,sd->td", weights.astype(v.dtype), v, preferred_element_type=jnp.float32)
    return out.astype(v.dtype)


def dot_product_attention(
    q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
    """One head, one example: the five steps above in order.

    q ``[T, D]``, k ``[S, D]``, v ``[S, Dv]``, mask bool ``[T, S]`` (True = may attend) or None
    -> ``(out [T, Dv], weights [T, S])``; weights are float32, out has v's dtype.
    """
    if q.ndim != 2 or k.ndim != 2 or v.ndim != 2:
        raise ValueError(
            f"dot_product_attention takes q [T, D], k [S, D], v [S, Dv]; got shapes "
            f"{q.shape}, {k.shape}, {v.shape} (use multi_head_attention for [B, T, H, D])"
        )
    if mask is not None:
        check_mask_shape(mask, (q.shape[0], k.shape[0]), "[T, S]")
    scores = attention_scores(q, k)
    scores = scale_scores(scores, q.shape[-1])
    scores = mask_scores(scores, mask)
    weights = softmax_weights(scores, mask)
    return weighted_sum(weights, v), weights


# --- masks -----------------------------------------------------------------------------------


def check_mask_shape(mask: jax.Array, expected: tuple[int, ...], axes: str) -> None:
    """Raise ``ValueError`` naming expected and actual shapes unless ``mask`` broadcasts to them."""
    if mask.dtype != jnp.bool_:
        raise ValueError(
            f"mask must be boolean (True = may attend), got dtype {mask.dtype}; "
            f"convert with mask.astype(bool)"
        )
    try:
        ok = jnp.broadcast_shapes(mask.shape, expected) == tuple(expected)
    except ValueError:
        ok = False
    if not ok or mask.ndim > len(expected):
        raise ValueError(
            f"mask shape {tuple(mask.shape)} does not broadcast to the expected {axes} = "
            f"{tuple(expected)}"
        )


def padding_mask(lengths: jax.Array, max_len: int) -> jax.Array:
    """Key-padding mask from true lengths ``[B]`` -> bool ``[B, 1, 1, S]`` (True = real token).

    Broadcasts against ``[B, H, T, S]``: every query may attend to every real key.
    """
    keep = jnp.arange(max_len)[None, :] < jnp.asarray(lengths)[:, None]
    return keep[:, None, None, :]


def causal_mask(t: int, s: int | None = None) -> jax.Array:
    """Lower-triangular mask bool ``[T, S]``: query t may attend to keys at positions <= t.

    With S > T the queries are taken to be the last T positions of the S keys.
    """
    s = t if s is None else s
    return jnp.arange(s)[None, :] <= jnp.arange(t)[:, None] + (s - t)


# --- the batched, multi-head entry point -------------------------------------------------------


def _one_head_vmapped(q, k, v, mask):
    # q [B, T, H, D], k/v [B, S, H, D], mask [B, H, T, S]
    per_head = jax.vmap(dot_product_attention, in_axes=(1, 1, 1, 0), out_axes=(1, 0))
    per_batch = jax.vmap(per_head, in_axes=(0, 0, 0, 0), out_axes=(0, 0))
    return per_batch(q, k, v, mask)


@jax.jit
def _multi_head_attention(q, k, v, mask):
    b, t, h, _ = q.shape
    s = k.shape[1]
    if mask is None:
        mask = jnp.ones((b, h, t, s), dtype=jnp.bool_)
    mask = jnp.broadcast_to(mask, (b, h, t, s))
    return _one_head_vmapped(q, k, v, mask)


def multi_head_attention(
    q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
    """Batched multi-head attention: :func:`dot_product_attention` vmapped over heads and batch.

    q ``[B, T, H, D]``, k and v ``[B, S, H, D]`` (the layout of ``jax.nn.dot_product_attention``),
    mask bool broadcastable to ``[B, H, T, S]`` (True = may attend) or None
    -> ``(out [B, T, H, D], weights [B, H, T, S])``. jit-compiled; shapes are checked before
    tracing so a wrong shape fails with a message naming expected and actual shapes. When the
    weights are not wanted, :func:`attn_jax.efficient.efficient_attention` gives the same output
    without forming them (exact, O(N) memory).
    """
    check_qkv_shapes(q, k, v, "multi_head_attention")
    if mask is not None:
        mask = jnp.asarray(mask)
        b, t, h, _ = q.shape
        check_mask_shape(mask, (b, h, t, k.shape[1]), "[B, H, T, S]")
    return _multi_head_attention(q, k, v, mask)


def check_qkv_shapes(q: jax.Array, k: jax.Array, v: jax.Array, caller: str) -> None:
    """Raise ``ValueError`` unless q ``[B, T, H, D]``, k ``[B, S, H, D]`` and v ``[B, S, H, Dv]`` agree."""
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4 or k.shape != (q.shape[0], k.shape[1], *q.shape[2:]) \
            or v.shape[:3] != k.shape[:3]:
        raise ValueError(
            f"{caller} takes q [B, T, H, D], k [B, S, H, D], v [B, S, H, Dv] with matching B, H, D; got shapes "
            f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )


def flops(b: int, h: int, t: int, s: int, d: int) -> float:
    """Multiply-adds of attention counted as flops: two matmuls of 2*B*H*T*S*D each."""
    return 4.0 * b * h * t * s * d

