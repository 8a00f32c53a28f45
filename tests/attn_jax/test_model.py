"""The checkpoint loader on a tiny random BERT (vocab 11, hidden 8): a key-mapping or transpose bug
fails here in milliseconds, checked against an independent NumPy float64 BERT forward pass."""

import json
import math

import numpy as np
import pytest
from safetensors.numpy import save_file

from attn_jax.errors import AttnJaxError
from attn_jax.model import encode, expected_shapes, load_params, verify_checksums

CFG = dict(
    vocab_size=11,
    hidden_size=8,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=12,
    max_position_embeddings=16,
    type_vocab_size=2,
    layer_norm_eps=1e-12,
    hidden_act="gelu",
)


@pytest.fixture()
def tiny(tmp_path):
    from attn_jax.model import BertConfig

    rng = np.random.default_rng(0)
    cfg = BertConfig(**{k: v for k, v in CFG.items() if k != "hidden_act"})
    tensors = {k: rng.normal(size=s).astype(np.float32) for k, s in expected_shapes(cfg).items()}
    tensors["pooler.dense.weight"] = np.zeros((8, 8), np.float32)  # present in real checkpoints, unused
    save_file(tensors, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(CFG))
    return tmp_path, tensors


def numpy_bert(t, ids, cfg):
    """BERT forward in float64 straight from the checkpoint tensors ([out, in] weights)."""
    g = lambda k: t[k].astype(np.float64)  # noqa: E731

    def ln(x, p):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + cfg["layer_norm_eps"]) * g(p + ".weight") + g(p + ".bias")

    def dense(x, p):
        return x @ g(p + ".weight").T + g(p + ".bias")

    n, h = len(ids), cfg["num_attention_heads"]
    d = cfg["hidden_size"] // h
    x = g("embeddings.word_embeddings.weight")[ids] + g("embeddings.position_embeddings.weight")[:n]
    x = ln(x + g("embeddings.token_type_embeddings.weight")[0], "embeddings.LayerNorm")
    atts = []
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q, k, v = (dense(x, p + f"attention.self.{m}").reshape(n, h, d) for m in ("query", "key", "value"))
        s = np.einsum("thd,shd->hts", q, k) / math.sqrt(d)
        w = np.exp(s - s.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        atts.append(w)
        ctx = np.einsum("hts,shd->thd", w, v).reshape(n, h * d)
        x = ln(x + dense(ctx, p + "attention.output.dense"), p + "attention.output.LayerNorm")
        from math import erf

        inner = dense(x, p + "intermediate.dense")
        act = 0.5 * inner * (1 + np.vectorize(erf)(inner / math.sqrt(2)))
        x = ln(x + dense(act, p + "output.dense"), p + "output.LayerNorm")
    return np.stack(atts), x


def test_tiny_checkpoint_matches_numpy_bert(tiny):
    path, tensors = tiny
    cfg, params = load_params(path, checksums=None)
    ids = np.array([[1, 5, 3, 9, 2]])
    out = encode(cfg, params, ids, np.ones_like(ids))
    ref_att, ref_hidden = numpy_bert(tensors, ids[0], CFG)
    np.testing.assert_allclose(np.asarray(out.attentions[:, 0]), ref_att, atol=1e-5)
    np.testing.assert_allclose(np.asarray(out.hidden[0]), ref_hidden, atol=1e-4)


def test_wrong_shape_is_named(tiny):
    path, tensors = tiny
    tensors["encoder.layer.1.attention.self.key.weight"] = np.zeros((8, 4), np.float32)
    save_file(tensors, str(path / "model.safetensors"))
    with pytest.raises(AttnJaxError, match=r"encoder\.layer\.1\.attention\.self\.key\.weight has shape \(8, 4\), expected \(8, 8\)"):
        load_params(path, checksums=None)


def test_missing_key_is_named(tiny):
    path, tensors = tiny
    del tensors["encoder.layer.0.output.dense.bias"]
    save_file(tensors, str(path / "model.safetensors"))
    with pytest.raises(AttnJaxError, match=r"missing \['encoder\.layer\.0\.output\.dense\.bias'\]"):
        load_params(path, checksums=None)


def test_corrupted_file_fails_checksum(tiny):
    path, _ = tiny
    with pytest.raises(AttnJaxError, match="corrupted.*reinstall"):
        verify_checksums(path, {"config.json": "0" * 64})
    with pytest.raises(AttnJaxError, match="missing"):
        verify_checksums(path, {"tokenizer.json": "0" * 64})


def test_malformed_config(tiny):
    path, _ = tiny
    (path / "config.json").write_text("{not json")
    with pytest.raises(AttnJaxError, match="cannot read model config"):
        load_params(path, checksums=None)
