"""Command line: ``python -m attn_jax dump --text TEXT [--text TEXT ...] --out FILE.npz``.

Writes, for the i-th text, ``tokens_i`` (str [n]), ``input_ids_i`` (int32 [n]), ``attentions_i``
(float32 [L, H, n, n], row = query, column = key) and ``hidden_i`` (float32 [n, M], last hidden
state). Problems a user can fix end the program with status 2 and one line on stderr; the output
file is written atomically (a temporary file renamed into place), so a failure leaves no partial file.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from .errors import ArgumentParser, AttnJaxError, run_command


def _check_writable(out: Path) -> None:
    parent = out.parent if str(out.parent) else Path(".")
    if out.suffix != ".npz":
        raise AttnJaxError(f"--out {out} must end in .npz; e.g. --out attention.npz")
    if out.is_dir():
        raise AttnJaxError(f"--out {out} is a directory; give a file name such as {out / 'attention.npz'}")
    if not parent.is_dir():
        raise AttnJaxError(f"cannot write {out}: folder {parent} does not exist; create it or choose another path")
    if not os.access(parent, os.W_OK):
        raise AttnJaxError(f"cannot write {out}: folder {parent} is not writable; choose another path")


def _write_npz_atomic(out: Path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent if str(out.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getvalue())
        os.replace(tmp, out)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise AttnJaxError(f"cannot write {out}: {e.strerror}; choose another path") from None


def dump(texts: list[str], out: Path, model_dir: Path | None = None) -> None:
    """Run the encoder on ``texts`` and write the npz described in the module docstring."""
    from .encoder import Encoder  # imported here so argument errors do not wait for JAX

    _check_writable(out)
    encoder = Encoder.load(model_dir)
    encoder.tokenize(texts)  # validate every text before any model work
    arrays: dict[str, np.ndarray] = {}
    for i, r in enumerate(encoder.run(texts)):
        arrays[f"tokens_{i}"] = np.asarray(r.tokens, dtype=str)
        arrays[f"input_ids_{i}"] = r.input_ids.astype(np.int32)
        arrays[f"attentions_{i}"] = r.attentions.astype(np.float32)
        arrays[f"hidden_{i}"] = r.hidden.astype(np.float32)
    _write_npz_atomic(out, arrays)


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m attn_jax", description="Real attention weights from all-MiniLM-L6-v2 in JAX.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    p = sub.add_parser("dump", help="run the encoder on texts and write attention + hidden states to an .npz")
    p.add_argument("--text", action="append", required=True, help="a sentence (repeat for several)")
    p.add_argument("--out", required=True, type=Path, help="output file, e.g. attention.npz")
    p.add_argument("--model-dir", type=Path, default=None, help="model folder (default: the installed model package)")
    args = parser.parse_args(argv)

    def work():
        dump(args.text, args.out, args.model_dir)
        print(f"wrote {len(args.text)} text(s) to {args.out}", file=sys.stderr)

    return run_command(work)
