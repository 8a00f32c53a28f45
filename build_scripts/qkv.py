"""The Q/K/V steps of one attention head, for one query token, with the real model's numbers.

    raw = q · k        scaled = raw / sqrt(D)        weights = softmax(scaled)        out = Σ weights × v

Pure functions: the encoder's per-layer Q/K/V (token level: every WordPiece, plus [CLS] and [SEP],
has its own q, k and v) -> one JSON payload per (sentence, layer) holding all heads, -> the tidy
tables of one view, -> an Altair chart with named data sets. The browser widget
(``docs/assets/js/qkv-steps.js``) only *picks* numbers out of the payload with the same rules as
:func:`view_tables` and :func:`readout`; it never computes a score.

Axis legend: L layers, H heads, T query tokens, S key tokens (T = S = n here), D head dim.
Layers and heads are numbered from 1 in everything a reader sees and from 0 in arrays.
"""

from __future__ import annotations

import altair as alt
import numpy as np

PRECISION = 3  # decimals kept in the shipped numbers
CELL_W, ROW_H = 4, 16  # px per vector component, px per token row
BAR_W = 80  # px width of each bar chart
SCHEME = "blueorange"  # diverging: negative blue, positive orange, 0 pale
NARROW_BELOW = 600  # px: below this widget width, the widget draws the stacked chart (``narrow=True``)


def _rounded(a: np.ndarray) -> list:
    return (np.round(np.asarray(a, np.float64), PRECISION) + 0.0).tolist()  # + 0.0: no "-0.0" in the JSON


# --- the steps, one head of one sentence (NumPy, float64) -----------------------------------------


