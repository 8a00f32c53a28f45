"""The head view: which words one query word attends to, in one or several heads of a layer.

Pure functions from the encoder's weights to the per-sentence payload the widget loads (weights
quantised to 8 bits), to the head-pattern picks, and to the chart: a Vega spec whose signals and
transforms compute every view (which words, rescaling when [CLS]/[SEP] are hidden, the one-row or
two-column layout, the lines, the ranking the readout reads). The widget
(``docs/assets/js/head-view.js``) only routes data and signals into it; the browser tests compare
what it draws with NumPy.

Layers and heads are numbered from 1 in everything a reader sees (``layer 6, head 12``) and from 0
in arrays.
"""

from __future__ import annotations

import base64

import numpy as np

from attn_jax.analysis import ROLES, focus_scores, role_scores
from attn_jax.words import align_words, word_attention

PRECISION = 3  # decimals kept in the shipped weights (the readout shows 2)
CHAR_W, GAP = 7.0, 16.0  # layout: px per character at 13 px, gap between words
TOP, BOTTOM = 20.0, 150.0  # y of the query row and the key row
HEAD_OFFSET = 4.0  # px between the line ends of overlaid heads
PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2",
           "#9d755d", "#eeca3b", "#ff9da6", "#bab0ac", "#2f6f8f", "#8c6d31"]  # fmt: skip
HEAD_NAMES = [f"head {i + 1}" for i in range(len(PALETTE))]
PATTERNS = ("previous word", "next word", "[CLS] sink", "focused")


def _rounded(a: np.ndarray) -> list:
    return np.round(a.astype(np.float64), PRECISION).tolist()


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
        "word": {"labels": list(al.words), "special": list(al.special), "attention": _rounded(words)},
        "token": None if same else {
            "labels": list(result.tokens),
            "special": [bool(s) for s in result.tokenized.special],
            "token_word": list(al.token_word),
            "attention": _rounded(result.attentions),
        },
        "patterns": classify_heads(words, np.asarray(al.special)),
    }
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
        "heads_over_0_3": int((flat > 0.3).sum()),
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


def quantise(att: np.ndarray) -> dict:
    """Weights in ``[0, 1]`` as 8-bit integers: ``{"q8": base64 of uint8 round(w * 255), "shape": [...]}``.

    Row-major, the same axes as ``att``. Decoding is ``byte / 255``; the error is at most
    :data:`Q8_MAX_ERROR` (half a step). Weights are probabilities, so nothing is clipped.
    """
    a = np.asarray(att, np.float64)
    if a.size and (a.min() < -1e-6 or a.max() > 1 + 1e-6):
        raise ValueError(f"attention weights must lie in [0, 1], got [{a.min():.3g}, {a.max():.3g}]")
    q = np.round(np.clip(a, 0.0, 1.0) * 255).astype(np.uint8)
    return {"q8": base64.b64encode(q.tobytes()).decode("ascii"), "shape": list(a.shape)}


def dequantise(packed: dict) -> np.ndarray:
    """Inverse of :func:`quantise` (float64, each value within :data:`Q8_MAX_ERROR` of the original)."""
    raw = np.frombuffer(base64.b64decode(packed["q8"]), np.uint8)
    return raw.reshape(packed["shape"]).astype(np.float64) / 255


Q8_MAX_ERROR = 0.5 / 255


def shipped_payload(payload: dict) -> dict:
    """The payload as the widget loads it: both attention levels quantised to 8 bits (:func:`quantise`)."""
    out = {**payload, "word": {**payload["word"], "attention": quantise(payload["word"]["attention"])}}
    if payload["token"] is not None:
        out["token"] = {**payload["token"], "attention": quantise(payload["token"]["attention"])}
    return out


# --- the chart: a Vega spec whose signals and transforms compute every view --------------------
#
# The widget (docs/assets/js/head-view.js) only routes data into it: ``tokens`` (one row per token
# of the chosen level: ``i``, ``label``, ``special``) and ``att`` (one row per head of the chosen
# layer: ``head``, ``m`` = the head's ``[n][n]`` weights, row = query), and sets the signals
# ``query``, ``heads`` (the heads shown) and ``show_special``. Which words are shown, the
# renormalisation when [CLS]/[SEP] are hidden, the layout (one row of words, or BertViz's two
# columns on a narrow screen or for a long sentence), the lines and the ranking the readout reads
# are all computed here, once: the browser runs it, vl-convert runs it for the static fallback.

