"""The head view's payload: one sentence's words, tokens and attention as the widget loads them.

Shared by the head-view group (the article's sentences), the gallery (the Winograd pairs) and the
standalone export (``python -m build_scripts.view``): pure functions from an encoder result to the
payload (weights quantised to 8 bits), the head-pattern picks each layer's default heads come from,
and the featured head. The chart that draws a payload is :mod:`build_scripts.groups.head_view.charts`.

Layers and heads are numbered from 1 in everything a reader sees (``layer 6, head 12``) and from 0
in arrays.
"""

from __future__ import annotations

import base64

import numpy as np

from attn_jax.analysis import ROLES, focus_scores, role_scores, strong_heads
from attn_jax.words import align_words, word_attention

from .artifacts import rounded

PRECISION = 3  # decimals kept in the unquantised weights
PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2",
           "#9d755d", "#eeca3b", "#ff9da6", "#bab0ac", "#2f6f8f", "#8c6d31"]  # fmt: skip
HEAD_NAMES = [f"head {i + 1}" for i in range(len(PALETTE))]
PATTERNS = ("previous word", "next word", "[CLS] sink", "focused")


def sentence_payload(sentence, result) -> dict:
    """Everything the widget needs for one sentence: words, tokens, attention at both levels.

    ``attention`` arrays are ``[L][H][n][n]`` (row = query, column = key), word level by the rule
    of :mod:`attn_jax.words`; the token level is omitted (None) when every word is one token.
    """
    al = align_words(result.tokenized)
    words = word_attention(result.attentions, al)
    same = len(al.words) == len(result.tokens)
    query = sentence.query or next(w for w, s in zip(al.words, al.special) if not s)
    payload = {
        "id": sentence.id,
        "title": sentence.title,
        "text": sentence.text,
        "layers": int(result.attentions.shape[0]),
        "heads": int(result.attentions.shape[1]),
        "query": al.words.index(query),
        "word": {"labels": list(al.words), "special": list(al.special), "attention": rounded(words, PRECISION)},
        "token": None if same else {
            "labels": list(result.tokens),
            "special": [bool(s) for s in result.tokenized.special],
            "token_word": list(al.token_word),
            "attention": rounded(result.attentions, PRECISION),
        },
        "patterns": classify_heads(words, np.asarray(al.special)),
    }
    payload["multi_heads"] = [default_heads(payload, layer) for layer in range(payload["layers"])]
    return payload


def token_label(text: str) -> str:
    """How a decoder token is shown: its text without the space that starts a word, a line break as
    ↵ and a tab as ⇥ (so every token stays a visible, clickable label)."""
    shown = text.lstrip(" ").replace("\n", "↵").replace("\t", "⇥")
    return shown or "␣"


def decoder_payload(sid: str, title: str, text: str, tokens, attentions, query: int,
                    generated_from: int | None = None, next_tokens=None) -> dict:
    """A decoder's text as the head view loads it: its tokens (byte-level BPE: shown one by one,
    there is no word level) and the causal attention ``[L, H, n, n]`` (row = query; nothing above
    the diagonal). A continuation the decoder wrote also has ``generated_from`` (the first new
    token's position P) and ``next_tokens`` (the label of every token it wrote, one more than are
    shown: at step k the query is token P + k - 2, the last one the model had read, and it writes
    ``next_tokens[k - 1]``)."""
    att = np.asarray(attentions, np.float64)
    labels = [token_label(t) for t in tokens]
    if att.shape[-1] != len(labels) or np.abs(np.triu(att, 1)).max(initial=0) > 1e-6:
        raise ValueError(f"{sid}: attention must be causal [L, H, n, n] with n = {len(labels)} tokens, "
                         f"got {att.shape}")
    special = [False] * len(labels)
    payload = {
        "id": sid, "title": title, "text": text, "kind": "decoder", "causal": True,
        "layers": int(att.shape[0]), "heads": int(att.shape[1]), "query": int(query),
        "word": {"labels": labels, "special": special, "attention": rounded(att, PRECISION)},
        "token": None, "token_omitted": True,
        "patterns": classify_heads(att, np.asarray(special)),
    }
    if generated_from is not None:
        payload["generated_from"] = int(generated_from)
        payload["next_tokens"] = [token_label(t) for t in next_tokens]
    payload["multi_heads"] = [default_heads(payload, layer) for layer in range(payload["layers"])]
    return payload


def pattern_scores(att: np.ndarray, special) -> dict[str, np.ndarray]:
    """How strongly each head shows each pattern of :data:`PATTERNS` in one sentence: ``{pattern: [L, H]}``.

    att ``[L, H, w, w]`` (row = query word). The scores are defined once, in :mod:`attn_jax.analysis`:
    *previous word*, *next word* and *[CLS] sink* are its head-role scores (:func:`~attn_jax.analysis.role_scores`),
    *focused* its :func:`~attn_jax.analysis.focus_scores`. The head view's pattern picks and the
    all-heads grid both read these.
    """
    roles = role_scores(att, special)  # [L, H, 5]
    out = {p: roles[..., ROLES.index(p)] for p in PATTERNS if p != "focused"}
    out["focused"] = focus_scores(att, special)
    return out


