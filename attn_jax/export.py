"""The encoder's forward pass exported to ONNX, for runtimes without JAX (e.g. a reader's browser).

Axis legend: B batch, T positions, H heads, L layers.

:func:`export_attention` traces the same jitted forward that :class:`attn_jax.Encoder` runs
(:func:`attn_jax.model.encode`) with ``jax2onnx``, with a symbolic batch and length
(``T <= max_position_embeddings``): one graph serves every sentence. The graph's inputs are
``input_ids`` and ``attention_mask`` (int32 ``[B, T]``, 1 = real token); its output is
``attentions`` (float32 ``[L, B, H, T, T]``, row = query, column = key), every layer's weights.
The weights are the graph's initializers; the L layers stay one ``Loop`` over stacked weights.

:func:`shrink` stores the large weight tensors in fewer bytes, the computation staying float32:

- ``"float16"``: each large tensor stored as float16 and cast back to float32 in the graph;
- ``"int8"``: symmetric int8 in blocks of :data:`BLOCK` values along the axis a weight is summed
  over, each block with its own scale (max |w| / 127, stored as float16): a table ``[N, M]``
  (word and position embeddings) in blocks along M, a stacked matrix ``[L, M_in, M_out]`` in
  blocks along M_in for each output column. The graph multiplies them back (``Cast``, ``Mul``,
  ``Reshape``) before use. ``"int8-row"`` is the same with one block per whole row (one scale
  per embedding row, per layer and output column): 6% fewer bytes, about twice the error.

"Large" is :data:`MIN_ELEMENTS` or more; biases and LayerNorm parameters stay float32.
:func:`to_bytes` serialises deterministically: the same model and code give the same bytes.
Needs ``jax2onnx`` and ``onnx`` (the ``charts`` extra); nothing here is imported by the rest of the
package.
"""

from __future__ import annotations

import numpy as np

__all__ = ["export_attention", "quantise_blocks", "shrink", "to_bytes", "MODES", "BLOCK", "MIN_ELEMENTS", "OPSET"]

MODES = ("float32", "float16", "int8-row", "int8")
BLOCK = 32  # values per int8 scale (mode "int8")
MIN_ELEMENTS = 65536  # tensors this large or larger are shrunk; smaller ones stay float32
OPSET = 18  # onnxruntime-web runs opset 18 graphs
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "attentions"


def export_attention(encoder, opset: int = OPSET):
    """The encoder's attention as an ONNX ``ModelProto`` (float32 weights; see the module docstring)."""
    import jax
    import jax.numpy as jnp
    from jax2onnx import to_onnx

    from .model import encode

    cfg, params = encoder.config, encoder.params

    def attention(input_ids, attention_mask):  # [B, T], [B, T] -> [L, B, H, T, T]
        return encode(cfg, params, input_ids, attention_mask).attentions

    b, t = jax.export.symbolic_shape("B, T", constraints=(f"T <= {cfg.max_position_embeddings}",))
    spec = jax.ShapeDtypeStruct((b, t), jnp.int32)
    model = to_onnx(attention, inputs=[spec, spec], model_name="all_minilm_l6_v2_attention", opset=opset,
                    input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME])
    _fix_output_shape(model, cfg.num_hidden_layers)
    return model


def _fix_output_shape(model, layers: int) -> None:
    """Name the output's axes: the leading (layer) axis is L, known at export time."""
    dims = model.graph.output[0].type.tensor_type.shape.dim
    if dims and not dims[0].HasField("dim_value"):
        dims[0].Clear()
        dims[0].dim_value = layers


def quantise_blocks(w: np.ndarray, block: int | None = BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 in blocks along the summed axis: ``w ≈ (q * scale).reshape(w.shape)``.

    The summed axis is the last of a table ``[N, M]`` and axis 1 of stacked matrices
    ``[L, M_in, M_out]``; it is split into ``(n_blocks, block)`` (``block=None``: one block per
    whole axis). ``[N, M]`` -> q int8 ``[N, M/block, block]``, scale float16 ``[N, M/block, 1]``;
    ``[L, M_in, M_out]`` -> q ``[L, M_in/block, block, M_out]``, scale ``[L, M_in/block, 1, M_out]``.
    An all-zero block gets scale 1 (and stays exactly zero).
    """
    w = np.asarray(w, dtype=np.float32)
    axis = w.ndim - 1 if w.ndim == 2 else 1
    n = w.shape[axis]
    block = block or n
    if n % block:
        raise ValueError(f"axis {axis} of a {w.shape} tensor is not a multiple of the block {block}")
    blocks = w.reshape(*w.shape[:axis], n // block, block, *w.shape[axis + 1:])
    peak = np.abs(blocks).max(axis=axis + 1, keepdims=True)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float16)
    q = np.clip(np.rint(blocks / scale.astype(np.float32)), -127, 127).astype(np.int8)
    return q, scale


def shrink(model, mode: str):
    """A copy of ``model`` whose large float32 initializers are stored as ``mode`` (see the module
    docstring); ``"float32"`` returns an unchanged copy."""
    import onnx
    from onnx import helper, numpy_helper

    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {MODES}")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    if mode == "float32":
        return out
    graph = out.graph
    kept, nodes = [], []
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT or int(np.prod(init.dims)) < MIN_ELEMENTS or len(init.dims) not in (2, 3):
            kept.append(init)
            continue
        w = numpy_helper.to_array(init)
        name, f32 = init.name, onnx.TensorProto.FLOAT
        if mode == "float16":
            kept.append(numpy_helper.from_array(w.astype(np.float16), f"{name}__f16"))
            nodes.append(helper.make_node("Cast", [f"{name}__f16"], [name], to=f32, name=f"{name}__cast"))
            continue
        q, scale = quantise_blocks(w, BLOCK if mode == "int8" else None)
        kept.append(numpy_helper.from_array(q, f"{name}__q"))
        kept.append(numpy_helper.from_array(scale, f"{name}__scale"))
        kept.append(numpy_helper.from_array(np.asarray(w.shape, dtype=np.int64), f"{name}__shape"))
        nodes += [
            helper.make_node("Cast", [f"{name}__q"], [f"{name}__qf"], to=f32, name=f"{name}__cast_q"),
            helper.make_node("Cast", [f"{name}__scale"], [f"{name}__sf"], to=f32, name=f"{name}__cast_scale"),
            helper.make_node("Mul", [f"{name}__qf", f"{name}__sf"], [f"{name}__blocks"], name=f"{name}__dequant"),
            helper.make_node("Reshape", [f"{name}__blocks", f"{name}__shape"], [name], name=f"{name}__reshape"),
        ]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    rest = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + rest)  # the weights are rebuilt first, in initializer order
    return out


def to_bytes(model) -> bytes:
    """The model's protobuf bytes, serialised deterministically."""
    return model.SerializeToString(deterministic=True)
