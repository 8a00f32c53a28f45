"""The config's sentences run through the pretrained encoder once per build, for every group that needs them.

The head view, the step-by-step widget and the all-heads grid read the same model outputs; the
first of them to ask loads the model and runs every sentence of ``sentences.toml`` in one batch,
and the rest reuse that run (:meth:`build_scripts.artifacts.Context.shared`).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import headview as hv
from .artifacts import ROOT, Context, versions
from .config import CONFIG, Config, check_token_counts, load_config

CONFIG_FILE = str(CONFIG.relative_to(ROOT))


def model_extra() -> dict:
    """The inputs of a model group besides code and config: the weights' checksum, library versions."""
    from attn_jax.model import PRETRAINED_SHA256

    return {"model_sha256": PRETRAINED_SHA256["model.safetensors"],
            "versions": versions("jax", "jaxlib", "altair", "vl-convert-python", "tokenizers")}


@dataclass
class Encoded:
    """The config, the loaded encoder, and per sentence id its encoder result and head-view payload."""

    config: Config
    encoder: object
    results: dict
    payloads: dict

    def featured(self) -> dict:
        """The featured head (see :func:`build_scripts.headview.featured_head`) from ``[roles.featured]``."""
        role = self.config.roles["featured"]
        return hv.featured_head(self.payloads[role["sentence"]], role["query"], role["expect"])


def encoded(ctx: Context) -> Encoded:
    """Every config sentence through the encoder (one batch), once per build."""
    return ctx.shared("encoded", lambda: _run(ctx))


def _run(ctx: Context) -> Encoded:
    from attn_jax import Encoder

    config = load_config(ctx.root / CONFIG_FILE)
    texts = [s.text for s in config.sentences]
    ctx.log(f"loading the model and running {len(texts)} sentences (one batch)")
    encoder = Encoder.load()
    check_token_counts(config.sentences, [len(t.ids) for t in encoder.tokenize(texts)], config.path)
    results = dict(zip((s.id for s in config.sentences), encoder.run(texts)))
    payloads = {s.id: hv.sentence_payload(s, results[s.id]) for s in config.sentences}
    return Encoded(config, encoder, results, payloads)
