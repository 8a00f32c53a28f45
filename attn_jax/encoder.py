"""The pretrained encoder from text to per-sentence attention: load once, run many sentences.

    enc = Encoder.load()                      # verifies the model files' sha256
    [r] = enc.run(["The cat sat on the mat."])
    r.attentions                              # float32 [L, H, n, n], row = query, column = key

Up to 64 texts of one call go through the model as one padded, masked batch in one jit call;
more are sorted by length and run in batches of 64 (each padded to its own length bucket).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .model import PRETRAINED_SHA256, BertConfig, default_model_dir, encode, load_params
from .tokenize import Tokenized, load_tokenizer, pad_batch, tokenize

__all__ = ["Encoder", "SentenceResult"]

BATCH_SIZE = 64  # texts per forward pass: larger batches measured slower per text on a CPU


@dataclass(frozen=True)
class SentenceResult:
    """The encoder's output for one text, unpadded (n = its number of tokens)."""

    tokenized: Tokenized
    attentions: np.ndarray  # float32 [L, H, n, n], row = query, column = key
    hidden: np.ndarray  # float32 [n, M], last hidden state
    hidden_states: np.ndarray  # float32 [L+1, n, M]: embeddings, then each layer's output
    q: np.ndarray | None  # float32 [L, n, H, D] (None when run with qkv=False)
    k: np.ndarray | None  # float32 [L, n, H, D]
    v: np.ndarray | None  # float32 [L, n, H, D]

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.tokenized.tokens

    @property
    def input_ids(self) -> np.ndarray:
        return self.tokenized.ids


@dataclass(frozen=True)
class Encoder:
    """A loaded checkpoint (config, parameters, tokenizer) and the file digests it was verified with."""

    config: BertConfig
    params: dict
    tokenizer: object
    sha256: dict[str, str]

    @classmethod
    def load(cls, model_dir: Path | None = None, checksums: dict[str, str] | None = PRETRAINED_SHA256) -> "Encoder":
        model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        cfg, params = load_params(model_dir, checksums)
        return cls(cfg, params, load_tokenizer(model_dir), dict(checksums or {}))

    @property
    def max_tokens(self) -> int:
        return self.config.max_position_embeddings

    def tokenize(self, texts: list[str]) -> list[Tokenized]:
        """Tokenize and validate (empty or over-long text raises AttnJaxError) without running the model."""
        return tokenize(self.tokenizer, list(texts), self.max_tokens)

    def run(self, texts: list[str], *, qkv: bool = True, batch_size: int = BATCH_SIZE) -> list[SentenceResult]:
        """Encode the texts; return one unpadded result per text, in input order.

        Up to ``batch_size`` texts go through the model as one padded batch (one jit call); more
        are sorted by length and cut into batches of ``batch_size``, so that each batch pads to
        its own (short) bucket and its activations stay in cache. ``qkv=False`` skips the
        per-layer Q, K, V (the results' ``q``, ``k``, ``v`` are None), which the forward pass
        then neither stacks nor returns.
        """
        items = self.tokenize(texts)
        results: list[SentenceResult | None] = [None] * len(items)
        for idx in self.batches(items, batch_size):
            for i, r in zip(idx, self._run_batch([items[i] for i in idx], qkv)):
                results[i] = r
        return results

    @staticmethod
    def batches(items: list[Tokenized], batch_size: int = BATCH_SIZE) -> list[list[int]]:
        """Indices of ``items`` per forward pass: all of them in input order when they fit one
        batch, else sorted by length (ties in input order) and cut into batches of ``batch_size``."""
        if len(items) <= batch_size:
            return [list(range(len(items)))]
        order = sorted(range(len(items)), key=lambda i: len(items[i].ids))
        return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]

    def _run_batch(self, items: list[Tokenized], qkv: bool) -> list[SentenceResult]:
        ids, mask = pad_batch(items)
        out = encode(self.config, self.params, ids, mask, qkv=qkv)
        att, hs = np.asarray(out.attentions), np.asarray(out.hidden_states)
        q, k, v = (np.asarray(a) for a in (out.q, out.k, out.v)) if qkv else (None, None, None)
        results = []
        for b, it in enumerate(items):
            n = len(it.ids)
            results.append(
                SentenceResult(
                    tokenized=it,
                    attentions=att[:, b, :, :n, :n],
                    hidden=hs[-1, b, :n],
                    hidden_states=hs[:, b, :n],
                    q=None if q is None else q[:, b, :n],
                    k=None if k is None else k[:, b, :n],
                    v=None if v is None else v[:, b, :n],
                )
            )
        return results
