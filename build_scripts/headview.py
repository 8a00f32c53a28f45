"""The head view: which words one query word attends to, in one or several heads of a layer.

Pure functions from the encoder's weights to tidy tables, and from tables to an Altair chart.
The browser widget (``docs/assets/js/widgets.js``) recomputes the same tables from the per-sentence
JSON written here; :func:`view_tables` is the reference it is tested against.

Layers and heads are numbered from 1 in everything a reader sees (``layer 6, head 12``) and from 0
in arrays.
"""

from __future__ import annotations

import altair as alt
import numpy as np

from attn_jax.words import align_words, drop_special, word_attention

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
    """How strongly each head shows each common pattern in one sentence: ``{pattern: [L, H]}``.

    att ``[L, H, w, w]`` (row = query word). Means over the ordinary (non-special) query words:
    *previous word* = weight on the word before, *next word* = on the word after, *[CLS] sink* = on
    position 0, *focused* = each row's largest weight on an ordinary word other than itself and its
    neighbours. The head view's pattern picks and the all-heads grid both read these.
    """
    special = np.asarray(special, bool)
    w = att.shape[-1]
    idx = np.flatnonzero(~special)
    far = np.ones((w, w), bool)
    for i in range(w):
        far[i, max(i - 1, 0) : i + 2] = False
    far[:, special] = False
    return {
        "previous word": att[..., idx, idx - 1].mean(-1),
        "next word": att[..., idx, np.minimum(idx + 1, w - 1)].mean(-1),
        "[CLS] sink": att[..., idx, 0].mean(-1),
        "focused": np.where(far[idx][None, None], att[..., idx, :], 0.0).max(-1).mean(-1),
    }


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


def positions(labels: list[str]) -> tuple[list[float], float]:
    """x centre of each word in a row (width by character count) and the row's total width."""
    xs, x = [], 0.0
    for lab in labels:
        w = len(lab) * CHAR_W
        xs.append(round(x + w / 2, 1))
        x += w + GAP
    return xs, round(x - GAP, 1)


def view_tables(payload: dict, *, level="word", layer=0, heads=(0,), query=None, show_special=True):
    """The tidy tables behind one view of the widget.

    Returns ``(words, links, removed)``: one row per word and row (query row on top, key row at the
    bottom), one row per (head, key) link from the query, and the share of the query's attention
    that went to [CLS]/[SEP] when they are hidden (renormalised away), per head.
    """
    data = payload[level] or payload["word"]
    labels, special = data["labels"], np.asarray(data["special"])
    att = np.asarray(data["attention"])[layer]  # [H, n, n]
    q = payload["query"] if query is None else query
    if level == "token" and payload["token"] is not None and query is None:
        q = _token_of_word(payload, q)
    if not show_special and special[q]:  # a hidden token cannot be the query: use the first word
        q = int(np.flatnonzero(~special)[0])
    keep = np.arange(len(labels)) if show_special else np.flatnonzero(~special)
    removed = {}
    rows = att[list(heads)][:, q, :]  # [h, n]
    if not show_special:
        sub, rem = drop_special(att[list(heads)], special)  # [h, n', n'], [h, n']
        qk = int(np.searchsorted(keep, q))
        rows = np.zeros_like(rows)
        rows[:, keep] = sub[:, qk, :]
        removed = {int(h): round(float(r), PRECISION) for h, r in zip(heads, rem[:, qk])}
    xs_kept, width = positions([labels[i] for i in keep])
    x_of = dict(zip(keep.tolist(), xs_kept))
    words = []
    for row, y in (("query", TOP), ("key", BOTTOM)):
        for i in keep:
            words.append({"index": int(i), "label": labels[i], "row": row, "x": x_of[int(i)], "y": y,
                          "selected": bool(i == q and row == "query"), "special": bool(special[i])})
    links = []
    for j, (h, row) in enumerate(zip(heads, rows)):
        dx = (j - (len(heads) - 1) / 2) * HEAD_OFFSET  # side by side, so overlaid heads stay visible
        for i in keep:
            links.append({"head": f"head {h + 1}", "key": labels[i], "key_index": int(i),
                          "x": x_of[q], "y": TOP + 10, "x2": round(x_of[int(i)] + dx, 1), "y2": BOTTOM - 12,
                          "weight": round(float(row[i]), PRECISION)})
    return words, links, {"width": width, "removed": removed}


