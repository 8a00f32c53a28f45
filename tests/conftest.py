"""Shared test set-up: strict dtype promotion (a silent float64/bfloat16 mix-up fails) and a
NumPy float64 reference of attention that shares no code with attn_jax."""

import jax
import numpy as np
import pytest

jax.config.update("jax_numpy_dtype_promotion", "strict")


def reference_attention(q, k, v, mask=None):
    """NumPy float64 attention, one head: q [T, D], k [S, D], v [S, Dv], mask bool [T, S]."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    scores = q @ k.T / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = np.max(scores, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    e = np.exp(scores - top)
    total = e.sum(-1, keepdims=True)
    w = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
    return w @ v, w


@pytest.fixture(scope="session")
def encoder():
    """The real pretrained encoder (sha256-verified), loaded once per test session."""
    from attn_jax import Encoder

    return Encoder.load()
