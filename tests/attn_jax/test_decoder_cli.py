"""``python -m attn_jax dump --model smollm2`` and ``python -m attn_jax generate``: the contract, and
every bad input as one line on stderr, status 2, no traceback, nothing written. In-process runs reuse
the session's decoder; the subprocess runs fail before any model is loaded."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from attn_jax.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def loaded(monkeypatch, decoder):
    """``Decoder.load()`` returns the session's decoder (loading it is tested in test_gguf_weights.py)."""
    monkeypatch.setattr("attn_jax.decoder.Decoder.load", classmethod(lambda cls, *a, **k: decoder))
    return decoder


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "attn_jax", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})})  # fmt: skip


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_dump_smollm2_writes_the_contract(tmp_path, loaded):
    out = tmp_path / "x.npz"
    texts = ["The capital of France is", "Hi"]
    assert main(["dump", "--model", "smollm2", "--text", texts[0], "--text", texts[1], "--out", str(out)]) == 0
    d = np.load(out)
    assert sorted(d.files) == sorted(f"{k}_{i}" for k in ("tokens", "input_ids", "attentions", "logits") for i in (0, 1))
    assert [str(t) for t in d["tokens_0"]] == ["The", " capital", " of", " France", " is"]
    assert d["input_ids_0"].dtype == np.int32 and d["attentions_0"].shape == (30, 9, 5, 5)
    assert d["logits_1"].dtype == np.float32 and d["logits_1"].shape == (len(d["tokens_1"]), 49152)
    [ref] = loaded.run(texts[:1])
    np.testing.assert_allclose(d["attentions_0"], ref.attentions, atol=2e-5)
    assert [p.name for p in tmp_path.iterdir()] == ["x.npz"]  # no temporary left behind


def test_generate_prints_the_new_text_and_writes_attentions(tmp_path, loaded, capsys):
    out = tmp_path / "g.npz"
    assert main(["generate", "--prompt", "The capital of France is", "--max-new-tokens", "2", "--out", str(out)]) == 0
    assert capsys.readouterr().out == " Paris.\n"
    d = np.load(out)
    assert int(d["prompt_length"]) == 5 and d["ids"].tolist()[-2:] == [7042, 30]
    assert d["attentions_0"].shape == (30, 9, 5) and d["attentions_1"].shape == (30, 9, 6)


@pytest.mark.parametrize(
    "args,pattern",
    [(["generate", "--prompt", "7" * 8200], "8200 tokens long but the model's context holds at most 8192"),
     (["dump", "--model", "smollm2", "--text", "7" * 8200], "8200 tokens long"),
     (["generate", "--prompt", "Hi", "--temperature", "-1"], "temperature must be >= 0")],
)  # fmt: skip
def test_bad_input_after_loading(tmp_path, loaded, capsys, args, pattern):
    out = tmp_path / "x.npz"
    assert main([*args, "--out", str(out)]) == 2
    assert pattern in one_line(capsys.readouterr().err)
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "args,pattern",
    [(["generate", "--prompt", ""], "error: --prompt is empty"),
     (["generate", "--prompt", "Hi", "--max-new-tokens", "0"], "ask for at least 1"),
     (["dump", "--model", "smollm2", "--text", "", "--out", "{tmp}/x.npz"], "a --text is empty"),
     (["dump", "--model", "smollm2", "--text", "Hi", "--model-dir", ".", "--out", "{tmp}/x.npz"],
      "set ATTN_JAX_DECODER_FILE"),
     (["dump", "--model", "gpt2", "--text", "Hi", "--out", "{tmp}/x.npz"], "invalid choice: 'gpt2'")],
)  # fmt: skip
def test_bad_arguments(tmp_path, args, pattern):
    proc = run_cli(*[a.format(tmp=tmp_path) for a in args])
    assert proc.returncode == 2 and pattern in one_line(proc.stderr)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("content", [b"GGUF\x03\x00\x00\x00truncated", b""])
def test_a_wrong_or_truncated_model_file(tmp_path, content):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(content)
    out = tmp_path / "x.npz"
    for args in (["generate", "--prompt", "Hi", "--out", str(out)], ["dump", "--model", "smollm2", "--text", "Hi",
                                                                     "--out", str(out)]):  # fmt: skip
        proc = run_cli(*args, env={"ATTN_JAX_DECODER_FILE": str(bad)})
        line = one_line(proc.stderr)
        assert proc.returncode == 2 and "corrupted or not the expected model" in line and "pip install" in line
        assert not out.exists()
