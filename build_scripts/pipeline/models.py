"""The model runs the groups share: the encoder loaded once per build, each corpus encoded once.

- :func:`encoder`: the pretrained encoder (sha256-verified), loaded by the first group that needs it;
- :func:`encoded`: every sentence of ``sentences.toml`` through it, one batch, with each sentence's
  head-view payload (the head view, the step-by-step widget, the grid, the mechanics, the evidence);
- :func:`corpus`: any named corpus through one :class:`attn_jax.corpus.CorpusRunner` (sharded over
  every device); :func:`winograd` is the Winograd collection's (the gallery, the evidence, the live
  model's error).

Each run is computed on first use and kept in the build's shared memo
(:meth:`build_scripts.pipeline.registry.Context.shared`); ``ctx.memo["model runs"]`` counts the
runs per corpus, and the build prints it: one each, however many groups read them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from . import payloads as pl
from .artifacts import ROOT, versions
from .config import CONFIG, Config, check_token_counts, load_config
from .registry import Context
from .winograd import COLLECTION, Schema, load_collection

CONFIG_FILE = str(CONFIG.relative_to(ROOT))
COLLECTION_FILE = str(COLLECTION.relative_to(ROOT))


def model_extra() -> dict:
    """The inputs of a model group besides code and config: the weights' checksum, pinned versions."""
    from attn_jax.checkpoints import PRETRAINED_SHA256

    return {"model_sha256": PRETRAINED_SHA256["model.safetensors"],
            "versions": versions("jax", "jaxlib", "numpy", "tokenizers", "altair", "vl-convert-python")}


def _counted(ctx: Context, name: str) -> None:
    ctx.memo.setdefault("model runs", Counter())[name] += 1


def encoder(ctx: Context):
    """The pretrained encoder, loaded (and its files verified) once per build."""
    def load():
        from attn_jax.encoder import Encoder

        ctx.log("loading the encoder")
        _counted(ctx, "encoder loads")
        return Encoder.load()

    return ctx.shared("encoder", load)


@dataclass
class Encoded:
    """The config, the loaded encoder, and per sentence id its encoder result and head-view payload."""

    config: Config
    encoder: object
    results: dict
    payloads: dict

    def featured(self) -> dict:
        """The featured head (see :func:`build_scripts.pipeline.payloads.featured_head`) from ``[roles.featured]``."""
        role = self.config.roles["featured"]
        return pl.featured_head(self.payloads[role["sentence"]], role["query"], role["expect"])


def encoded(ctx: Context) -> Encoded:
    """Every config sentence through the encoder (one batch), once per build."""
    def run() -> Encoded:
        config = load_config(ctx.root / CONFIG_FILE)
        enc = encoder(ctx)
        texts = [s.text for s in config.sentences]
        check_token_counts(config.sentences, [len(t.ids) for t in enc.tokenize(texts)], config.path)
        ctx.log(f"encoding the {len(texts)} config sentences (one batch)")
        _counted(ctx, "config sentences")
        results = dict(zip((s.id for s in config.sentences), enc.run(texts)))
        payloads = {s.id: pl.sentence_payload(s, results[s.id]) for s in config.sentences}
        return Encoded(config, enc, results, payloads)

    return ctx.shared("encoded", run)


@dataclass
class Corpus:
    """The Winograd collection (every schema, kept or dropped by the candidate rule) and each
    sentence's encoder result (``SentenceResult`` with Q, K, V), in collection order."""

    schemas: list[Schema]
    results: list
    runner: object  # the attn_jax.corpus.CorpusRunner that ran it (its devices, its embeddings())


def runner(ctx: Context):
    """One :class:`attn_jax.corpus.CorpusRunner` per build over the shared encoder (its weights
    placed on the devices once)."""
    def make():
        from attn_jax.corpus import CorpusRunner

        return CorpusRunner(encoder(ctx))

    return ctx.shared("runner", make)


def corpus(ctx: Context, name: str, texts: list[str]) -> list:
    """``texts`` (a corpus called ``name``) through the encoder on every device, once per build:
    each text's ``SentenceResult`` (attention, Q, K, V, hidden states), in input order."""
    def run() -> list:
        r = runner(ctx)
        ctx.log(f"encoding the {len(texts)} sentences of {name} on {r.devices} device(s)")
        _counted(ctx, name)
        return r.run(list(texts))

    return ctx.shared(f"corpus:{name}", run)


def decoder_extra() -> dict:
    """The inputs of a decoder group besides code and data: the GGUF file's checksum, pinned versions."""
    from attn_jax.checkpoints import DECODER_SHA256

    return {"decoder_sha256": DECODER_SHA256,
            "versions": versions("jax", "jaxlib", "numpy", "tokenizers", "gguf", "altair", "vl-convert-python")}


def decoder(ctx: Context):
    """The decoder (SmolLM2-135M-Instruct, sha256-verified), loaded once per build."""
    def load():
        from attn_jax.decoder import Decoder

        ctx.log("loading the decoder")
        _counted(ctx, "decoder loads")
        return Decoder.load()

    return ctx.shared("decoder", load)


def decoder_runner(ctx: Context):
    """One :class:`attn_jax.decoder_corpus.DecoderCorpusRunner` per build over the shared decoder."""
    def make():
        from attn_jax.decoder_corpus import DecoderCorpusRunner

        return DecoderCorpusRunner(decoder(ctx))

    return ctx.shared("decoder runner", make)


def decoder_corpus(ctx: Context, name: str, texts: list) -> list:
    """``texts`` (strings, or token id sequences) of the corpus ``name`` through the decoder with
    every layer's attention, once per build: each text's ``CorpusResult`` (ids, tokens, attentions
    ``[L, H, n, n]``, per-token losses), in input order. Runs with other options (heads removed, a
    window) are a group's own: :func:`decoder_runner`."""
    def run() -> list:
        r = decoder_runner(ctx)
        ctx.log(f"running the {len(texts)} texts of {name} through the decoder")
        _counted(ctx, f"{name} (decoder)")
        return r.run(list(texts))

    return ctx.shared(f"decoder corpus:{name}", run)


def winograd(ctx: Context) -> Corpus:
    """Every sentence of the Winograd collection through the encoder, once per build."""
    schemas = load_collection(ctx.root / COLLECTION_FILE)
    return Corpus(schemas, corpus(ctx, "Winograd collection", [s.text for s in schemas]), runner(ctx))
