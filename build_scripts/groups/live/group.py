"""The live head view's model (``docs/generated/live/``): the encoder exported to ONNX, shrunk, and
its error against the JAX forward measured on the Winograd collection.

Files:

- ``model.onnx``: :func:`attn_jax.export.export_attention` stored with int8 weights
  (:data:`build_scripts.groups.live.measure.MODE`; see :func:`attn_jax.export.shrink`), run in the reader's browser by
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

from build_scripts.pipeline.artifacts import dumps, versions
from build_scripts.pipeline.models import COLLECTION_FILE, encoder, winograd
from build_scripts.pipeline.registry import Group

RUNTIME = "docs/assets/vendor/onnxruntime-web"
RUNTIME_FILES = [f"{RUNTIME}/{name}" for name in
                 ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")]
TOKENIZER_LIB = "docs/assets/vendor/tokenizers/tokenizers.min.mjs"


def build(ctx) -> dict[str, bytes]:
    from attn_jax.checkpoints import default_model_dir
    from attn_jax.export import BLOCK

    from . import charts, measure

    enc = encoder(ctx)
    tokenizer = charts.tokenizer_files(default_model_dir())
    ctx.log("exporting the encoder to ONNX")
    shipped, sizes = measure.export(enc)
    results = winograd(ctx).results
    ctx.log(f"measuring the {measure.MODE} graph against JAX on {len(results)} sentences")
    error = measure.error(shipped, results)
    runtime = [(ctx.root / f).read_bytes() for f in [*RUNTIME_FILES, TOKENIZER_LIB]]
    info = charts.model_info(shipped, sizes, measure.MODE, enc.config, error, measure.size(b"".join(runtime)),
                             measure.size(b"".join(tokenizer.values())), [shipped, *tokenizer.values(), *runtime], BLOCK)
    ctx.log(f"{len(shipped) / 1e6:.1f} MB ({info['bytes_gzip'] / 1e6:.1f} MB gzipped), "
            f"max |Δ| {error['max_abs']}, strongest key same in {error['strongest_key_same']:.2%}")
    return {"model.onnx": shipped, "model.json": dumps(info).encode(), **tokenizer}


def _extra() -> dict:
    from attn_jax.checkpoints import PRETRAINED_SHA256

    return {"model_sha256": PRETRAINED_SHA256["model.safetensors"],
            "versions": versions("jax", "jaxlib", "jax2onnx", "onnx", "onnxruntime", "tokenizers")}


GROUP = Group("live", module=__name__, build=build, files=[COLLECTION_FILE, *RUNTIME_FILES, TOKENIZER_LIB], extra=_extra)
