"""The numbers the article quotes from the head view's sentences: the featured head and the
Winograd pair, from the word-level weights of the payloads (one sentence each: the corpus-scale
tests of the same claims are the evidence and senses groups').

Layers and heads are 1-based in the facts (``layer_1based``), 0-based in arrays.
"""

from __future__ import annotations

import numpy as np

from attn_jax.analysis import strong_heads

PRECISION = 3


def featured_facts(featured: dict) -> dict:
    """The featured head (:func:`build_scripts.pipeline.payloads.featured_head`) with 1-based numbers."""
    return {**featured, "layer_1based": featured["layer"] + 1, "head_1based": featured["head"] + 1}


def _word_rows(payload: dict, query: str) -> tuple[list[str], np.ndarray]:
    """Word labels and ``[L, H, w]``: every head's attention from ``query`` to each word."""
    labels = payload["word"]["labels"]
    return labels, np.asarray(payload["word"]["attention"])[:, :, labels.index(query), :]


def winograd_pair(role: dict, payloads: dict) -> dict:
    """The pair: does a head that sends much of ``query`` to a candidate switch with the sentence?

    The correct candidate is the first in the first sentence and the second in the second. A head
    is *strong* (:func:`attn_jax.analysis.strong_heads`) for either candidate in either sentence;
    it *switches* when it prefers the correct candidate in both sentences.
    """
    (s1, s2), (c1, c2) = role["sentences"], role["candidates"]
    w = {}
    for sid in (s1, s2):
        labels, rows = _word_rows(payloads[sid], role["query"])
        w[sid] = {c: rows[..., labels.index(c)] for c in (c1, c2)}
    strong = np.zeros_like(w[s1][c1], bool)
    for sid in (s1, s2):
        for c in (c1, c2):
            strong |= strong_heads(w[sid][c])
    first_right = w[s1][c1] > w[s1][c2]
    second_right = w[s2][c2] > w[s2][c1]
    l_, h_ = np.unravel_index(int(np.argmax(w[s1][c1] + w[s2][c1])), w[s1][c1].shape)
    return {
        "sentences": [s1, s2], "candidates": [c1, c2], "query": role["query"],
        "strong_heads": int(strong.sum()),
        "strong_prefer_first_in_both": int((strong & first_right & ~second_right).sum()),
        "strong_switch": int((strong & first_right & second_right).sum()),
        "strong_prefer_second_in_second": int((strong & second_right).sum()),
        "top_layer_1based": int(l_) + 1,
        "top_head_1based": int(h_) + 1,
        "top": {sid: {c: round(float(w[sid][c][l_, h_]), PRECISION) for c in (c1, c2)} for sid in (s1, s2)},
    }