def _token_of_word(payload: dict, word_index: int) -> int:
    """First token of a word (the token view starts on the same word as the word view)."""
    return payload["token"]["token_word"].index(word_index)


def readout(payload: dict, words: list[dict], links: list[dict], extra: dict, top: int = 5) -> str:
    """One line per head, in words: ``head 12: 'it' → cat 0.71, [CLS] 0.10, …``."""
    q = next(w for w in words if w["selected"])
    lines = []
    for head in dict.fromkeys(link["head"] for link in links):
        ranked = sorted((lk for lk in links if lk["head"] == head), key=lambda lk: (-lk["weight"], lk["key_index"]))
        parts = ", ".join(f"{lk['key']} {lk['weight']:.2f}" for lk in ranked[:top])
        tail = ", …" if len(ranked) > top else ""
        note = ""
        h = int(head.split()[1]) - 1
        if h in extra["removed"]:
            note = f" ([CLS]/[SEP] hidden: {extra['removed'][h]:.2f} of the attention removed, the rest rescaled)"
        lines.append(f"{head}: '{q['label']}' → {parts}{tail}{note}")
    return "\n".join(lines)


def head_view_chart(words: list[dict], links: list[dict], width: float, title: str = "") -> alt.LayerChart:
    """Words in two rows (query on top, keys below) and one line per (head, key) from the query.

    Thicker and more opaque = more weight; colour = head. Data sets are named ``words`` and
    ``links`` so the widget can swap them without rebuilding the chart.
    """
    link_base = alt.Chart(alt.NamedData("links")).mark_rule(strokeCap="round")
    lines = link_base.transform_calculate(
        description="datum.head + ': ' + datum.key + ' ' + format(datum.weight, '.2f')"  # what screen readers say
    ).encode(
        x=alt.X("x:Q", axis=None, scale=None),  # x, y are pixels: the widget lays words out itself
        y=alt.Y("y:Q", axis=None, scale=None),
        x2="x2:Q",
        y2="y2:Q",
        size=alt.Size("weight:Q", scale=alt.Scale(domain=[0, 1], range=[0.5, 14]), legend=None),
        opacity=alt.Opacity("weight:Q", scale=alt.Scale(domain=[0, 1], range=[0.15, 1]), legend=None),
        # fixed head -> colour map, so a head keeps its colour in every view; the widget's head
        # checkboxes (with colour swatches) are the legend
        color=alt.Color("head:N", scale=alt.Scale(domain=HEAD_NAMES, range=PALETTE), legend=None),
        tooltip=[alt.Tooltip("head:N"), alt.Tooltip("key:N", title="key word"), alt.Tooltip("weight:Q", format=".3f")],
        description=alt.Description("description:N"),
    )
    base = alt.Chart(alt.NamedData("words")).encode(
        x=alt.X("x:Q", axis=None, scale=None),
        y=alt.Y("y:Q", axis=None, scale=None),
        text="label:N",
        opacity=alt.condition("datum.special", alt.value(0.65), alt.value(1.0)),
        description=alt.Description("label:N"),
    )
    words_plain = base.mark_text(fontSize=13, baseline="middle", cursor="pointer").transform_filter("!datum.selected")
    query = base.mark_text(fontSize=15, fontWeight="bold", baseline="middle", cursor="pointer").transform_filter(
        "datum.selected"
    )
    text = alt.layer(words_plain, query)
    chart = alt.layer(lines, text).properties(width=width, height=BOTTOM + 14, title=title)
    spec = chart.configure(background="transparent").configure_view(stroke=None).to_dict()
    spec["datasets"] = {"words": words, "links": links}  # named, so the widget can swap them
    return alt.LayerChart.from_dict(spec)
