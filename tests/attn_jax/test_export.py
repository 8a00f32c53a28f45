"""The ONNX export of the encoder (attn_jax.export) against the JAX forward it was traced from."""

import numpy as np
import pytest

from attn_jax.tokenize import pad_batch
from build_scripts.pipeline.config import load_sentences

onnx = pytest.importorskip("onnx", reason="the export needs the charts extra: pip install -e '.[charts]'")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in the charts extra: pip install -e '.[charts]'")

from attn_jax.export import BLOCK, export_attention, quantise_blocks, shrink, to_bytes  # noqa: E402


@pytest.fixture(scope="module")
def exported(encoder):
    return export_attention(encoder)


def _session(model):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # the exporter leaves a few unused constants; ORT warns about each
    return ort.InferenceSession(to_bytes(model), opts, providers=["CPUExecutionProvider"])


def _run(session, ids, mask):
    [att] = session.run(None, {"input_ids": ids.astype(np.int32), "attention_mask": mask.astype(np.int32)})
    return att  # [L, B, H, T, T]


def test_float32_graph_matches_jax_on_every_sentence(encoder, exported):
    """Every layer's attention, for each sentence of sentences.toml: one padded batch (dynamic B and
    T, padding masked) and each sentence alone (other T), both within 1e-5 of the JAX forward."""
    texts = [s.text for s in load_sentences()]
    results = encoder.run(texts)
    session = _session(exported)
    ids, mask = pad_batch([r.tokenized for r in results])
    batch = _run(session, ids, mask)
    assert batch.shape[:3] == (encoder.config.num_hidden_layers, ids.shape[0], encoder.config.num_attention_heads)
    for b, r in enumerate(results):
        n = len(r.input_ids)
        np.testing.assert_allclose(batch[:, b, :, :n, :n], r.attentions, atol=1e-5, rtol=0)
        alone = _run(session, r.input_ids[None], np.ones((1, n)))[:, 0]
        np.testing.assert_allclose(alone, r.attentions, atol=1e-5, rtol=0)


def test_quantise_blocks_known_answer():
    """Blocks along the summed axis, one scale per block, zero blocks exact."""
    w = np.zeros((3, 2 * BLOCK), np.float32)
    w[0, :BLOCK] = np.linspace(-1.27, 1.27, BLOCK)  # scale 0.01: every value a multiple of it
    w[1, BLOCK:] = 5.0
    q, scale = quantise_blocks(w)
    assert q.shape == (3, 2, BLOCK) and q.dtype == np.int8 and scale.shape == (3, 2, 1)
    np.testing.assert_array_equal(q[0, 0], np.rint(np.linspace(-127, 127, BLOCK)))
    np.testing.assert_array_equal(q[1, 1], 127)
    np.testing.assert_array_equal(q[2], 0)  # an all-zero row stays zero (scale 1)
    stacked = np.random.default_rng(0).normal(size=(2, 4 * BLOCK, 5)).astype(np.float32)
    q, scale = quantise_blocks(stacked)
    assert q.shape == (2, 4, BLOCK, 5) and scale.shape == (2, 4, 1, 5)
    back = (q * scale.astype(np.float32)).reshape(stacked.shape)
    assert np.all(np.abs(back - stacked) <= scale.astype(np.float32).max() / 2 + 1e-6)
    with pytest.raises(ValueError, match="multiple of the block"):
        quantise_blocks(np.ones((2, BLOCK + 1), np.float32))


def test_int8_graph_equals_float32_graph_with_dequantised_weights(encoder, exported):
    """The shrunk graph rebuilds each weight as NumPy does (q * scale): its attention equals the
    float32 graph run with those weights, so the only error is the rounding of the weights."""
    from onnx import numpy_helper

    small = shrink(exported, "int8")
    reference = onnx.ModelProto()
    reference.CopyFrom(exported)
    for init in reference.graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT and np.prod(init.dims) >= 65536 and len(init.dims) in (2, 3):
            w = numpy_helper.to_array(init)
            q, scale = quantise_blocks(w)
            init.CopyFrom(numpy_helper.from_array((q * scale.astype(np.float32)).reshape(w.shape), init.name))
    [r] = encoder.run(["A sentence the site does not show, quantised."])
    ids, mask = r.input_ids[None], np.ones((1, len(r.input_ids)))
    np.testing.assert_allclose(_run(_session(small), ids, mask), _run(_session(reference), ids, mask), atol=1e-5)
    assert len(to_bytes(small)) < 0.3 * len(to_bytes(exported))


def test_serialisation_is_deterministic(encoder, exported):
    again = export_attention(encoder)
    assert to_bytes(shrink(again, "int8")) == to_bytes(shrink(exported, "int8"))