ROW_H = 26  # px per word in the two-column layout (a touch-sized target)
COLUMN_MAX = 460  # px: the two-column layout does not spread wider than this
BREAKPOINT = 560  # px: below this container width, always two columns


def _signals(query: int, heads: list[int], show_special: bool) -> list[dict]:
    return [
        {"name": "query", "value": query,
         "on": [{"events": "@word:click, @key:click", "update": "datum.i"}]},
        {"name": "heads", "value": heads},
        {"name": "show_special", "value": show_special},
        {"name": "cw", "init": "containerSize()[0] || 640",
         "on": [{"events": "window:resize", "update": "containerSize()[0] || cw"}]},
        {"name": "total", "update": "length(data('extent')) ? data('extent')[0].total : 0"},
        {"name": "count", "update": "length(data('extent')) ? data('extent')[0].count : 0"},
        {"name": "vertical", "update": f"cw < {BREAKPOINT} || total > cw - 10"},
        {"name": "colw", "update": f"min(cw - 10, {COLUMN_MAX})"},
        {"name": "xl", "update": "round(colw * 0.38)"},  # right edge of the query column
        {"name": "xr", "update": "round(colw * 0.62)"},  # left edge of the key column
        {"name": "qsel", "update": "length(data('picked')) ? data('picked')[0].i : "
                                   "(length(data('shown')) ? data('shown')[0].i : 0)"},
        {"name": "width", "update": "vertical ? colw : total"},
        {"name": "height", "update": f"vertical ? count * {ROW_H} + 8 : {BOTTOM + 14}"},
    ]


def _data(tokens: list[dict], att: list[dict]) -> list[dict]:
    return [
        {"name": "tokens", "values": tokens},
        {"name": "shown", "source": "tokens", "transform": [
            {"type": "filter", "expr": "show_special || !datum.special"},
            {"type": "window", "ops": ["row_number"], "as": ["r"]},
            {"type": "formula", "as": "wpx", "expr": f"length(datum.label) * {CHAR_W} + {GAP}"},
            {"type": "window", "ops": ["sum"], "fields": ["wpx"], "as": ["cum"], "frame": [None, 0]},
            {"type": "formula", "as": "cx", "expr": f"datum.cum - {GAP} - length(datum.label) * {CHAR_W} / 2"},
            {"type": "formula", "as": "vy", "expr": f"(datum.r - 1) * {ROW_H} + {ROW_H} / 2 + 4"},
        ]},
        {"name": "extent", "source": "shown", "transform": [
            {"type": "aggregate", "ops": ["max", "count"], "fields": ["cum", "i"], "as": ["cum", "count"]},
            {"type": "formula", "as": "total", "expr": f"datum.cum - {GAP}"},
        ]},
        {"name": "picked", "source": "shown", "transform": [{"type": "filter", "expr": "datum.i === query"}]},
        {"name": "att", "values": att},
        {"name": "links", "source": "att", "transform": [
            {"type": "filter", "expr": "indexof(heads, datum.head) >= 0"},
            {"type": "flatten", "fields": ["m"], "index": "q", "as": ["row"]},
            {"type": "filter", "expr": "datum.q === qsel"},
            {"type": "flatten", "fields": ["row"], "index": "k", "as": ["raw"]},
            {"type": "lookup", "from": "shown", "key": "i", "fields": ["k"], "as": ["key"]},
            {"type": "filter", "expr": "datum.key != null"},
            {"type": "joinaggregate", "groupby": ["head"], "ops": ["sum"], "fields": ["raw"], "as": ["kept"]},
            # hidden [CLS]/[SEP]: the rest of the row is rescaled to sum to 1
            {"type": "formula", "as": "weight", "expr": "show_special ? datum.raw : (datum.kept > 0 ? datum.raw / datum.kept : 0)"},
            {"type": "formula", "as": "removed", "expr": "show_special ? 0 : clamp(1 - datum.kept, 0, 1)"},
            {"type": "formula", "as": "label", "expr": "datum.key.label"},
            {"type": "formula", "as": "slot", "expr": "indexof(heads, datum.head) - (length(heads) - 1) / 2"},
            {"type": "window", "groupby": ["head"], "sort": {"field": ["weight", "k"], "order": ["descending", "ascending"]},
             "ops": ["row_number"], "as": ["rank"]},
            {"type": "formula", "as": "description",
             "expr": "'head ' + (datum.head + 1) + ': ' + datum.label + ' ' + format(datum.weight, '.2f')"},
        ]},
    ]  # fmt: skip


