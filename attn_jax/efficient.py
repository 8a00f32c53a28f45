"""Exact attention in O(N) memory: queries in blocks, keys in blocks, an online softmax.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(D)) V

computed without ever holding the ``[T, S]`` score matrix (Rabe & Staats 2021, "Self-attention
Does Not Need O(n^2) Memory"; the same recurrence as FlashAttention). For one block of queries
the key blocks are visited in turn, keeping three running quantities per query row::

    m    running maximum of the raw scores seen so far         [B, H, Tq]
    l    running sum of exp(scale * (score - m))               [B, H, Tq]
    acc  running sum of exp(scale * (score - m)) * value       [B, H, Tq, Dv]

When a block raises the maximum, ``l`` and ``acc`` are rescaled by ``exp(scale * (m_old - m))``;
at the end ``out = acc / l``. This equals softmax attention up to float32 rounding. Gradients
come from a hand-written backward pass (:func:`jax.custom_vjp`) that recomputes each score block
from the saved row log-sum-exp, so training runs in O(N) memory too.

Axis legend: B batch, T query length, S key length, H heads, D head dim (Dv for values).
Einsum letters: b, h, d as above; q a query and k a key position inside a block. The public
layout is ``[B, T, H, D]`` (that of :func:`jax.nn.dot_product_attention`); each block step is one
einsum batched over heads. On CPU a step takes only as many examples as keep its score block
within 8 MiB (a loop over the rest; one example per step once the blocks are full size), so short
sequences share a step while a whole batch's block never spills out of cache; accelerators take
the whole batch per step. Where the time goes on a CPU: about 80% in the two matmuls of each
block, the rest in exp, row max and sum and the block copies.

Masks (True = may attend) are never materialised at ``[B, H, T, S]``: ``causal=True`` and
``kv_lengths [B]`` (key padding) are built per block from positions (and causal skips blocks
wholly above the diagonal); a general boolean ``mask`` broadcastable to ``[B, H, T, S]`` is
sliced per block along the axes it has. A query with no allowed key gives zeros, never NaN.
"""

from __future__ import annotations

import math
from functools import lru_cache, partial

import jax
import jax.numpy as jnp
from jax import lax

from .attention import check_mask_shape, check_qkv_shapes

__all__ = ["efficient_attention", "default_blocks", "cudnn_available"]

_CPU_BLOCK_BYTES = 8 << 20  # on CPU, the score block of one step stays within this (cache) size
_NEG = float(jnp.finfo(jnp.float32).min)  # the running max starts here: finite, so no inf - inf


def default_blocks(t: int, s: int, backend: str | None = None) -> tuple[int, int]:
    """Query and key block sizes ``(Tq, Sk)`` for a backend, balanced so padding stays small.

    CPU: at most 512 queries x 2048 keys. Each block step costs a fixed overhead (a few XLA
    ops, each split over the threads), so fewer, larger steps win: measured against 256 x 512
    (B=8, H=12, D=64) about 8% less CPU time at N = 2048 and 4096; smaller blocks were slower,
    although they fit the caches better. Accelerators get 512 x 1024 for their matmul units.
    """
    backend = backend or jax.default_backend()
    max_q, max_k = (512, 2048) if backend == "cpu" else (512, 1024)
    return _balanced(t, max_q), _balanced(s, max_k)


