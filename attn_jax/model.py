"""A BERT encoder in JAX (all-MiniLM-L6-v2), built on :mod:`attn_jax.projections`.

Axis legend: B batch, T positions, H heads, D head dim, M model dim, L layers.

The checkpoint is read from a folder holding ``config.json`` and ``model.safetensors`` (the
layout of a Hugging Face BERT checkpoint; :mod:`attn_jax.checkpoints` finds and verifies it).
:data:`LAYER_PARAM_MAP` and :data:`EMBEDDING_PARAM_MAP` are the one explicit mapping from
checkpoint keys to parameters; every tensor is shape-checked on load. The L layers are stacked
along a leading axis and run with ``jax.lax.scan``, so one compiled layer serves all of them.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .checkpoints import INSTALL_HINT, PRETRAINED_SHA256, BertConfig, default_model_dir, verify_checksums
from .errors import AttnJaxError
from .projections import self_attention

__all__ = ["EncoderOutput", "expected_shapes", "load_params", "encode"]

# Checkpoint key (per layer, "{i}" = layer index) -> (parameter path, transpose?).
# Dense weights are stored [out, in] by PyTorch; we keep [in, out] so x @ w reads left to right.
LAYER_PARAM_MAP = {
    "encoder.layer.{i}.attention.self.query.weight": (("attention", "query", "w"), True),
    "encoder.layer.{i}.attention.self.query.bias": (("attention", "query", "b"), False),
    "encoder.layer.{i}.attention.self.key.weight": (("attention", "key", "w"), True),
    "encoder.layer.{i}.attention.self.key.bias": (("attention", "key", "b"), False),
    "encoder.layer.{i}.attention.self.value.weight": (("attention", "value", "w"), True),
    "encoder.layer.{i}.attention.self.value.bias": (("attention", "value", "b"), False),
    "encoder.layer.{i}.attention.output.dense.weight": (("attention", "output", "w"), True),
    "encoder.layer.{i}.attention.output.dense.bias": (("attention", "output", "b"), False),
    "encoder.layer.{i}.attention.output.LayerNorm.weight": (("attention_norm", "scale"), False),
    "encoder.layer.{i}.attention.output.LayerNorm.bias": (("attention_norm", "bias"), False),
    "encoder.layer.{i}.intermediate.dense.weight": (("ffn_in", "w"), True),
    "encoder.layer.{i}.intermediate.dense.bias": (("ffn_in", "b"), False),
    "encoder.layer.{i}.output.dense.weight": (("ffn_out", "w"), True),
    "encoder.layer.{i}.output.dense.bias": (("ffn_out", "b"), False),
    "encoder.layer.{i}.output.LayerNorm.weight": (("ffn_norm", "scale"), False),
    "encoder.layer.{i}.output.LayerNorm.bias": (("ffn_norm", "bias"), False),
}
EMBEDDING_PARAM_MAP = {
    "embeddings.word_embeddings.weight": ("word", False),
    "embeddings.position_embeddings.weight": ("position", False),
    "embeddings.token_type_embeddings.weight": ("token_type", False),
    "embeddings.LayerNorm.weight": ("norm_scale", False),
    "embeddings.LayerNorm.bias": ("norm_bias", False),
}
UNUSED_KEYS = ("pooler.", "embeddings.position_ids")


def expected_shapes(cfg: BertConfig) -> dict[str, tuple[int, ...]]:
    """Shape of every checkpoint tensor as stored ([out, in] for dense weights)."""
    m, f = cfg.hidden_size, cfg.intermediate_size
    shapes = {
        "embeddings.word_embeddings.weight": (cfg.vocab_size, m),
        "embeddings.position_embeddings.weight": (cfg.max_position_embeddings, m),
        "embeddings.token_type_embeddings.weight": (cfg.type_vocab_size, m),
        "embeddings.LayerNorm.weight": (m,),
        "embeddings.LayerNorm.bias": (m,),
    }
    per_layer = {"intermediate.dense.weight": (f, m), "intermediate.dense.bias": (f,), "output.dense.weight": (m, f)}
    for i in range(cfg.num_hidden_layers):
        for key in LAYER_PARAM_MAP:
            short = key.split("{i}.")[1]
            shape = per_layer.get(short, (m, m) if short.endswith("weight") and "LayerNorm" not in short else (m,))
            shapes[key.format(i=i)] = shape
    return shapes


def _set(tree: dict, path: tuple[str, ...], value) -> None:
    for name in path[:-1]:
        tree = tree.setdefault(name, {})
    tree[path[-1]] = value


def load_params(model_dir: Path | None = None, checksums: dict[str, str] | None = PRETRAINED_SHA256):
    """Load ``(config, params)`` from a checkpoint folder.

    ``checksums`` maps file names to sha256 digests that must match (None skips the check, for
    test checkpoints). Every tensor's shape is checked; missing or unexpected keys are errors.
    params: ``{"embeddings": {...}, "layers": {...}}`` with each layer tensor stacked to ``[L, ...]``.
    """
    from safetensors.numpy import load_file

    model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
    if checksums:
        verify_checksums(model_dir, checksums)
    cfg = BertConfig.from_json(model_dir / "config.json")
    try:
        tensors = load_file(str(model_dir / "model.safetensors"))
    except Exception as e:  # safetensors raises its own error types for truncated or garbled files
        raise AttnJaxError(f"cannot read {model_dir / 'model.safetensors'}: {e}; reinstall it: {INSTALL_HINT}") from None

    shapes = expected_shapes(cfg)
    missing = sorted(set(shapes) - set(tensors))
    unexpected = sorted(k for k in set(tensors) - set(shapes) if not k.startswith(UNUSED_KEYS))
    if missing or unexpected:
        raise AttnJaxError(f"checkpoint keys do not match BERT: missing {missing[:3]}, unexpected {unexpected[:3]}")
    for key, shape in shapes.items():
        if tensors[key].shape != shape:
            raise AttnJaxError(f"checkpoint tensor {key} has shape {tensors[key].shape}, expected {shape}")

    embeddings = {name: jnp.asarray(tensors[key]) for key, (name, _) in EMBEDDING_PARAM_MAP.items()}
    layers: dict = {}
    for key, (path, transpose) in LAYER_PARAM_MAP.items():
        stacked = np.stack([tensors[key.format(i=i)] for i in range(cfg.num_hidden_layers)])
        _set(layers, path, jnp.asarray(stacked.transpose(0, 2, 1) if transpose else stacked))
    return cfg, {"embeddings": embeddings, "layers": layers}


# --- forward pass ----------------------------------------------------------------------------


class EncoderOutput(NamedTuple):
    """Everything one forward pass returns (nothing is stored on objects)."""

    hidden: jax.Array  # [B, T, M] last hidden state
    hidden_states: jax.Array  # [L+1, B, T, M]: embeddings, then each layer's output
    attentions: jax.Array  # [L, B, H, T, T] row = query, column = key
    q: jax.Array | None  # [L, B, T, H, D] (None when run with qkv=False)
    k: jax.Array | None  # [L, B, T, H, D]
    v: jax.Array | None  # [L, B, T, H, D]


def layer_norm(x: jax.Array, scale: jax.Array, bias: jax.Array, eps: float) -> jax.Array:
    """LayerNorm over the last axis (biased variance, as in BERT)."""
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + eps) * scale + bias


def embed(params: dict, input_ids: jax.Array, eps: float) -> jax.Array:
    """Token + position + token-type (all type 0) embeddings, then LayerNorm: ``[B, T]`` -> ``[B, T, M]``."""
    t = input_ids.shape[1]
    x = params["word"][input_ids] + params["position"][:t][None] + params["token_type"][0]
    return layer_norm(x, params["norm_scale"], params["norm_bias"], eps)


def encoder_layer(p: dict, x: jax.Array, mask: jax.Array, num_heads: int, eps: float):
    """One post-LayerNorm BERT layer: self-attention + residual + LN, then GELU FFN + residual + LN."""
    att = self_attention(p["attention"], x, num_heads, mask)
    x = layer_norm(x + att.out, p["attention_norm"]["scale"], p["attention_norm"]["bias"], eps)
    h = jax.nn.gelu(x @ p["ffn_in"]["w"] + p["ffn_in"]["b"], approximate=False)  # exact (erf) GELU
    x = layer_norm(x + h @ p["ffn_out"]["w"] + p["ffn_out"]["b"], p["ffn_norm"]["scale"], p["ffn_norm"]["bias"], eps)
    return x, att


@partial(jax.jit, static_argnames=("num_heads", "eps", "qkv"))
def _encode(params, input_ids, attention_mask, num_heads, eps, qkv=True):
    x = embed(params["embeddings"], input_ids, eps)
    mask = attention_mask.astype(jnp.bool_)[:, None, None, :]  # [B, 1, 1, T]: pad keys masked

    def step(x, layer_params):
        x, att = encoder_layer(layer_params, x, mask, num_heads, eps)
        return x, (x, att.weights, *((att.q, att.k, att.v) if qkv else (None, None, None)))

    last, (states, weights, q, k, v) = jax.lax.scan(step, x, params["layers"])
    return EncoderOutput(last, jnp.concatenate([x[None], states]), weights, q, k, v)


def encode(cfg: BertConfig, params: dict, input_ids, attention_mask, *, qkv: bool = True) -> EncoderOutput:
    """Run the encoder on token ids ``[B, T]`` with attention_mask ``[B, T]`` (1/True = real token).

    ``qkv=False`` leaves out the per-layer Q, K, V (``None`` in the output): less to store and
    copy when only attention and hidden states are wanted.

    Padding keys get exactly zero attention, so a padded sentence's real rows equal its
    unpadded result. One compile per distinct ``[B, T]`` shape; see :mod:`attn_jax.tokenize`
    for bucketing lengths so that many sentences share a compile.
    """
    input_ids = jnp.asarray(input_ids, dtype=jnp.int32)
    if input_ids.ndim != 2 or input_ids.shape[1] > cfg.max_position_embeddings:
        raise ValueError(
            f"input_ids must be [B, T] with T <= {cfg.max_position_embeddings}; got {tuple(input_ids.shape)}"
        )
    attention_mask = jnp.asarray(attention_mask)
    if attention_mask.shape != input_ids.shape:
        raise ValueError(f"attention_mask must be [B, T] = {tuple(input_ids.shape)}; got {tuple(attention_mask.shape)}")
    return _encode(params, input_ids, attention_mask, cfg.num_attention_heads, cfg.layer_norm_eps, qkv)
