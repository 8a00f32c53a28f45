"""Exact attention in O(N) memory: queries in chunks, keys in chunks, an online softmax.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(D)) V

computed without ever holding the ``[T, S]`` score matrix (Rabe & Staats 2021, "Self-attention
Does Not Need O(n^2) Memory"; the same recurrence as FlashAttention). For one block of queries,
the key blocks are visited in turn while three running quantities are kept per query row::

    m   running maximum of the raw scores seen so far          [B, H, Tq]
    l   running sum of exp(scale * (score - m))                [B, H, Tq]
    acc running sum of exp(scale * (score - m)) * value        [B, H, Tq, Dv]

and when a new block raises the maximum, the old ``l`` and ``acc`` are rescaled by
``exp(scale * (m_old - m_new))``. At the end ``out = acc / l``. The result equals the plain
softmax attention up to float32 rounding. Gradients come from a hand-written backward pass
(:func:`jax.custom_vjp`) that recomputes each score block from the saved row log-sum-exp, so
training also runs in O(N) memory.

Axis legend: B batch, T query length, S key length, H heads, D head dim (Dv for values).
Einsum letters: b, h, d as above; q a query position inside a block, k a key position inside a
block. Layout is ``[B, T, H, D]`` (that of :func:`jax.nn.dot_product_attention`); each block
step is one batched einsum over all heads and examples.

Masks (True = may attend) are never materialised at ``[B, H, T, S]``: ``causal=True`` and
``kv_lengths [B]`` (key padding) are built per block from positions, and a general boolean
``mask`` broadcastable to ``[B, H, T, S]`` is sliced per block along the axes it actually has.
A query row with no allowed key gives zeros, never NaN (and zero gradients).
"""

from __future__ import annotations

import math
from functools import lru_cache, partial

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["efficient_attention", "default_chunks"]

_NEG = jnp.finfo(jnp.float32).min  # the running max starts here (finite: no inf - inf)


def default_chunks(t: int, s: int, backend: str | None = None) -> tuple[int, int]:
    """Query and key block sizes ``(Tq, Sk)`` for the backend, balanced so padding stays small.

    CPU: blocks of at most 256 queries x 512 keys keep one head's ``[Tq, Sk]`` score block
    within the L2/L3 caches while each step stays one large batched matmul. Accelerators get
    larger blocks (their matmul units want them, their memory is fast).
    """
    backend = backend or jax.default_backend()
    max_q, max_k = (256, 512) if backend == "cpu" else (512, 1024)
    return _balanced(t, max_q), _balanced(s, max_k)


