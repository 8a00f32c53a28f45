"""From WordPiece tokens to words, and token-level attention to word-level attention.

A *word* is a run of letters/digits with internal apostrophes ("didn't" is one word, though the
tokenizer makes three pieces of it: "didn", "'", "t"), or a single punctuation mark. Special
tokens ([CLS], [SEP]) are words of their own, flagged ``special``.

Word-level attention rule, for token attention A ``[..., n, n]`` (row = query, column = key):

    W[i, j] = mean over the pieces p of query word i of ( sum over the pieces s of key word j of A[p, s] )

Summing over a key word's pieces keeps the total attention a query pays (rows still sum to 1);
averaging over a query word's pieces treats the word as one query. Removing special tokens drops
their rows and columns and renormalises each remaining row to sum to 1, reporting the mass removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .tokenize import Tokenized

__all__ = ["Alignment", "align_words", "word_attention", "drop_special"]

WORD_RE = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")


@dataclass(frozen=True)
class Alignment:
    """Words of a text and which tokens make each one."""

    words: tuple[str, ...]  # [w]
    special: tuple[bool, ...]  # [w], True for [CLS] / [SEP]
    token_word: tuple[int, ...]  # [n] index of the word each token belongs to

    @property
    def membership(self) -> np.ndarray:
        """float64 ``[w, n]``: 1 where token s belongs to word i."""
        m = np.zeros((len(self.words), len(self.token_word)))
        m[list(self.token_word), np.arange(len(self.token_word))] = 1.0
        return m


def align_words(tok: Tokenized) -> Alignment:
    """Group the tokens of ``tok`` into words using their character offsets in the text."""
    spans = [(m.start(), m.end(), m.group()) for m in WORD_RE.finditer(tok.text)]
    words: list[str] = []
    special: list[bool] = []
    token_word: list[int] = []
    span_to_word: dict[int, int] = {}
    for token, (start, end), is_special in zip(tok.tokens, tok.offsets, tok.special):
        if is_special:
            words.append(token)
            special.append(True)
            token_word.append(len(words) - 1)
            continue
        hit = next((i for i, (a, b, _) in enumerate(spans) if a <= start and end <= b), None)
        if hit is None:  # a token straddling our word boundaries: make it a word of its own
            words.append(tok.text[start:end])
            special.append(False)
            token_word.append(len(words) - 1)
            continue
        if hit not in span_to_word:
            span_to_word[hit] = len(words)
            words.append(spans[hit][2])
            special.append(False)
        token_word.append(span_to_word[hit])
    return Alignment(tuple(words), tuple(special), tuple(token_word))


def word_attention(attention: np.ndarray, alignment: Alignment) -> np.ndarray:
    """Token attention ``[..., n, n]`` -> word attention ``[..., w, w]`` by the rule in the module doc."""
    m = alignment.membership  # [w, n]
    mean_q = m / m.sum(1, keepdims=True)  # average over a query word's pieces
    out = np.einsum("in,...ns,js->...ij", mean_q, attention.astype(np.float64), m)  # sum over key pieces
    return out.astype(attention.dtype)


def drop_special(attention: np.ndarray, special) -> tuple[np.ndarray, np.ndarray]:
    """Remove special rows/columns from ``[..., w, w]`` and renormalise each row to sum to 1.

    Returns ``(renormalised [..., w', w'], removed [..., w'])`` where ``removed`` is the share of
    each remaining query's attention that went to the special tokens (0 <= removed <= 1). A row
    whose attention went entirely to special tokens becomes all zeros.
    """
    keep = ~np.asarray(special, dtype=bool)
    sub = attention[..., keep, :][..., :, keep].astype(np.float64)
    total = attention[..., keep, :].astype(np.float64).sum(-1)
    kept = sub.sum(-1)
    removed = np.clip(total - kept, 0.0, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        renorm = np.where(kept[..., None] > 0, sub / kept[..., None], 0.0)
    return renorm.astype(attention.dtype), removed.astype(attention.dtype)
