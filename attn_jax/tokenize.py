"""WordPiece tokenization with Hugging Face ``tokenizers``, and batching into length buckets.

The model ships ``tokenizer.json`` set to pad every input to 128 tokens and to truncate at 128.
Here padding and truncation are turned off: padding is done per batch (to a bucket length, with a
mask), and a text longer than the model accepts is an error, never silently cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import AttnJaxError

__all__ = ["Tokenized", "load_tokenizer", "tokenize", "bucket", "pad_batch", "LENGTH_BUCKETS"]

# Padded lengths T. Sentences are padded up to the next bucket so that a few compiled shapes
# serve every input (one compile per bucket, not per sentence): steps of 8 up to 64 tokens, then
# at most a quarter more than needed. The encoder's cost grows with T (T^2 for attention), so a
# 17-token sentence padded to 24 costs about half what it does padded to 32.
LENGTH_BUCKETS = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512)


@dataclass(frozen=True)
class Tokenized:
    """One text as the model sees it (no padding)."""

    text: str
    ids: np.ndarray  # int32 [n]
    tokens: tuple[str, ...]  # [n], e.g. ("[CLS]", "the", "cat", ..., "[SEP]")
    offsets: tuple[tuple[int, int], ...]  # [n] character span of each token in text; (0, 0) for specials
    special: np.ndarray  # bool [n], True for [CLS] / [SEP]


def load_tokenizer(model_dir: Path):
    """The model's tokenizer with the shipped fixed padding and truncation turned off."""
    from tokenizers import Tokenizer

    path = Path(model_dir) / "tokenizer.json"
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as e:
        raise AttnJaxError(f"cannot read tokenizer {path}: {e}; reinstall the model package") from None
    tok.no_padding()
    tok.no_truncation()
    return tok


def tokenize(tokenizer, texts: list[str], max_tokens: int) -> list[Tokenized]:
    """Tokenize each text; raise AttnJaxError for an empty one or one over ``max_tokens``."""
    if not texts:
        raise AttnJaxError("no text given; pass at least one sentence")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise AttnJaxError(f"text {i} is empty or only whitespace; give a sentence with words in it")
    out = []
    for i, (text, enc) in enumerate(zip(texts, tokenizer.encode_batch(texts))):
        n = len(enc.ids)
        if n > max_tokens:
            raise AttnJaxError(
                f"text {i} is {n} tokens long (with [CLS] and [SEP]) but the model accepts at most "
                f"{max_tokens}; shorten it or split it into sentences"
            )
        out.append(
            Tokenized(
                text=text,
                ids=np.asarray(enc.ids, dtype=np.int32),
                tokens=tuple(enc.tokens),
                offsets=tuple(tuple(o) for o in enc.offsets),
                special=np.asarray(enc.special_tokens_mask, dtype=bool),
            )
        )
    return out


def bucket(n: int, buckets: tuple[int, ...] = LENGTH_BUCKETS) -> int:
    """Smallest bucket >= n."""
    for b in buckets:
        if n <= b:
            return b
    raise ValueError(f"length {n} exceeds the largest bucket {buckets[-1]}")


def pad_batch(items: list[Tokenized], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stack token ids into ``input_ids [B, T]`` and ``attention_mask [B, T]`` (1 = real token).

    T is the bucket of the longest item; B is rounded up to a power of two with empty rows
    (mask all 0), so batch sizes too fall into a few compiled shapes.
    """
    t = bucket(max(len(it.ids) for it in items))
    b = 1 << (len(items) - 1).bit_length()
    ids = np.full((b, t), pad_id, dtype=np.int32)
    mask = np.zeros((b, t), dtype=np.int32)
    for row, it in enumerate(items):
        ids[row, : len(it.ids)] = it.ids
        mask[row, : len(it.ids)] = 1
    return ids, mask