def _balanced(n: int, cap: int) -> int:
    """Smallest block <= cap (a multiple of 8 when blocked) covering ``n`` in equal steps."""
    if n <= cap:
        return n
    steps = -(-n // cap)
    return -(-(-(-n // steps)) // 8) * 8


# --- one block of masks, built from positions ---------------------------------------------------


def _block_mask(i, j, tq, sk, *, causal, offset, lengths, mask):
    """bool mask for query block i and key block j, broadcastable to ``[B, H, Tq, Sk]``, or None.

    ``offset = S - T``: with causal=True query t may attend to keys at positions <= t + offset.
    ``lengths [B]``: keys at positions >= lengths[b] are padding. ``mask``: a general boolean
    mask ``[B|1, H|1, T|1, S|1]``, sliced here along the axes it has.
    """
    keep = None
    kpos = j * sk + lax.iota(jnp.int32, sk)
    if causal:
        qpos = i * tq + lax.iota(jnp.int32, tq) + offset
        keep = kpos[None, :] <= qpos[:, None]  # [Tq, Sk]
    if lengths is not None:
        pad = (kpos[None, :] < lengths[:, None])[:, None, None, :]  # [B, 1, 1, Sk]
        keep = pad if keep is None else keep & pad
    if mask is not None:
        m = mask
        if m.shape[2] != 1:
            m = lax.dynamic_slice_in_dim(m, i * tq, tq, axis=2)
        if m.shape[3] != 1:
            m = lax.dynamic_slice_in_dim(m, j * sk, sk, axis=3)
        keep = m if keep is None else keep & m
    return keep


def _scores(qi, kj, keep):
    """Raw scores of a block: qi ``[B, Tq, H, D]``, kj ``[B, Sk, H, D]`` -> ``[B, H, Tq, Sk]``."""
    s = jnp.einsum("bqhd,bkhd->bhqk", qi, kj, preferred_element_type=jnp.float32)
    return s if keep is None else jnp.where(keep, s, -jnp.inf)


def _key_blocks(i, tq, sk, nk, causal, offset):
    """Range of key blocks query block i must visit (causal: none wholly above the diagonal)."""
    if not causal:
        return 0, nk
    last_q = i * tq + tq - 1 + offset
    return 0, jnp.clip(last_q // sk + 1, 0, nk)


def _query_blocks(j, tq, sk, nq, causal, offset):
    """Range of query blocks that see key block j (causal: those at or below the diagonal)."""
    if not causal:
        return 0, nq
    first_q = j * sk - offset  # the first query position allowed to see this block's first key
    return jnp.clip(first_q // tq, 0, nq), nq


# --- forward and backward over padded inputs (T % Tq == 0, S % Sk == 0) ---------------------------


def _forward(q, k, v, lengths, mask, *, tq, sk, causal, offset, scale):
    """-> out ``[B, T, H, Dv]`` (q's dtype) and row log-sum-exp ``[B, H, T]`` (float32)."""
    b, t, h, _ = q.shape
    s_len, dv = k.shape[1], v.shape[-1]
    nq, nk = t // tq, s_len // sk

    def query_block(i, carry):
        out, lse = carry
        qi = lax.dynamic_slice_in_dim(q, i * tq, tq, axis=1)

        def key_block(j, c):
            m, l, acc = c
            kj = lax.dynamic_slice_in_dim(k, j * sk, sk, axis=1)
            vj = lax.dynamic_slice_in_dim(v, j * sk, sk, axis=1)
            keep = _block_mask(i, j, tq, sk, causal=causal, offset=offset, lengths=lengths, mask=mask)
            s = _scores(qi, kj, keep)  # [B, H, Tq, Sk]
            m_new = jnp.maximum(m, s.max(-1))  # finite: starts at the float32 minimum
            p = jnp.exp((s - m_new[..., None]) * scale)  # masked: exp(-inf) = 0
            alpha = jnp.exp((m - m_new) * scale)
            l = l * alpha + p.sum(-1)
            pv = jnp.einsum("bhqk,bkhd->bhqd", p.astype(v.dtype), vj, preferred_element_type=jnp.float32)
            return m_new, l, acc * alpha[..., None] + pv

        init = (
            jnp.full((b, h, tq), _NEG, jnp.float32),
            jnp.zeros((b, h, tq), jnp.float32),
            jnp.zeros((b, h, tq, dv), jnp.float32),
        )
        lo, hi = _key_blocks(i, tq, sk, nk, causal, offset)
        m, l, acc = lax.fori_loop(lo, hi, key_block, init)
        seen = l > 0  # False: the row had no allowed key -> zeros, and no gradient
        o = jnp.where(seen[..., None], acc / jnp.where(seen, l, 1.0)[..., None], 0.0)
        o = jnp.transpose(o, (0, 2, 1, 3)).astype(out.dtype)  # [B, H, Tq, Dv] -> [B, Tq, H, Dv]
        lse_i = jnp.where(seen, m * scale + jnp.log(jnp.where(seen, l, 1.0)), jnp.inf)
        out = lax.dynamic_update_slice_in_dim(out, o, i * tq, axis=1)
        lse = lax.dynamic_update_slice_in_dim(lse, lse_i, i * tq, axis=2)
        return out, lse

    out = jnp.zeros((b, t, h, dv), q.dtype)
    lse = jnp.zeros((b, h, t), jnp.float32)
    return lax.fori_loop(0, nq, query_block, (out, lse))


def _backward(q, k, v, lengths, mask, out, lse, dout, *, tq, sk, causal, offset, scale):
    """Gradients of sum(dout * out) with respect to q, k, v, one key block at a time.

    With p = exp(scale * s - lse) recomputed per block:  dV = P^T dO,  dP = dO V^T,
    dS = P * (dP - rowsum(dO * O)),  dQ = scale * dS K,  dK = scale * dS^T Q.
    """
    b, t, h, d = q.shape
    s_len = k.shape[1]
    nq, nk = t // tq, s_len // sk
    # rowsum(dO * O) [B, H, T]: the softmax's own correction term
    delta = jnp.einsum("bthd,bthd->bht", dout, out, preferred_element_type=jnp.float32)

    def key_block(j, carry):
        dq, dk, dv = carry
        kj = lax.dynamic_slice_in_dim(k, j * sk, sk, axis=1)
        vj = lax.dynamic_slice_in_dim(v, j * sk, sk, axis=1)

        def query_block(i, c):
            dq, dkj, dvj = c
            qi = lax.dynamic_slice_in_dim(q, i * tq, tq, axis=1)
            doi = lax.dynamic_slice_in_dim(dout, i * tq, tq, axis=1)
            lse_i = lax.dynamic_slice_in_dim(lse, i * tq, tq, axis=2)
            delta_i = lax.dynamic_slice_in_dim(delta, i * tq, tq, axis=2)
            keep = _block_mask(i, j, tq, sk, causal=causal, offset=offset, lengths=lengths, mask=mask)
            p = jnp.exp(_scores(qi, kj, keep) * scale - lse_i[..., None])  # [B, H, Tq, Sk]
            dvj = dvj + jnp.einsum("bhqk,bqhd->bkhd", p.astype(doi.dtype), doi, preferred_element_type=jnp.float32)
            dp = jnp.einsum("bqhd,bkhd->bhqk", doi, vj, preferred_element_type=jnp.float32)
            ds = p * (dp - delta_i[..., None]) * scale
            dkj = dkj + jnp.einsum("bhqk,bqhd->bkhd", ds.astype(qi.dtype), qi, preferred_element_type=jnp.float32)
            dqi = jnp.einsum("bhqk,bkhd->bqhd", ds.astype(kj.dtype), kj, preferred_element_type=jnp.float32)
            dq = lax.dynamic_update_slice_in_dim(
                dq, lax.dynamic_slice_in_dim(dq, i * tq, tq, axis=1) + dqi, i * tq, axis=1
            )
            return dq, dkj, dvj

        init = (dq, jnp.zeros((b, sk, h, d), jnp.float32), jnp.zeros((b, sk, h, v.shape[-1]), jnp.float32))
        lo, hi = _query_blocks(j, tq, sk, nq, causal, offset)
        dq, dkj, dvj = lax.fori_loop(lo, hi, query_block, init)
        dk = lax.dynamic_update_slice_in_dim(dk, dkj, j * sk, axis=1)
        dv = lax.dynamic_update_slice_in_dim(dv, dvj, j * sk, axis=1)
        return dq, dk, dv

    zeros = lambda a: jnp.zeros(a.shape, jnp.float32)  # noqa: E731
    dq, dk, dv = lax.fori_loop(0, nk, key_block, (zeros(q), zeros(k), zeros(v)))
    return dq.astype(q.dtype), dk.astype(k.dtype), dv.astype(v.dtype)


@partial(jax.custom_vjp, nondiff_argnums=(5,))
def _attention(q, k, v, lengths, mask, static):
    return _forward(q, k, v, lengths, mask, **dict(static))[0]


def _attention_fwd(q, k, v, lengths, mask, static):
    out, lse = _forward(q, k, v, lengths, mask, **dict(static))
    return out, (q, k, v, lengths, mask, out, lse)


def _attention_bwd(static, res, dout):
    q, k, v, lengths, mask, out, lse = res
    dq, dk, dv = _backward(q, k, v, lengths, mask, out, lse, dout, **dict(static))
    return dq, dk, dv, None, None  # no gradient for lengths and mask (integers, booleans)


_attention.defvjp(_attention_fwd, _attention_bwd)


# --- the public entry point --------------------------------------------------------------------


def _pad_axis(x, axis, size, value=0):
    if x.shape[axis] == size:
        return x
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, size - x.shape[axis])
    return jnp.pad(x, widths, constant_values=jnp.array(value, x.dtype))


def efficient_attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    mask: jax.Array | None = None,
    *,
    causal: bool = False,
    kv_lengths: jax.Array | None = None,
    q_chunk: int | None = None,
    kv_chunk: int | None = None,
) -> jax.Array:
    """Exact multi-head attention in O(N) memory (no weights returned).

    q ``[B, T, H, D]``, k ``[B, S, H, D]``, v ``[B, S, H, Dv]``; ``mask`` bool broadcastable to
    ``[B, H, T, S]`` (True = may attend) or None; ``causal``: query t sees keys <= t + (S - T);
    ``kv_lengths`` int ``[B]``: keys at positions >= kv_lengths[b] are padding
    -> out ``[B, T, H, Dv]`` in q's dtype, equal to softmax(q k^T / sqrt(D)) v with the masks
    applied (float32 accumulation). ``q_chunk``/``kv_chunk`` override :func:`default_chunks`.
    Differentiable in q, k, v; traceable under jit and vmap-free (batch and heads are axes).
    """
    b, t, h, d = q.shape
    s = k.shape[1]
    if mask is not None and mask.ndim < 4:
        mask = jnp.reshape(mask, (1,) * (4 - mask.ndim) + mask.shape)
    tq, sk = default_chunks(t, s)
    tq, sk = min(q_chunk or tq, t), min(kv_chunk or sk, s)
    t_pad, s_pad = -(-t // tq) * tq, -(-s // sk) * sk
    if s_pad != s and kv_lengths is None:
        kv_lengths = jnp.full((b,), s, jnp.int32)  # padded keys are masked like padding
    if kv_lengths is not None:
        kv_lengths = jnp.asarray(kv_lengths).astype(jnp.int32)
    if mask is not None:
        if mask.shape[2] != 1:
            mask = _pad_axis(mask, 2, t_pad, False)
        if mask.shape[3] != 1:
            mask = _pad_axis(mask, 3, s_pad, False)
    qp = _pad_axis(q, 1, t_pad)
    kp, vp = _pad_axis(k, 1, s_pad), _pad_axis(v, 1, s_pad)
    static = (("tq", tq), ("sk", sk), ("causal", bool(causal)), ("offset", s - t), ("scale", 1.0 / math.sqrt(d)))
    out = _attention(qp, kp, vp, kv_lengths, mask, static)
    return out[:, :t] if t_pad != t else out


# --- accelerators: hand over to a fused kernel where one exists --------------------------------


@lru_cache(maxsize=64)
def cudnn_available(shape_q, shape_k, dtype, causal: bool, with_lengths: bool) -> bool:
    """Whether ``jax.nn.dot_product_attention(implementation='cudnn')`` compiles for this case.

    Tried once per shape/dtype/options (compiled stand-alone, so a failure is caught here and
    never inside the caller's jit); False on any backend but GPU.
    """
    if jax.default_backend() != "gpu":
        return False
    args = [jax.ShapeDtypeStruct(shape_q, dtype), jax.ShapeDtypeStruct(shape_k, dtype), jax.ShapeDtypeStruct(shape_k, dtype)]
    if with_lengths:
        args.append(jax.ShapeDtypeStruct(shape_q[:1], jnp.int32))

    def fn(q, k, v, lengths=None):
        return jax.nn.dot_product_attention(
            q, k, v, is_causal=causal, key_value_seq_lengths=lengths, implementation="cudnn"
        )

    try:
        jax.jit(fn).lower(*args).compile()
        return True
    except Exception:  # noqa: BLE001 - any failure (no cuDNN, unsupported shape/dtype) means "no"
        return False
