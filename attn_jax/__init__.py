"""attn_jax: multi-head attention in JAX and real pretrained models whose attention we can show.

Axis legend: B batch, T query length, S key length, H heads, D head dim, M model dim, L layers.

Functions and classes (``attn_jax.NAME``):

- :func:`dot_product_attention` - one head, one example, one pure function per step
  (:func:`attention_scores`, :func:`scale_scores`, :func:`mask_scores`, :func:`softmax_weights`,
  :func:`weighted_sum`), with :func:`padding_mask` and :func:`causal_mask`.
- :func:`multi_head_attention` - vmapped over heads and batch, jit-compiled; returns the weights.
- :func:`efficient_attention` - the same output in O(N) memory (blocked online softmax), weights
  never formed.
- :func:`split_heads`, :func:`merge_heads`, :func:`self_attention` - the projections around it.
- :class:`Encoder` - all-MiniLM-L6-v2 (BERT) in JAX: per-layer, per-head attention, Q, K, V.
- :class:`Decoder` - SmolLM2-135M (Llama: RoPE, grouped-query attention, KV cache) in JAX:
  attention of every layer and query head, logits, generation with the attention behind each token.

Modules (``attn_jax.MODULE``): ``attention``, ``efficient``, ``projections`` (the maths);
``checkpoints``, ``tokenize``, ``model``, ``encoder``, ``corpus``, ``export`` (the pretrained
encoder, its files, corpus runs and ONNX export); ``gguf_weights``, ``decoder_tokenizer``, ``llama``,
``decoder``, ``decoder_corpus`` (the decoder: its GGUF file, tokenizer, forward pass, API, corpus
runs); ``words`` (WordPieces to words, and the word rule); ``analysis`` (every corpus measure,
NumPy only); ``tasks``, ``train`` (the small models this project trains); ``errors``; ``cli`` (``python -m attn_jax``).

Names load on first use, so importing a light module (``attn_jax.words``, ``attn_jax.analysis``,
``attn_jax.checkpoints``) does not import JAX: the site build and the chart pipeline's stale check
run without it.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it
_NAMES = {
    "attention_scores": "attention",
    "scale_scores": "attention",
    "mask_scores": "attention",
    "softmax_weights": "attention",
    "weighted_sum": "attention",
    "dot_product_attention": "attention",
    "multi_head_attention": "attention",
    "padding_mask": "attention",
    "causal_mask": "attention",
    "efficient_attention": "efficient",
    "split_heads": "projections",
    "merge_heads": "projections",
    "self_attention": "projections",
    "Encoder": "encoder",
    "SentenceResult": "encoder",
    "AttnJaxError": "errors",
    "Decoder": "decoder",
    "DecoderResult": "decoder",
    "Generation": "decoder",
}
_MODULES = ("analysis", "attention", "checkpoints", "cli", "corpus", "efficient", "encoder", "errors", "export",
            "induction", "model", "projections", "tasks", "tokenize", "train", "words",
            "gguf_weights", "decoder_tokenizer", "llama", "decoder", "decoder_corpus")

__all__ = [*_NAMES, *_MODULES]


def __getattr__(name: str):
    if name in _NAMES:
        value = getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    elif name in _MODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'attn_jax' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
