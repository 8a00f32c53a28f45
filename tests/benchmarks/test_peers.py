"""``make bench-peers`` pieces that run without PyTorch: the float64 reference its exactness check
uses, and the table it prints from its JSON. (The run itself needs .venv-peers; this project's
environment never holds PyTorch, which importing the module must not need.)"""

import sys

import numpy as np
from tests.helpers import reference_attention

from benchmarks import peers


def test_module_imports_without_torch():
    assert "torch" not in sys.modules  # imported lazily, only inside the peer runs


def test_reference_rows_match_independent_reference():
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((3, 10, 2, 4)).astype(np.float32) for _ in range(3))
    rows = np.array([0, 4, 9])
    out, w = peers.reference_rows(q, k, v, rows)
    assert out.shape == (2, 3, 2, 4) and w.shape == (2, 2, 3, 10)
    for i, b in enumerate((0, 2)):  # first and last example
        for h in range(2):
            ref_out, ref_w = reference_attention(q[b, :, h], k[b, :, h], v[b, :, h])
            np.testing.assert_allclose(out[i, :, h], ref_out[rows], atol=1e-12)
            np.testing.assert_allclose(w[i, h], ref_w[rows], atol=1e-12)


def _side(t, gf=None):
    return {"median_s": t, "times_s": [t], "gflops": gf, "frac_matmul": 0.5, "max_err": 2e-7,
            "sentences_per_s": 32 / t}


def test_table_shows_every_row_and_flags_inexact():
    results = {
        "header": {"device_kind": "cpu", "cpu_count": 2, "versions": {"jax": "j", "torch": "t", "transformers": "x"},
                   "torch_threads": 2, "torch_cpu_capability": "AVX2", "omp_wait_policy": "PASSIVE"},
        "matmul": {"n": 2048, "jax": {"gflops": 90.0}, "torch": {"gflops": 60.0}},
        "attention": [
            {"work": "fast", "B": 8, "N": 1024, "skipped": None, "ratio": 0.8, "ratio_cpu": 0.9, "exact": True,
             "attn_jax": _side(0.4, 60), "torch": _side(0.5, 50)},
            {"work": "weights", "B": 8, "N": 4096, "skipped": "needs about 18.0 GiB"},
        ],
        "encoder": [{"batch": 32, "padded_tokens": {"attn_jax": 24, "torch": 19}, "ratio": 1.5, "ratio_cpu": 1.2, "exact": False,
                     "max_attention_diff": 3e-5, "max_hidden_diff": 1e-6,
                     "attn_jax": _side(0.06), "torch": _side(0.04)}],
    }
    text = peers.table(results)
    assert "jnp.dot 90 GFLOP/s, torch.mm 60 GFLOP/s" in text
    assert "attention fast B=8 N=1024" in text and "0.80  0.90" in text
    assert "skipped: needs about 18.0 GiB" in text
    enc = next(line for line in text.splitlines() if line.startswith("encoder 32"))
    assert "1.50  1.20" in enc and enc.endswith("NO")
