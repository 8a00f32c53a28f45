"""What the page states about the live model (``model.json``, read by the "Try your own sentence"
control: its note and its button) and the tokenizer files the page's tokenizer reads."""

from __future__ import annotations

from build_scripts.pipeline.artifacts import dumps, sha256_bytes


def tokenizer_files(model_dir) -> dict[str, bytes]:
    """The model's tokenizer files, with the shipped fixed padding and truncation turned off, as in
    :func:`attn_jax.tokenize.load_tokenizer` (over-long text is an error)."""
    import json

    tok = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    tok["padding"], tok["truncation"] = None, None
    return {"tokenizer.json": dumps(tok).encode(),
            "tokenizer_config.json": (model_dir / "tokenizer_config.json").read_bytes()}


def model_info(shipped: bytes, sizes: dict, mode: str, config, error: dict, runtime: dict, tokenizer: dict,
               downloads: list[bytes], block: int) -> dict:
    """``model.json``: size, checksum, limits and the measured error of the shipped model; the size
    of each storage choice and of the runtime; ``version``, a hash of every file the page downloads
    (it names the browser cache that keeps them, so new files get a new cache)."""
    return {
        "file": "model.onnx",
        "bytes": len(shipped),
        "bytes_gzip": sizes[mode]["bytes_gzip"],
        "sha256": sha256_bytes(shipped),
        "weights": f"int8 in blocks of {block} with float16 scales; computed in float32",
        "mode": mode,
        "max_tokens": config.max_position_embeddings,
        "layers": config.num_hidden_layers,
        "heads": config.num_attention_heads,
        "error": {**error, "against": "the JAX forward (attn_jax.Encoder), float32",
                  "corpus": "Winograd Schema Challenge collection (WSC285), every sentence"},
        "choices": sizes,
        "runtime": runtime,
        "tokenizer": tokenizer,
        "version": sha256_bytes(b"".join(sha256_bytes(d).encode() for d in downloads))[:16],
    }