def _balanced(n: int, cap: int) -> int:
    """The smallest block <= cap (a multiple of 8 when n > cap) covering ``n`` in equal steps."""
    if n <= cap:
        return n
    steps = -(-n // cap)
    return -(-(-(-n // steps)) // 8) * 8


# --- one block's mask, built from positions ------------------------------------------------------


def _block_mask(i, j, tq, sk, *, causal, offset, lengths, mask):
    """bool mask of query block i x key block j, broadcastable to ``[B, H, Tq, Sk]``, or None.

    causal: query t may attend to keys at positions <= t + offset (offset = S - T).
    lengths ``[B]``: keys at positions >= lengths[b] are padding.
    mask ``[B|1, H|1, T|1, S|1]``: sliced here along the axes it has.
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
    """Raw scores of one block: qi ``[B, H, Tq, D]``, kj ``[B, H, D, Sk]`` -> ``[B, H, Tq, Sk]``."""
    s = jnp.einsum("bhqd,bhdk->bhqk", qi, kj, preferred_element_type=jnp.float32)
    return s if keep is None else jnp.where(keep, s, -jnp.inf)


def _key_range(i, tq, sk, nk, causal, offset):
    """Key blocks that query block i visits (causal: none wholly above the diagonal)."""
    if not causal:
        return 0, nk
    return 0, jnp.clip((i * tq + tq - 1 + offset) // sk + 1, 0, nk)


def _query_range(j, tq, sk, nq, causal, offset):
    """Query blocks that see key block j (causal: those not wholly above the diagonal)."""
    if not causal:
        return 0, nq
    return jnp.clip((j * sk - offset) // tq, 0, nq), nq


# --- forward and backward on padded inputs (T % Tq == 0, S % Sk == 0) ---------------------------


def _forward(q, k, v, lengths, mask, *, tq, sk, causal, offset, scale):
    """q ``[B, T, H, D]``, k ``[B, S, H, D]``, v ``[B, S, H, Dv]``
    -> out ``[B, T, H, Dv]`` (v's dtype) and the row log-sum-exp ``[B, H, T]`` (float32)."""
    b, t, h, _ = q.shape
    dv = v.shape[-1]
    nq, nk = t // tq, k.shape[1] // sk

    def query_block(i, carry):
        out, lse = carry
        qi = jnp.transpose(lax.dynamic_slice_in_dim(q, i * tq, tq, axis=1), (0, 2, 1, 3))  # [B, H, Tq, D]

        def key_block(j, c):
            m, l, acc = c
            # K and V are sliced and laid out per block (each score block a plain matmul), never
            # copied whole: as fast as slicing pre-transposed copies, without their O(N) memory.
            kj = jnp.transpose(lax.dynamic_slice_in_dim(k, j * sk, sk, axis=1), (0, 2, 3, 1))  # [B, H, D, Sk]
            vj = jnp.transpose(lax.dynamic_slice_in_dim(v, j * sk, sk, axis=1), (0, 2, 1, 3))  # [B, H, Sk, Dv]
            keep = _block_mask(i, j, tq, sk, causal=causal, offset=offset, lengths=lengths, mask=mask)
            s = _scores(qi, kj, keep)  # [B, H, Tq, Sk]
            m_new = jnp.maximum(m, s.max(-1))
            p = jnp.exp((s - m_new[..., None]) * scale)  # masked: exp(-inf) = 0
            alpha = jnp.exp((m - m_new) * scale)  # rescales what earlier blocks summed
            pv = jnp.einsum("bhqk,bhkd->bhqd", p.astype(vj.dtype), vj, preferred_element_type=jnp.float32)
            return m_new, l * alpha + p.sum(-1), acc * alpha[..., None] + pv

        init = (
            jnp.full((b, h, tq), _NEG, jnp.float32),
            jnp.zeros((b, h, tq), jnp.float32),
            jnp.zeros((b, h, tq, dv), jnp.float32),
        )
        m, l, acc = lax.fori_loop(*_key_range(i, tq, sk, nk, causal, offset), key_block, init)
        seen = l > 0  # False: the row had no allowed key -> zeros out, no gradient
        safe_l = jnp.where(seen, l, 1.0)
        o = jnp.where(seen[..., None], acc / safe_l[..., None], 0.0)
        o = jnp.transpose(o, (0, 2, 1, 3)).astype(out.dtype)  # [B, H, Tq, Dv] -> [B, Tq, H, Dv]
        lse_i = jnp.where(seen, m * scale + jnp.log(safe_l), jnp.inf)  # +inf: exp(s - lse) = 0
        out = lax.dynamic_update_slice_in_dim(out, o, i * tq, axis=1)
        lse = lax.dynamic_update_slice_in_dim(lse, lse_i, i * tq, axis=2)
        return out, lse

    init = (jnp.zeros((b, t, h, dv), v.dtype), jnp.zeros((b, h, t), jnp.float32))
    return lax.fori_loop(0, nq, query_block, init)


def _backward(q, k, v, lengths, mask, out, lse, dout, *, tq, sk, causal, offset, scale):
    """Gradients of ``sum(dout * out)`` in q, k, v, one key block (outer) x query block at a time.

    With P = exp(scale * S - lse) recomputed per block:  dV = P^T dO,  dP = dO V^T,
    dS = scale * P * (dP - rowsum(dO * O)),  dQ = dS K,  dK = dS^T Q.
    """
    b, t, h, d = q.shape
    dv_dim = v.shape[-1]
    nq, nk = t // tq, k.shape[1] // sk
    qt, kt, vt, dot = (jnp.transpose(a, (0, 2, 1, 3)) for a in (q, k, v, dout))  # [B, H, N, D]
    ktt = jnp.transpose(k, (0, 2, 3, 1))  # [B, H, D, S]
    delta = jnp.einsum("bthd,bthd->bht", dout, out, preferred_element_type=jnp.float32)  # [B, H, T]
    f32 = partial(jnp.einsum, preferred_element_type=jnp.float32)

    def key_block(j, carry):
        dq, dk, dv = carry
        kj = lax.dynamic_slice_in_dim(kt, j * sk, sk, axis=2)  # [B, H, Sk, D]
        kjt = lax.dynamic_slice_in_dim(ktt, j * sk, sk, axis=3)  # [B, H, D, Sk]
        vj = lax.dynamic_slice_in_dim(vt, j * sk, sk, axis=2)  # [B, H, Sk, Dv]

        def query_block(i, c):
            dq, dkj, dvj = c
            qi = lax.dynamic_slice_in_dim(qt, i * tq, tq, axis=2)  # [B, H, Tq, D]
            doi = lax.dynamic_slice_in_dim(dot, i * tq, tq, axis=2)  # [B, H, Tq, Dv]
            lse_i = lax.dynamic_slice_in_dim(lse, i * tq, tq, axis=2)
            delta_i = lax.dynamic_slice_in_dim(delta, i * tq, tq, axis=2)
            keep = _block_mask(i, j, tq, sk, causal=causal, offset=offset, lengths=lengths, mask=mask)
            p = jnp.exp(_scores(qi, kjt, keep) * scale - lse_i[..., None])  # [B, H, Tq, Sk]
            dvj = dvj + f32("bhqk,bhqd->bhkd", p.astype(doi.dtype), doi)
            dp = f32("bhqd,bhkd->bhqk", doi, vj)
            ds = p * (dp - delta_i[..., None]) * scale
            dkj = dkj + f32("bhqk,bhqd->bhkd", ds.astype(qi.dtype), qi)
            dqi = f32("bhqk,bhkd->bhqd", ds.astype(kj.dtype), kj)
            dq = lax.dynamic_update_slice_in_dim(dq, lax.dynamic_slice_in_dim(dq, i * tq, tq, 2) + dqi, i * tq, 2)
            return dq, dkj, dvj

        init = (dq, jnp.zeros((b, h, sk, d), jnp.float32), jnp.zeros((b, h, sk, dv_dim), jnp.float32))
        dq, dkj, dvj = lax.fori_loop(*_query_range(j, tq, sk, nq, causal, offset), query_block, init)
        dk = lax.dynamic_update_slice_in_dim(dk, dkj, j * sk, axis=2)
        dv = lax.dynamic_update_slice_in_dim(dv, dvj, j * sk, axis=2)
        return dq, dk, dv

    zeros = [jnp.zeros(a.shape, jnp.float32) for a in (qt, kt, vt)]
    dq, dk, dv = lax.fori_loop(0, nk, key_block, tuple(zeros))
    return tuple(jnp.transpose(g, (0, 2, 1, 3)).astype(a.dtype) for g, a in ((dq, q), (dk, k), (dv, v)))


def _examples_per_step(b: int, h: int, tq: int, sk: int) -> int:
    """How many examples one block step takes: on CPU as many as keep the float32 score block
    ``[G, H, Tq, Sk]`` within 8 MiB (a divisor of B); on accelerators the whole batch."""
    if jax.default_backend() != "cpu":
        return b
    fits = max(1, _CPU_BLOCK_BYTES // (h * tq * sk * 4))
    return max(g for g in range(1, b + 1) if b % g == 0 and g <= fits)


def _in_groups(fn, group, *args):
    """``fn(*args)`` run on ``group`` examples at a time (a loop over the leading batch axis).

    Args with a batch axis (size B) are sliced per step; the others (None, a mask with batch
    axis 1) are shared by every step. Results are written into ``[B, ...]`` buffers in place
    (a fori_loop with slices, not lax.map, which measured slower here: it copies its inputs).
    """
    b = args[0].shape[0]
    if group == b:
        return fn(*args)
    split = [a is not None and a.shape[0] == b for a in args]

    def take(g):
        return [lax.dynamic_slice_in_dim(a, g * group, group, 0) if m else a for a, m in zip(args, split)]

    shapes = jax.eval_shape(lambda: fn(*take(0)))

    def step(g, outs):
        return jax.tree.map(lambda o, r: lax.dynamic_update_slice_in_dim(o, r, g * group, 0), outs, fn(*take(g)))

    init = jax.tree.map(lambda r: jnp.zeros((b, *r.shape[1:]), r.dtype), shapes)
    return lax.fori_loop(0, b // group, step, init)


def _run(fn, static, *args):
    q = args[0]
    group = _examples_per_step(q.shape[0], q.shape[2], static["tq"], static["sk"])
    return _in_groups(partial(fn, **static), group, *args)


@partial(jax.custom_vjp, nondiff_argnums=(5,))
def _attention(q, k, v, lengths, mask, static):
    return _run(_forward, dict(static), q, k, v, lengths, mask)[0]


def _attention_fwd(q, k, v, lengths, mask, static):
    out, lse = _run(_forward, dict(static), q, k, v, lengths, mask)
    return out, (q, k, v, lengths, mask, out, lse)


def _attention_bwd(static, res, dout):
    grads = _run(_backward, dict(static), *res, dout)
    return (*grads, None, None)  # lengths and mask (integers, booleans) get no gradient


_attention.defvjp(_attention_fwd, _attention_bwd)


# --- the public entry point --------------------------------------------------------------------


def _pad_axis(x, axis, size, value=0):
    if x.shape[axis] == size:
        return x
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, size - x.shape[axis])
    return jnp.pad(x, widths, constant_values=jnp.array(value, x.dtype))


def _check_shapes(q, k, v, mask, kv_lengths):
    """Raise ``ValueError`` naming the expected and the actual shapes (the rules of :mod:`attn_jax.attention`)."""
    check_qkv_shapes(q, k, v, "efficient_attention")
    if mask is not None:
        check_mask_shape(mask, (q.shape[0], q.shape[2], q.shape[1], k.shape[1]), "[B, H, T, S]")
    if kv_lengths is not None and jnp.shape(kv_lengths) not in ((), (q.shape[0],)):
        raise ValueError(f"kv_lengths must be [B] = ({q.shape[0]},), got shape {tuple(jnp.shape(kv_lengths))}")


@partial(jax.jit, static_argnames=("causal", "q_block", "kv_block", "implementation"))
def efficient_attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    mask: jax.Array | None = None,
    *,
    causal: bool = False,
    kv_lengths: jax.Array | None = None,
    q_block: int | None = None,
    kv_block: int | None = None,
    implementation: str | None = None,
) -> jax.Array:
    """Exact multi-head attention in O(N) memory; the weights are never formed.

    q ``[B, T, H, D]``, k ``[B, S, H, D]``, v ``[B, S, H, Dv]``; ``mask`` bool broadcastable to
    ``[B, H, T, S]`` (True = may attend) or None; ``causal``: query t sees keys at positions
    <= t + (S - T); ``kv_lengths`` int ``[B]``: keys at positions >= kv_lengths[b] are padding
    -> out ``[B, T, H, Dv]`` in v's dtype: softmax(q k^T / sqrt(D)) v under all given masks,
    accumulated in float32. ``q_block``/``kv_block`` override :func:`default_blocks`.

    ``implementation``: None picks cuDNN's fused kernel on a GPU where it compiles for these
    shapes and dtype (see :func:`cudnn_available`), else the blocked online softmax here;
    ``"blocked"`` forces the latter, ``"cudnn"`` the former. jit-compiled (the keyword options
    are static); differentiable in q, k, v.
    """
    _check_shapes(q, k, v, mask, kv_lengths)
    b, t, h, d = q.shape
    s = k.shape[1]
    if mask is not None:
        mask = jnp.reshape(mask, (1,) * (4 - mask.ndim) + mask.shape)
    if implementation not in (None, "blocked", "cudnn"):
        raise ValueError(f"implementation must be None, 'blocked' or 'cudnn', got {implementation!r}")
    if implementation == "cudnn" or (
        implementation is None
        and cudnn_available(
            q.shape, k.shape, v.shape, jnp.dtype(q.dtype).name,
            None if mask is None else mask.shape, causal, kv_lengths is not None,
        )
    ):
        return jax.nn.dot_product_attention(
            q, k, v, mask=mask, is_causal=causal, key_value_seq_lengths=kv_lengths, implementation="cudnn"
        )
    tq, sk = default_blocks(t, s)
    tq, sk = min(q_block or tq, t), min(kv_block or sk, s)
    t_pad, s_pad = -(-t // tq) * tq, -(-s // sk) * sk
    if s_pad != s and kv_lengths is None:
        kv_lengths = jnp.full((b,), s, jnp.int32)  # the padded keys are masked as key padding
    if kv_lengths is not None:
        kv_lengths = jnp.broadcast_to(jnp.asarray(kv_lengths).astype(jnp.int32), (b,))
    if mask is not None:
        mask = _pad_axis(mask, 2, t_pad, False) if mask.shape[2] != 1 else mask
        mask = _pad_axis(mask, 3, s_pad, False) if mask.shape[3] != 1 else mask
    qp, kp, vp = _pad_axis(q, 1, t_pad), _pad_axis(k, 1, s_pad), _pad_axis(v, 1, s_pad)
    static = (("tq", tq), ("sk", sk), ("causal", bool(causal)), ("offset", s - t), ("scale", 1.0 / math.sqrt(d)))
    out = _attention(qp, kp, vp, kv_lengths, mask, static)
    return out[:, :t] if t_pad != t else out


@lru_cache(maxsize=64)
def cudnn_available(q_shape, k_shape, v_shape, dtype: str, mask_shape, causal: bool, with_lengths: bool) -> bool:
    """Whether ``jax.nn.dot_product_attention(implementation='cudnn')`` compiles for this case:
    shapes of q, k, v (``[B, T, H, D]``, ``[B, S, H, D]``, ``[B, S, H, Dv]``) and of the mask (or
    None), dtype name, causal, whether key lengths are given.

    Tried once per case, compiled on its own so that a failure (no GPU, no
    cuDNN, an unsupported dtype such as float32 or head dim) is caught here and never inside
    the caller's jit. Always False off GPU.
    """
    if jax.default_backend() != "gpu":
        return False
    args = [jax.ShapeDtypeStruct(s, jnp.dtype(dtype)) for s in (q_shape, k_shape, v_shape)]
    args.append(None if mask_shape is None else jax.ShapeDtypeStruct(tuple(mask_shape), jnp.bool_))
    args.append(jax.ShapeDtypeStruct((q_shape[0],), jnp.int32) if with_lengths else None)

    def fn(q, k, v, mask, lengths):
        return jax.nn.dot_product_attention(
            q, k, v, mask=mask, is_causal=causal, key_value_seq_lengths=lengths, implementation="cudnn"
        )

    try:
        jax.jit(fn).lower(*args).compile()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not available for this case"
        return False
