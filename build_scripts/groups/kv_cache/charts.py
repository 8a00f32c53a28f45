"""The KV-cache chart: the cache's size against the text's length, SmolLM2's grouped-query attention
(3 key/value heads) against full multi-head attention (9), with the weights' size for scale.

Pure functions from the measure's tables (:mod:`build_scripts.groups.kv_cache.measure`) to tidy rows,
and from rows to Altair. A layout for phones (``narrow=True``: about 260 px of plot in a 375 px
screen, titles in lines, legend below, no text under 10 px); drawn on the page's own background.
"""

from __future__ import annotations

import altair as alt

from build_scripts.pipeline.render import FONT, FRAME, GRID

PRECISION = 2
WIDTH, NARROW_WIDTH = 480, 260
NARROW_BELOW = 620  # px: in an article column narrower than this the page draws the narrow layout
WEIGHTS = "#e45756"


def _r(x) -> float:
    return round(float(x), PRECISION) + 0.0


def size_rows(tables: dict, kv_heads: int, heads: int) -> list[dict]:
    """Tidy rows ``{tokens, attention, mb}``: one per sequence length and kind of attention."""
    gqa = f"grouped-query: {kv_heads} key/value heads (SmolLM2)"
    mha = f"multi-head: {heads} key/value heads"
    return [{"tokens": int(t), "attention": name, "mb": _r(mb)}
            for name, key in ((mha, "mha_mb"), (gqa, "gqa_mb"))
            for t, mb in zip(tables["tokens"], tables[key])]


def size_chart(rows: list[dict], weights_mb: float, context: int, layers: int, bytes_per_token: dict, *,
               narrow: bool = False):
    """Cache size (MB) against tokens, one line per kind of attention; the weights' size as a rule."""
    kinds = list(dict.fromkeys(r["attention"] for r in rows))
    colour = alt.Color("attention:N", title=None, sort=kinds, scale=alt.Scale(domain=kinds, range=["#f58518", "#4c78a8"]),
                       legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=0, symbolType="stroke",
                                         symbolStrokeWidth=3))
    ticks = [t for t in range(0, context + 1, 2048)]
    x = alt.X("tokens:Q", title="tokens in the cache (the text so far)", scale=alt.Scale(domain=[0, context], nice=False),
              axis=alt.Axis(values=ticks, format="d"))
    y = alt.Y("mb:Q", title="KV cache, MB (float32)")
    tooltip = [alt.Tooltip("attention:N", title="attention"), alt.Tooltip("tokens:Q", title="tokens", format=","),
               alt.Tooltip("mb:Q", title="cache (MB)", format=",.1f")]
    lines = alt.Chart(alt.Data(values=rows)).mark_line(strokeWidth=2.5).encode(x=x, y=y, color=colour, tooltip=tooltip)
    rule = [{"mb": _r(weights_mb), "label": f"{'weights' if narrow else 'the weights'} in float32: {weights_mb:,.0f} MB"}]
    weights = alt.Chart(alt.Data(values=rule)).mark_rule(color=WEIGHTS, strokeDash=[5, 3]).encode(y="mb:Q")
    # at the right end, under the rule: between the two lines there, crossing neither
    label = alt.Chart(alt.Data(values=rule)).mark_text(align="right", baseline="top", dy=4, fontSize=FONT + 1,
                                                       color=WEIGHTS).encode(
        x=alt.value((NARROW_WIDTH if narrow else WIDTH) - 4), y="mb:Q", text="label:N")
    per = f"{bytes_per_token['gqa']:,} bytes per token against {bytes_per_token['mha']:,}"
    title = "How big is the KV cache of one text?"
    sub = [f"Keys and values of {layers} layers, float32: {per} ({bytes_per_token['ratio']:.0f}x).",
           f"SmolLM2's context: {context:,} tokens."]
    if narrow:
        title = ["How big is the KV cache", "of one text?"]
        sub = [f"Keys and values of {layers} layers, float32:", f"{bytes_per_token['gqa']:,} bytes per token against",
               f"{bytes_per_token['mha']:,} ({bytes_per_token['ratio']:.0f}x).", f"SmolLM2's context: {context:,} tokens."]
    chart = alt.layer(weights, lines, label).properties(width=NARROW_WIDTH if narrow else WIDTH,
                                                        height=200 if narrow else 230, title={"text": title, "subtitle": sub})
    return (chart.configure(background="transparent")
            .configure_axis(labelFontSize=FONT, titleFontSize=FONT + 1, **GRID)
            .configure_legend(labelFontSize=FONT + 1)
            .configure_title(fontSize=FONT + 3, subtitleFontSize=FONT + 1, anchor="start")
            .configure_view(**FRAME))