def dot_scores(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """q ``[H, T, D]``, k ``[H, S, D]`` -> raw scores ``[H, T, S]`` (``raw[h, t, s] = q[h, t] · k[h, s]``)."""
    return np.einsum("htd,hsd->hts", q.astype(np.float64), k.astype(np.float64))


def scale(raw: np.ndarray, head_dim: int) -> np.ndarray:
    """Divide scores by sqrt(D)."""
    return raw / np.sqrt(head_dim)


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax over the last axis (max subtracted, float64)."""
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def weighted_sum(weights: np.ndarray, v: np.ndarray) -> np.ndarray:
    """weights ``[H, T, S]``, v ``[H, S, D]`` -> out ``[H, T, D]``."""
    return np.einsum("hts,hsd->htd", weights.astype(np.float64), v.astype(np.float64))


def layer_payload(sentence, result, layer: int, atol: float = 1e-4) -> dict:
    """Every number of the widget for one sentence and one layer, all heads, rounded to 3 decimals.

    ``q``, ``k``, ``v``, ``out`` are ``[H][n][D]``; ``raw``, ``scaled``, ``weights`` are ``[H][n][n]``
    (row = query token, column = key token). ``weights`` are the encoder's own attention weights;
    this raises ``AssertionError`` unless ``softmax(scaled)`` recomputed from its Q and K matches
    them to ``atol`` (so the steps shown really lead to the weights the model used).
    """
    q, k, v = (np.transpose(a[layer], (1, 0, 2)) for a in (result.q, result.k, result.v))  # [n, H, D] -> [H, n, D]
    head_dim = q.shape[-1]
    raw = dot_scores(q, k)
    scaled = scale(raw, head_dim)
    weights = result.attentions[layer].astype(np.float64)  # [H, n, n]
    err = float(np.abs(softmax(scaled) - weights).max())
    if err > atol:
        raise AssertionError(
            f"{sentence.id}, layer {layer + 1}: softmax(q·k/sqrt(D)) differs from the encoder's weights by "
            f"{err:.2e} (> {atol}); the Q/K/V and attention outputs of attn_jax disagree"
        )
    return {
        "sentence": sentence.id,
        "layer": layer,
        "tokens": list(result.tokens),
        "special": [bool(s) for s in result.tokenized.special],
        "head_dim": int(head_dim),
        "q": _rounded(q), "k": _rounded(k), "v": _rounded(v),
        "raw": _rounded(raw), "scaled": _rounded(scaled), "weights": _rounded(weights),
        "out": _rounded(weighted_sum(weights, v)),
    }  # fmt: skip


# --- one view: the tidy tables the chart shows -----------------------------------------------------


def row_key(index: int, label: str, query: bool = False) -> str:
    """Unique, sortable y value of a token row (``"07|it|q"``); the axis shows only the label."""
    return f"{index:02d}|{label}" + ("|q" if query else "")


LABEL_EXPR = "split(datum.value, '|')[1]"
BOLD_EXPR = "length(split(datum.value, '|')) > 2 ? 'bold' : 'normal'"


def view_tables(payload: dict, head: int, query: int) -> dict[str, list[dict]]:
    """The rows behind one view: data set name -> rows (the names the chart and the widget use).

    ``q`` and ``out``: one row per component of the query's vectors; ``k`` and ``v``: one row per
    (token, component); ``scores``: one row per key token with its raw, scaled score and weight.
    """
    tokens = payload["tokens"]
    n, keys = len(tokens), [row_key(i, t, i == query) for i, t in enumerate(tokens)]
    weights = payload["weights"][head][query]
    qrow = f"q|q ({tokens[query]})"  # the same "key|label" form as the token rows
    tables = {
        "q": [{"row": qrow, "word": tokens[query], "dim": d, "value": x}
              for d, x in enumerate(payload["q"][head][query])],
        "k": [{"row": keys[i], "word": tokens[i], "dim": d, "value": x}
              for i in range(n) for d, x in enumerate(payload["k"][head][i])],
        "scores": [{"row": keys[i], "word": tokens[i], "index": i, "query": i == query,
                    "raw": payload["raw"][head][query][i], "scaled": payload["scaled"][head][query][i],
                    "weight": weights[i]} for i in range(n)],
        "v": [{"row": keys[i], "word": tokens[i], "dim": d, "value": x, "weight": weights[i]}
              for i in range(n) for d, x in enumerate(payload["v"][head][i])],
        "out": [{"row": row_key(n, "= output"), "word": "output", "dim": d, "value": x}
                for d, x in enumerate(payload["out"][head][query])],
    }  # fmt: skip
    return tables


def readout(scores: list[dict], layer: int, head: int, head_dim: int) -> str:
    """One sentence a screen reader can say: where the query's largest weight goes, and its steps."""
    q = next(r for r in scores if r["query"])
    top = max(scores, key=lambda r: (r["weight"], -r["index"]))
    return (f"Layer {layer + 1}, head {head + 1}, query '{q['word']}': the largest weight goes to "
            f"'{top['word']}': q · k = {top['raw']:.3f}, ÷ √{head_dim} = {top['scaled']:.3f}, "
            f"softmax = {top['weight']:.3f}.")


def table_rows(scores: list[dict]) -> list[list]:
    """The readout table: ``[word, raw, scaled, weight]`` per key token, in sentence order."""
    return [[r["word"], r["raw"], r["scaled"], r["weight"]] for r in scores]


# --- the chart ------------------------------------------------------------------------------------


def _heat(name: str, domain: float, title: str = "", legend: str | None = None, axis: bool = True):
    """A heatmap strip: one row per token (``row``), one column per component (``dim``)."""
    color = alt.Color("value:Q", scale=alt.Scale(scheme=SCHEME, domain=[-domain, domain], domainMid=0, clamp=True),
                      legend=alt.Legend(title=legend, orient="bottom", gradientLength=120) if legend else None)
    # aria=False: 13 x 32 rectangles per strip would flood a screen reader; the readout table has the numbers
    return alt.Chart(alt.NamedData(name), title=title).mark_rect(aria=False).encode(
        x=alt.X("dim:O", axis=alt.Axis(title="component (D)", labels=False, ticks=False) if axis else None),
        y=alt.Y("row:N", sort="ascending", title=None,
                axis=alt.Axis(labelExpr=LABEL_EXPR, labelFontWeight=alt.ExprRef(BOLD_EXPR), ticks=False,
                              domain=False, labelFontSize=12)),
        color=color,
        tooltip=[alt.Tooltip("word:N", title="token"), alt.Tooltip("dim:Q", title="component"),
                 alt.Tooltip("value:Q", format=".3f")],
    ).properties(width=alt.Step(CELL_W), height=alt.Step(ROW_H))


def _bars(field: str, title: str, fmt: str, domain=None, labels: bool = False):
    """Bars with their value as text, one per key token; the query's own row darker (``labels``:
    with the token names on the y axis, for the stacked layout)."""
    axis = alt.Axis(labelExpr=LABEL_EXPR, labelFontWeight=alt.ExprRef(BOLD_EXPR), ticks=False, domain=False,
                    labelFontSize=12, title=None) if labels else None
    base = alt.Chart(alt.NamedData("scores"), title=title).encode(
        y=alt.Y("row:N", sort="ascending", axis=axis),
        tooltip=[alt.Tooltip("word:N", title="key token"), alt.Tooltip("raw:Q", title="q · k", format=".3f"),
                 alt.Tooltip("scaled:Q", title="÷ √D", format=".3f"), alt.Tooltip("weight:Q", format=".3f")],
    )
    ticks = {"values": [0, 0.5, 1]} if domain == [0, 1] else {"tickCount": 3}  # padding widens the domain
    x = alt.X(f"{field}:Q", title=None, axis=alt.Axis(grid=False, labelFontSize=10, **ticks),
              scale=alt.Scale(domain=domain, padding=30, nice=False) if domain else alt.Scale(padding=30, zero=True))
    bars = base.mark_bar(height=ROW_H - 4).encode(
        x=x, color=alt.condition("datum.query", alt.value("#2f6f8f"), alt.value("#72a7c8")))
    text = alt.Text(f"{field}:Q", format=fmt)
    right = base.mark_text(align="left", dx=3, fontSize=10).encode(x=f"{field}:Q", text=text).transform_filter(
        f"datum.{field} >= 0")
    left = base.mark_text(align="right", dx=-3, fontSize=10).encode(x=f"{field}:Q", text=text).transform_filter(
        f"datum.{field} < 0")
    return alt.layer(bars, right, left).properties(width=BAR_W, height=alt.Step(ROW_H))


def qkv_chart(tables: dict[str, list[dict]], head_dim: int, qk_domain: float, v_domain: float,
              narrow: bool = False) -> alt.VConcatChart:
    """The five steps side by side, one row per key token (words on the y axis, in sentence order);
    ``narrow``: the same steps stacked two by two, for phones (see :data:`NARROW_BELOW`).

    ``qk_domain`` / ``v_domain``: the colour scales' half-range (fixed, so colours compare across
    views). Data sets are named ``q``, ``k``, ``scores``, ``v``, ``out`` so the widget can swap them.
    """
    q = _heat("q", qk_domain, f"1. q of the query and k of every token (D = {head_dim})", axis=False)
    k = _heat("k", qk_domain, legend="q, k component")
    raw = _bars("raw", "2. q · k for every word", ".1f")
    scaled = _bars("scaled", f"3. ÷ √{head_dim}", ".2f", labels=narrow)
    weights = _bars("weight", "4. softmax", ".2f", domain=[0, 1])
    v = _heat("v", v_domain, legend="v, output component").encode(
        opacity=alt.Opacity("weight:Q", scale=alt.Scale(domain=[0, 1], range=[0.12, 1]), legend=None),
        tooltip=[alt.Tooltip("word:N", title="token"), alt.Tooltip("dim:Q", title="component"),
                 alt.Tooltip("value:Q", format=".3f"), alt.Tooltip("weight:Q", format=".3f")],
    )
    out = _heat("out", v_domain)
    step5 = alt.layer(v, out, title="5. Σ weight × v = output").properties(
        width=alt.Step(CELL_W), height=alt.Step(ROW_H))
    if narrow:
        rows = [alt.hconcat(k, raw, spacing=10).resolve_scale(color="independent"),
                alt.hconcat(scaled, weights, spacing=10), step5]
        chart = alt.vconcat(q, *rows, spacing=16).resolve_scale(color="independent")
    else:
        row = alt.hconcat(k, raw, scaled, weights, step5, spacing=10).resolve_scale(color="independent")
        chart = alt.vconcat(q, row, spacing=6, bounds="flush").resolve_scale(color="independent")
    spec = (chart.configure(background="transparent")
            .configure_view(stroke=None)
            .configure_title(fontSize=12, anchor="start", fontWeight="bold")
            .to_dict())
    spec["datasets"] = tables  # named, so the widget can swap them
    return alt.VConcatChart.from_dict(spec)
