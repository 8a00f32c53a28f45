"""attn_jax: multi-head attention in JAX and a real pretrained encoder whose attention we can show.

Axis legend: B batch, T query length, S key length, H heads, D head dim, M model dim, L layers.

- :func:`dot_product_attention` - one head, one example, one pure function per step.
- :func:`multi_head_attention` - vmapped over heads and batch, jit-compiled.
- :func:`efficient_attention` - exact blocked (online-softmax) attention in O(N) memory, used by
  ``multi_head_attention(..., return_weights=False)``.
- :class:`Encoder` - all-MiniLM-L6-v2 (BERT) in JAX: per-layer, per-head attention, Q, K, V.
- :mod:`attn_jax.words` - WordPiece tokens to words, token attention to word attention.
- :mod:`attn_jax.tasks`, :mod:`attn_jax.train` - a synthetic recall task, a tiny transformer and
  a GRU, and an optax training loop (how attention is learned).
"""

from .attention import (
    attention_scores,
    causal_mask,
    dot_product_attention,
    mask_scores,
    multi_head_attention,
    padding_mask,
    scale_scores,
    softmax_weights,
    weighted_sum,
)
from .efficient import efficient_attention
from .encoder import Encoder, SentenceResult
from .errors import AttnJaxError
from .projections import merge_heads, self_attention, split_heads

__version__ = "0.1.0"

__all__ = [
    "attention_scores",
    "scale_scores",
    "mask_scores",
    "softmax_weights",
    "weighted_sum",
    "dot_product_attention",
    "multi_head_attention",
    "efficient_attention",
    "padding_mask",
    "causal_mask",
    "split_heads",
    "merge_heads",
    "self_attention",
    "Encoder",
    "SentenceResult",
    "AttnJaxError",
]
