"""Command line: ``python -m attn_jax dump --text TEXT [--text TEXT ...] --out FILE.npz``.

Writes, for the i-th text, ``tokens_i`` (str [n]), ``input_ids_i`` (int32 [n]), ``attentions_i``
(float32 [L, H, n, n], row = query, column = key) and ``hidden_i`` (float32 [n, M], last hidden
state). With ``--model smollm2`` the decoder runs instead, and ``logits_i`` (float32 [n, V]) takes
the place of ``hidden_i`` (H = 9 query heads).

``python -m attn_jax generate --prompt TEXT --max-new-tokens N [--temperature T --top-k K --seed S]
[--out FILE.npz]`` continues the prompt with the decoder and prints the new text; ``--out`` also
writes ``ids`` (int32 [n]), ``tokens`` (str [n]), ``prompt_length`` and, for the k-th new token,
``attentions_k`` (float32 [L, H, n_prompt + k]: the attention that chose it). Problems a user can
fix end the program with status 2 and one line on stderr; the output file is written atomically
(a temporary file renamed into place), so a failure leaves no partial file.
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


def dump_decoder(texts: list[str], out: Path) -> None:
    """Run the decoder (SmolLM2) on ``texts`` and write the npz described in the module docstring."""
    _check_writable(out)
    if not all(texts):
        raise AttnJaxError("a --text is empty; give a prompt with at least one character")
    from .decoder import Decoder  # imported after the checks, so argument errors do not wait for JAX

    decoder = Decoder.load()
    decoder.tokenize(texts)  # validate every text before any model work
    arrays: dict[str, np.ndarray] = {}
    for i, r in enumerate(decoder.run(texts)):
        arrays[f"tokens_{i}"] = np.asarray(r.tokens, dtype=str)
        arrays[f"input_ids_{i}"] = r.ids.astype(np.int32)
        arrays[f"attentions_{i}"] = r.attentions.astype(np.float32)
        arrays[f"logits_{i}"] = r.logits.astype(np.float32)
    _write_npz_atomic(out, arrays)


def generate(prompt: str, max_new_tokens: int, out: Path | None, **sampling) -> str:
    """Continue ``prompt`` with the decoder; write the npz of the module docstring to ``out`` if given."""
    if out is not None:
        _check_writable(out)
    if not prompt:
        raise AttnJaxError("--prompt is empty; give a prompt with at least one character")
    if max_new_tokens < 1:
        raise AttnJaxError(f"--max-new-tokens is {max_new_tokens}; ask for at least 1")
    from .decoder import Decoder

    g = Decoder.load().generate(prompt, max_new_tokens, **sampling)
    if out is not None:
        arrays = {"ids": g.ids, "tokens": np.asarray(g.tokens, dtype=str), "prompt_length": np.int32(len(g.prompt_ids))}
        arrays.update({f"attentions_{k}": a.astype(np.float32) for k, a in enumerate(g.attentions)})
        _write_npz_atomic(out, arrays)
    return g.text


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m attn_jax",
                            description="Real attention weights from all-MiniLM-L6-v2 and SmolLM2-135M in JAX.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    p = sub.add_parser("dump", help="run a model on texts and write attention (+ hidden states or logits) to an .npz")
    p.add_argument("--text", action="append", required=True, help="a sentence (repeat for several)")
    p.add_argument("--out", required=True, type=Path, help="output file, e.g. attention.npz")
    p.add_argument("--model", choices=("minilm", "smollm2"), default="minilm",
                   help="minilm: the encoder (default); smollm2: the decoder")
    p.add_argument("--model-dir", type=Path, default=None, help="encoder folder (default: the installed model package)")
    g = sub.add_parser("generate", help="continue a prompt with the decoder (SmolLM2-135M) and print the new text")
    g.add_argument("--prompt", required=True, help="the text to continue")
    g.add_argument("--max-new-tokens", type=int, default=32, help="at most this many new tokens (default 32)")
    g.add_argument("--temperature", type=float, default=0.0, help="0 (default): greedy; above 0: sample")
    g.add_argument("--top-k", type=int, default=None, help="sample among the k most likely tokens only")
    g.add_argument("--seed", type=int, default=0, help="random seed for sampling")
    g.add_argument("--out", type=Path, default=None, help="also write ids, tokens and attentions to this .npz")
    args = parser.parse_args(argv)

    def work():
        if args.command == "generate":
            text = generate(args.prompt, args.max_new_tokens, args.out, temperature=args.temperature,
                            top_k=args.top_k, seed=args.seed)
            print(text)
            if args.out is not None:
                print(f"wrote {args.out}", file=sys.stderr)
            return
        if args.model == "smollm2" and args.model_dir is not None:
            raise AttnJaxError("--model-dir is the encoder's folder; for the decoder set ATTN_JAX_DECODER_FILE "
                               "to a GGUF file instead")
        if args.model == "smollm2":
            dump_decoder(args.text, args.out)
        else:
            dump(args.text, args.out, args.model_dir)
        print(f"wrote {len(args.text)} text(s) to {args.out}", file=sys.stderr)

    return run_command(work)