def classify_heads(att: np.ndarray, special: np.ndarray) -> list[dict]:
    """Per layer, the head that best shows each pattern of :func:`pattern_scores` in this sentence.

    Returns ``[{pattern: {"head": h (0-based), "score": s}}]`` for each layer; ``focused`` also has
    ``order``, every head from most to least focused.
    """
    scores = pattern_scores(att, special)
    out = []
    for layer in range(att.shape[0]):
        entry = {p: {"head": int(scores[p][layer].argmax()), "score": round(float(scores[p][layer].max()), PRECISION)}
                 for p in PATTERNS}
        entry["focused"]["order"] = [int(h) for h in np.argsort(-scores["focused"][layer], kind="stable")]
        out.append(entry)
    return out


def featured_head(payload: dict, query: str, expect: str) -> dict:
    """The layer and head sending the largest share of ``query``'s attention to ``expect``.

    Chosen from the word-level weights (special tokens shown), never typed by hand.
    """
    labels = payload["word"]["labels"]
    att = np.asarray(payload["word"]["attention"])
    qi, ki = labels.index(query), labels.index(expect)
    flat = att[:, :, qi, ki]
    layer, head = np.unravel_index(int(flat.argmax()), flat.shape)
    uniform = 1.0 / len(labels)
    return {
        "layer": int(layer), "head": int(head), "query": query, "key": expect,
        "weight": float(flat[layer, head]), "uniform": round(uniform, PRECISION), "n_words": len(labels),
        "heads_over_0_3": int(strong_heads(flat).sum()),
    }


def default_heads(payload: dict, layer: int, count: int = 4) -> list[int]:
    """Heads overlaid in multi-head mode: the best head of each pattern of :func:`classify_heads`,
    then, if those coincide, the most focused remaining heads, up to ``count``; in head order."""
    heads: list[int] = []
    for p in PATTERNS:
        h = payload["patterns"][layer][p]["head"]
        if h not in heads:
            heads.append(h)
    for h in payload["patterns"][layer]["focused"]["order"]:
        if len(heads) >= count:
            break
        if h not in heads:
            heads.append(h)
    return sorted(heads)


def quantise(att: np.ndarray, causal: bool = False) -> dict:
    """Weights in ``[0, 1]`` as 8-bit integers: ``{"q8": base64 of uint8 round(w * 255), "shape": [...]}``.

    Row-major, the same axes as ``att``. Decoding is ``byte / 255``; the error is at most
    :data:`Q8_MAX_ERROR` (half a step). Weights are probabilities, so nothing is clipped.
    ``causal``: the last two axes are query x key and no query sees a later key, so only each row's
    keys ``0..query`` are written (half the bytes) and ``"causal": true`` says so; the rest is zero.
    """
    a = np.asarray(att, np.float64)
    if a.size and (a.min() < -1e-6 or a.max() > 1 + 1e-6):
        raise ValueError(f"attention weights must lie in [0, 1], got [{a.min():.3g}, {a.max():.3g}]")
    q = np.round(np.clip(a, 0.0, 1.0) * 255).astype(np.uint8)
    if not causal:
        return {"q8": base64.b64encode(q.tobytes()).decode("ascii"), "shape": list(a.shape)}
    n = a.shape[-1]
    below = np.tril(np.ones((n, n), bool))
    if q[..., ~below].any():
        raise ValueError("causal weights must be zero above the diagonal (a query sees no later key)")
    return {"q8": base64.b64encode(q[..., below].tobytes()).decode("ascii"), "shape": list(a.shape), "causal": True}


def dequantise(packed: dict) -> np.ndarray:
    """Inverse of :func:`quantise` (float64, each value within :data:`Q8_MAX_ERROR` of the original)."""
    raw = np.frombuffer(base64.b64decode(packed["q8"]), np.uint8).astype(np.float64) / 255
    shape = packed["shape"]
    if not packed.get("causal"):
        return raw.reshape(shape)
    out = np.zeros(shape)
    out[..., np.tril(np.ones(shape[-2:], bool))] = raw.reshape(*shape[:-2], -1)
    return out


Q8_MAX_ERROR = 0.5 / 255


def shipped_payload(payload: dict) -> dict:
    """The payload as the widget loads it: both attention levels quantised to 8 bits (:func:`quantise`)."""
    causal = bool(payload.get("causal"))
    out = {**payload, "word": {**payload["word"], "attention": quantise(payload["word"]["attention"], causal)}}
    if payload["token"] is not None:
        out["token"] = {**payload["token"], "attention": quantise(payload["token"]["attention"], causal)}
    return out


def shipped_by_layer(sid: str, payload: dict) -> dict[str, str | dict]:
    """A word-level payload as the widget loads it, one file per layer: ``<sid>.json`` holds
    everything but the weights, with ``word.layers`` naming each layer's file in their place, and
    ``<sid>/layer-<l>.json`` holds layer ``l``'s weights [head, query, key], quantised like
    :func:`shipped_payload`'s. The widget fetches a layer when the reader first shows it, so a text of
    a 30-layer model costs its first view one layer's bytes, not thirty. Returns {file name: JSON-able}."""
    if payload["token"] is not None:
        raise ValueError("a payload shipped by layer has the word level only")
    att = np.asarray(payload["word"]["attention"])
    causal = bool(payload.get("causal"))
    names = [f"{sid}/layer-{layer + 1}.json" for layer in range(att.shape[0])]
    word = {k: v for k, v in payload["word"].items() if k != "attention"} | {"layers": names}
    return {f"{sid}.json": {**payload, "word": word}} | {name: quantise(att[layer], causal) for layer, name in enumerate(names)}