def _word_mark(name: str, side: str) -> dict:
    """The words of one side: ``word`` = the query row (or left column), ``key`` = the key row (right column)."""
    left = side == "word"
    x = ({"signal": "vertical ? xl : datum.cx"} if left else {"signal": "vertical ? xr : datum.cx"})
    y = {"signal": f"vertical ? datum.vy : {TOP if left else BOTTOM}"}
    sel = "datum.i === qsel" + ("" if left else " && vertical")
    return {
        "type": "text", "name": name, "from": {"data": "shown"},
        "encode": {"update": {
            "x": x, "y": y, "text": {"field": "label"},
            "align": {"signal": f"vertical ? '{'right' if left else 'left'}' : 'center'"},
            "baseline": {"value": "middle"}, "cursor": {"value": "pointer"},
            "fontSize": {"signal": f"{sel} ? 15 : 13"},
            "fontWeight": {"signal": f"{sel} ? 'bold' : 'normal'"},
            "fillOpacity": {"signal": "datum.special ? 0.65 : 1"},
            "fill": {"value": "#222"},
            "description": {"field": "label"},
        }},
    }


def head_view_spec(tokens: list[dict], att: list[dict], *, query: int, heads: list[int], show_special: bool = True,
                   title: str = "") -> dict:
    """The head view as a Vega spec (see the comment above), with one view's data filled in.

    ``tokens``: ``[{"i", "label", "special"}]``; ``att``: ``[{"head", "m": [n][n]}]`` for one layer.
    """
    line_x = {"signal": "vertical ? xl + 5 : qpos.cx"}
    spec = {
        "$schema": "https://vega.github.io/schema/vega/v6.json",
        "description": title or "Attention lines from the query word to every word; thicker = more weight.",
        "background": "transparent", "padding": 5, "autosize": {"type": "pad"},
        "signals": _signals(query, heads, show_special) + [
            {"name": "qpos", "update": "length(data('picked')) ? data('picked')[0] : "
                                       "(length(data('shown')) ? data('shown')[0] : {cx: 0, vy: 0})"}],
        "data": _data(tokens, att),
        "scales": [
            {"name": "colour", "type": "ordinal", "domain": list(range(len(PALETTE))), "range": PALETTE},
            {"name": "size", "type": "linear", "domain": [0, 1], "range": [0.5, 12], "zero": False},
            {"name": "opacity", "type": "linear", "domain": [0, 1], "range": [0.15, 1], "zero": False},
        ],
        "marks": [
            {"type": "rule", "name": "line", "from": {"data": "links"}, "encode": {"update": {
                "x": line_x,
                "y": {"signal": f"vertical ? qpos.vy : {TOP + 10}"},
                "x2": {"signal": f"vertical ? xr - 5 : datum.key.cx + datum.slot * {HEAD_OFFSET}"},
                "y2": {"signal": f"vertical ? datum.key.vy + datum.slot * 2 : {BOTTOM - 12}"},
                "stroke": {"scale": "colour", "field": "head"},
                "strokeWidth": {"scale": "size", "field": "weight"},
                "strokeOpacity": {"scale": "opacity", "field": "weight"},
                "strokeCap": {"value": "round"},
                "tooltip": {"signal": "{'head': datum.head + 1, 'key word': datum.label, 'weight': format(datum.weight, '.3f')}"},
                "description": {"field": "description"},
            }}},
            _word_mark("word", "word"),
            _word_mark("key", "key"),
        ],
    }  # fmt: skip
    return spec


def layer_rows(attention, layer: int) -> list[dict]:
    """The ``att`` data set of one layer: ``[{"head": h, "m": attention[layer][h]}]``."""
    return [{"head": h, "m": m} for h, m in enumerate(_rounded(np.asarray(attention)[layer]))]


def token_rows(level: dict) -> list[dict]:
    """The ``tokens`` data set of one level (``payload["word"]`` or ``payload["token"]``)."""
    return [{"i": i, "label": lab, "special": bool(sp)} for i, (lab, sp) in enumerate(zip(level["labels"], level["special"]))]
