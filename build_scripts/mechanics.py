"""The mechanics the article teaches, computed on the featured sentence: matrix shapes, the
parameters of one encoder layer, what the scaling does, and what a causal mask changes.

Pure functions: arrays in, tidy rows and numbers out, and a tidy table in, an Altair chart out.
Every step is ``attn_jax``'s own (``attention_scores``, ``scale_scores``, ``causal_mask``,
``mask_scores``, ``softmax_weights``), applied to the q and k the encoder computed.

Axis legend: T query length, S key length (T = S = n tokens here), D head dim, M model dim.
"""

from __future__ import annotations

import altair as alt
import numpy as np

PRECISION = 3
CELL = 14  # px per token in the mask heatmaps: 13 tokens -> 182 px, fits a 375 px phone
LABEL_W = 58  # px for the token labels left of each map


def mask_demo(q: np.ndarray, k: np.ndarray) -> dict[str, np.ndarray]:
    """One head's attention with no mask and with a causal mask, from its q ``[T, D]`` and k ``[S, D]``.

    Returns float64 arrays ``[T, S]``: ``scaled`` scores, ``full`` weights (every token may attend to
    every token, as in this encoder), ``causal`` mask (True = may attend) and ``causal_weights``
    (the same scores with later keys masked out, the softmax renormalising each row over the keys
    that remain).
    """
    import jax.numpy as jnp

    from attn_jax import attention_scores, causal_mask, mask_scores, scale_scores, softmax_weights

    q, k = jnp.asarray(q, jnp.float32), jnp.asarray(k, jnp.float32)
    scaled = scale_scores(attention_scores(q, k), q.shape[-1])
    mask = causal_mask(q.shape[0], k.shape[0])
    return {
        "scaled": np.asarray(scaled, np.float64),
        "full": np.asarray(softmax_weights(scaled), np.float64),
        "causal": np.asarray(mask),
        "causal_weights": np.asarray(softmax_weights(mask_scores(scaled, mask), mask), np.float64),
    }


def scaling_demo(q: np.ndarray, k: np.ndarray) -> dict[str, np.ndarray]:
    """One head's weights with and without the division by sqrt(D): ``{"raw", "scaled", "with",
    "without"}`` (scores and softmax rows, float64 ``[T, S]``)."""
    import jax.numpy as jnp

    from attn_jax import attention_scores, scale_scores, softmax_weights

    q, k = jnp.asarray(q, jnp.float32), jnp.asarray(k, jnp.float32)
    raw = attention_scores(q, k)
    scaled = scale_scores(raw, q.shape[-1])
    return {"raw": np.asarray(raw, np.float64), "scaled": np.asarray(scaled, np.float64),
            "with": np.asarray(softmax_weights(scaled), np.float64),
            "without": np.asarray(softmax_weights(raw), np.float64)}


def entropy_bits(row: np.ndarray) -> float:
    """Entropy of one attention row in bits: 0 = all on one key, log2(n) = spread evenly."""
    p = row[row > 0]
    return float(-(p * np.log2(p)).sum())


def layer_parameters(layers: dict) -> dict[str, int]:
    """Parameters of ONE encoder layer by block, from the stacked ``[L, ...]`` parameter tree.

    ``attention``: the query, key, value and output projections (weights and biases);
    ``feed_forward``: its two dense layers; ``layer_norms``: the two LayerNorms.
    """
    def count(tree) -> int:
        if isinstance(tree, dict):
            return sum(count(v) for v in tree.values())
        return int(np.prod(np.shape(tree)[1:]))  # drop the stacked layer axis

    return {"attention": count(layers["attention"]),
            "feed_forward": count(layers["ffn_in"]) + count(layers["ffn_out"]),
            "layer_norms": count(layers["attention_norm"]) + count(layers["ffn_norm"])}


def mask_rows(tokens: list[str], demo: dict[str, np.ndarray]) -> list[dict]:
    """Tidy rows, one per (panel, query, key): the weight, or None where the causal mask hides the key."""
    panels = (("No mask: every token sees all (this encoder)", demo["full"], None),
              ("Causal mask: itself and earlier only (decoders)", demo["causal_weights"], demo["causal"]))
    rows = []
    for panel, weights, mask in panels:
        for t, query in enumerate(tokens):
            for s, key in enumerate(tokens):
                hidden = mask is not None and not mask[t, s]
                rows.append({"panel": panel, "t": t, "s": s, "query": f"{t:02d} {query}", "key": f"{s:02d} {key}",
                             "weight": None if hidden else round(float(weights[t, s]), PRECISION),
                             "masked": bool(hidden)})
    return rows


def mask_chart(rows: list[dict], n: int) -> alt.VConcatChart:
    """Two heatmaps stacked (they fit a phone): the weights without and with a causal mask.

    Rows are queries, columns keys; masked cells are drawn hatched-grey with no value, so the
    reader sees which keys a decoder's token could not look at.
    """
    size = n * CELL
    labels = alt.Axis(labelExpr="substring(datum.value, 3)", labelFontSize=11, ticks=False, domain=False)
    x = alt.X("key:O", axis=alt.Axis(labelExpr="substring(datum.value, 3)", labelFontSize=11, labelAngle=-60,
                                     title="key (attended to)", orient="bottom", ticks=False, domain=False))
    y = alt.Y("query:O", axis=labels, title="query (attends)")

    def panel(title: str):
        base = alt.Chart(alt.Data(values=rows)).transform_filter(alt.datum.panel == title)
        # n x n rectangles: aria=False, the chart's description and the prose speak for them
        cells = base.transform_filter("!datum.masked").mark_rect(aria=False).encode(
            x=x, y=y,
            color=alt.Color("weight:Q", scale=alt.Scale(type="sqrt", domain=[0, 1], scheme="viridis"),
                            legend=alt.Legend(title="weight", orient="right", gradientLength=size // 2)),
            tooltip=[alt.Tooltip("query:N", title="query"), alt.Tooltip("key:N", title="key"),
                     alt.Tooltip("weight:Q", format=".3f")])
        hidden = base.transform_filter("datum.masked").mark_rect(color="#888888", opacity=0.25, aria=False).encode(
            x=x, y=y,
            tooltip=[alt.Tooltip("query:N", title="query"), alt.Tooltip("key:N", title="key (masked)")])
        return alt.layer(cells, hidden).properties(width=size, height=size, title=title)

    titles = list(dict.fromkeys(r["panel"] for r in rows))
    chart = alt.vconcat(*(panel(t) for t in titles), spacing=24, description=(
        "Two heatmaps of attention weights, queries in rows and keys in columns: first without a mask, "
        "then with a causal mask that hides every key after the query (grey cells)."))
    return chart.configure(background="transparent").configure_view(stroke=None).configure_title(
        fontSize=12, anchor="start", limit=size + LABEL_W + 60)
