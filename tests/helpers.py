"""Helpers shared by the tests (test modules never import each other):

- :func:`reference_attention` - NumPy float64 attention that shares no code with attn_jax;
- :func:`build_site` - the site built by either generator into a folder, as `make site` and
  `make site-zensical` do;
- :func:`without_jax` - an environment in which ``import jax`` fails (for code that must not need it);
- :func:`files_of` - every file of a folder, by relative path;
- :func:`tokenized`, :class:`Result` - a sentence tokenized word by word with [CLS] and [SEP], and an
  encoder result made of it, for measures tested on hand-made attention.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GENERATORS = ("mkdocs", "zensical")


def reference_attention(q, k, v, mask=None):
    """NumPy float64 attention, one head: q [T, D], k [S, D], v [S, Dv], mask bool [T, S]."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    scores = q @ k.T / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = np.max(scores, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    e = np.exp(scores - top)
    total = e.sum(-1, keepdims=True)
    w = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
    return w @ v, w


def tokenized(text: str):
    """Words and punctuation as tokens, with [CLS] and [SEP], offsets into ``text``
    (an :class:`attn_jax.tokenize.Tokenized`; ids are positions)."""
    from attn_jax.tokenize import Tokenized

    spans = [m.span() for m in re.finditer(r"\w+|[^\w\s]", text)]
    tokens = ("[CLS]", *(text[a:b] for a, b in spans), "[SEP]")
    n = len(tokens)
    return Tokenized(text, np.arange(n, dtype=np.int32), tokens, ((0, 0), *spans, (0, 0)),
                     np.array([True] + [False] * (n - 2) + [True]))


@dataclass
class Result:
    """The parts of an encoder result a measure reads: attention ``[L, H, n, n]``, and values ``[L, n, H, D]``."""

    tokenized: object
    attentions: np.ndarray
    v: np.ndarray | None = None


def files_of(folder: Path) -> dict[str, bytes]:
    """``{path relative to folder: bytes}`` of every file under ``folder``."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def without_jax(tmp: Path, env: dict | None = None, also: tuple[str, ...] = ()) -> dict:
    """An environment for a subprocess in which importing ``jax`` (and jaxlib, and the packages in
    ``also``) raises ImportError: a ``sitecustomize`` first on PYTHONPATH puts a finder in front of
    every other that refuses them."""
    blocked = ("jax", "jaxlib", *also)
    (tmp / "sitecustomize.py").write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, *args):\n"
        f"        if name.split('.')[0] in {blocked!r}:\n"
        "            raise ImportError(f'{name} is blocked: this code must not need it')\n"
        "sys.meta_path.insert(0, Block())\n")
    env = {**os.environ, **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def build_site(generator: str, out: Path, root: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    """Build the project at ``root`` into ``out`` (which must not exist yet); returns the process.

    Zensical only writes inside the project, so it builds into a temporary folder there first.
    """
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", **(env or {})}
    if generator == "mkdocs":
        cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)]
        return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    assert generator == "zensical", generator
    inside = Path(tempfile.mkdtemp(prefix=".site-zensical-", dir=root))
    try:
        cmd = [sys.executable, "-m", "build_scripts.site.zensical", "--site-dir", str(inside)]
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        if proc.returncode == 0:
            shutil.move(str(inside), str(out))
        return proc
    finally:
        shutil.rmtree(inside, ignore_errors=True)


def font_sizes(spec) -> list[float]:
    """Every font size written as a number anywhere in a Vega or Vega-Lite spec (marks, axes, titles,
    legends, headers); a size set by a signal is looked into, not counted."""
    out = []
    if isinstance(spec, dict):
        for k, v in spec.items():
            if k.lower().endswith("fontsize") and isinstance(v, (int, float)):
                out.append(v)
            else:
                out += font_sizes(v)
    elif isinstance(spec, list):
        for v in spec:
            out += font_sizes(v)
    return out
