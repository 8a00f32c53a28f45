"""The live head view's model (``docs/generated/live/``): the encoder exported to ONNX, shrunk, and
its error against the JAX forward measured on the Winograd collection.

Files:

- ``model.onnx``: :func:`attn_jax.export.export_attention` stored with int8 weights
  (:data:`MODE`; see :func:`attn_jax.export.shrink`), run in the reader's browser by
  onnxruntime-web. Inputs ``input_ids``, ``attention_mask`` (int32 ``[B, T]``); output
  ``attentions`` (float32 ``[L, B, H, T, T]``).
- ``model.json``: what the page states about it: its size (raw and gzipped), sha256, the limit
  on tokens, and its error over every sentence of the collection: the largest |Δ| of any
  attention weight against JAX, and the share of attention rows (each layer, head and query token)
  whose strongest key is the same key as in JAX, with n. Also the size of each storage choice,
  and of the vendored runtime (onnxruntime-web's WASM build, the tokenizer library) the page
  downloads with it; and ``version``, a hash of every file the page downloads, which names the
  browser cache that keeps them for offline use (docs/assets/js/live-worker.js).
- ``tokenizer.json``, ``tokenizer_config.json``: the model's own tokenizer files for the page's
  tokenizer (@huggingface/tokenizers), with the shipped fixed padding and truncation at 128
  tokens turned off, as in :func:`attn_jax.tokenize.load_tokenizer` (over-long text is an error).

Measured choices (285 sentences, 444,240 rows; onnxruntime CPU): float32 90.3 MB (82.8 MB
gzipped), max |Δ| 4e-6, strongest key 100%; float16 45.3 MB (41.8), 0.0010, 99.98%; int8 one
scale per row 22.8 MB (20.9), 0.073, 98.7%; int8 in blocks of 32 (shipped) 24.1 MB (23.0), 0.030,
99.5%. Only the shipped one fits the ~25 MB a reader should download with an error of a few
hundredths.

The model file is committed (not built in the Pages workflow): the deploy then needs no JAX,
readers get exactly the bytes the tests checked, and the stale check covers it. It changes only
when the model or the exported code changes; a rebuild that gives the same graph gives the same
bytes, which git stores once.
"""

from __future__ import annotations

import gzip

import numpy as np

from . import winograd
from .artifacts import ROOT, Group, dumps, sha256_bytes, versions

COLLECTION_FILE = str(winograd.COLLECTION.relative_to(ROOT))
MODE = "int8"
RUNTIME = "docs/assets/vendor/onnxruntime-web"
RUNTIME_FILES = [f"{RUNTIME}/{name}" for name in
                 ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")]
TOKENIZER_LIB = "docs/assets/vendor/tokenizers/tokenizers.min.mjs"


def _size(data: bytes) -> dict:
    return {"bytes": len(data), "bytes_gzip": len(gzip.compress(data, 9, mtime=0))}


def tokenizer_files(model_dir) -> dict[str, bytes]:
    """The model's tokenizer files, padding and truncation turned off."""
    import json

    tok = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    tok["padding"], tok["truncation"] = None, None
    return {"tokenizer.json": dumps(tok).encode(),
            "tokenizer_config.json": (model_dir / "tokenizer_config.json").read_bytes()}


def measure(session, results) -> dict:
    """Error of an onnxruntime ``session`` against the JAX ``results`` (one sentence at a time)."""
    worst, same, rows = 0.0, 0, 0
    for r in results:
        ids = r.input_ids[None].astype(np.int32)
        [att] = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        att = att[:, 0]  # [L, H, n, n]
        worst = max(worst, float(np.abs(att - r.attentions).max()))
        same += int((att.argmax(-1) == r.attentions.argmax(-1)).sum())
        rows += int(np.prod(att.shape[:-1]))
    return {"max_abs": round(worst, 4), "strongest_key_same": round(same / rows, 4), "rows": rows,
            "sentences": len(results)}


def build(ctx) -> dict[str, bytes]:
    import onnxruntime as ort

    from attn_jax import Encoder
    from attn_jax.export import BLOCK, MODES, export_attention, shrink, to_bytes
    from attn_jax.model import default_model_dir

    encoder = Encoder.load()
    tokenizer = tokenizer_files(default_model_dir())
    ctx.log("exporting the encoder to ONNX")
    exported = export_attention(encoder)
    shipped, sizes = b"", {}
    for mode in MODES:
        data = to_bytes(shrink(exported, mode))
        sizes[mode] = _size(data)
        if mode == MODE:
            shipped = data
    texts = [s.text for s in winograd.load_collection(ctx.root / COLLECTION_FILE)]
    ctx.log(f"measuring the {MODE} graph against JAX on {len(texts)} sentences")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1  # one thread: the same sums in the same order on every run
    session = ort.InferenceSession(shipped, opts, providers=["CPUExecutionProvider"])
    error = measure(session, encoder.run(texts))
    cfg = encoder.config
    info = {
        "file": "model.onnx",
        "bytes": len(shipped),
        "bytes_gzip": sizes[MODE]["bytes_gzip"],
        "sha256": sha256_bytes(shipped),
        "weights": f"int8 in blocks of {BLOCK} with float16 scales; computed in float32",
        "mode": MODE,
        "max_tokens": cfg.max_position_embeddings,
        "layers": cfg.num_hidden_layers,
        "heads": cfg.num_attention_heads,
        "error": {**error, "against": "the JAX forward (attn_jax.Encoder), float32",
                  "corpus": "Winograd Schema Challenge collection (WSC285), every sentence"},
        "choices": sizes,
        "runtime": _size(b"".join((ctx.root / f).read_bytes() for f in [*RUNTIME_FILES, TOKENIZER_LIB])),
        "tokenizer": _size(b"".join(tokenizer.values())),
    }
    # the page keeps its downloads in a browser cache named after this: new files, new cache
    downloads = [shipped, *tokenizer.values(), *((ctx.root / f).read_bytes() for f in [*RUNTIME_FILES, TOKENIZER_LIB])]
    info["version"] = sha256_bytes(b"".join(sha256_bytes(d).encode() for d in downloads))[:16]
    ctx.log(f"{len(shipped) / 1e6:.1f} MB ({info['bytes_gzip'] / 1e6:.1f} MB gzipped), "
            f"max |Δ| {error['max_abs']}, strongest key same in {error['strongest_key_same']:.2%}")
    return {"model.onnx": shipped, "model.json": dumps(info).encode(), **tokenizer}


def _extra() -> dict:
    from attn_jax.model import PRETRAINED_SHA256

    return {"model_sha256": PRETRAINED_SHA256["model.safetensors"],
            "versions": versions("jax", "jaxlib", "jax2onnx", "onnx", "onnxruntime", "tokenizers")}


GROUPS = [Group("live", module=__name__, build=build, files=[COLLECTION_FILE, *RUNTIME_FILES, TOKENIZER_LIB], extra=_extra)]
