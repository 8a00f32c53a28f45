"""The pretrained encoder from text to per-sentence attention: load once, run many sentences.

    enc = Encoder.load()                      # verifies the model files' sha256
    [r] = enc.run(["The cat sat on the mat."])
    r.attentions                              # float32 [L, H, n, n], row = query, column = key

All texts of one call go through the model as one padded, masked batch in one jit call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .model import PRETRAINED_SHA256, BertConfig, default_model_dir, encode, load_params
from .tokenize import Tokenized, load_tokenizer, pad_batch, tokenize

__all__ = ["Encoder", "SentenceResult"]


@dataclass(frozen=True)
class SentenceResult:
    """The encoder's output for one text, unpadded (n = its number of tokens)."""

    tokenized: Tokenized
    attentions: np.ndarray  # float32 [L, H, n, n], row = query, column = key
    hidden: np.ndarray  # float32 [n, M], last hidden state
    hidden_states: np.ndarray  # float32 [L+1, n, M]: embeddings, then each layer's output
    q: np.ndarray  # float32 [L, n, H, D]
    k: np.ndarray  # float32 [L, n, H, D]
    v: np.ndarray  # float32 [L, n, H, D]

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

    def run(self, texts: list[str]) -> list[SentenceResult]:
        """Encode all texts as one padded batch; return one unpadded result per text."""
        items = self.tokenize(texts)
        ids, mask = pad_batch(items)
        out = encode(self.config, self.params, ids, mask)
        att, hs, q, k, v = (np.asarray(a) for a in (out.attentions, out.hidden_states, out.q, out.k, out.v))
        results = []
        for b, it in enumerate(items):
            n = len(it.ids)
            results.append(
                SentenceResult(
                    tokenized=it,
                    attentions=att[:, b, :, :n, :n],
                    hidden=hs[-1, b, :n],
                    hidden_states=hs[:, b, :n],
                    q=q[:, b, :n],
                    k=k[:, b, :n],
                    v=v[:, b, :n],
                )
            )
        return results
