"""Set-up shared by the decoder's tests: the real SmolLM2 decoder and its Hugging Face fixture, each
loaded once per session, and a tiny random Llama for tests of the maths that need no real weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="session")
def hf_decoder_golden():
    """``tests/fixtures/hf_decoder_golden.npz`` (made by make_hf_decoder_golden.py) as a dict."""
    with np.load(FIXTURES / "hf_decoder_golden.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="session")
def tiny_llama():
    """``(cfg, params)`` of a random Llama with odd sizes (V 11, M 30, H 3 query heads over G 1,
    D 10, F 14, L 2; eps exact in float32, as GGUF stores it), in the parameter layout of
    :func:`attn_jax.gguf_weights.read_gguf`."""
    import jax.numpy as jnp

    from attn_jax.gguf_weights import LlamaConfig

    cfg = LlamaConfig(vocab_size=11, hidden_size=30, num_layers=2, num_heads=3, num_kv_heads=1, intermediate_size=14,
                      context_length=64, rope_theta=10000.0, rms_norm_eps=2.0**-17, tied_embeddings=True)  # fmt: skip
    rng = np.random.default_rng(0)
    m, f, hd, gd, n = cfg.hidden_size, cfg.intermediate_size, 30, 10, cfg.num_layers

    def w(*shape, scale=0.3):
        return jnp.asarray(rng.normal(0, scale, shape).astype(np.float32))

    layers = {"attention_norm": w(n, m, scale=1.0) + 1, "mlp_norm": w(n, m, scale=0.1) + 1,
              "attention": {"query": w(n, m, hd), "key": w(n, m, gd), "value": w(n, m, gd), "output": w(n, hd, m)},
              "mlp": {"gate": w(n, m, f), "up": w(n, m, f), "down": w(n, f, m)}}  # fmt: skip
    return cfg, {"embed": w(cfg.vocab_size, m, scale=1.0), "final_norm": w(m, scale=0.1) + 1, "layers": layers}
