"""The cost chart: time and memory of attention against N, log-log, one colour per path, side by
side (``narrow``: one above the other, sized to a phone); rows of several backends (CPU, GPU, ...)
are drawn together, one line style per backend. The rows are
:func:`build_scripts.groups.cost.measure.cost_table`'s.

Axis legend: N sequence length (T = S = N), B batch, H heads, D head dim.
"""

from __future__ import annotations

from build_scripts.pipeline.render import GRID

from .measure import PATHS, fit_exponent

COLOURS = dict(zip(PATHS.values(), ("#d95f02", "#1b9e77")))  # plain, memory-efficient
N_TITLE = "T (sequence length)"  # the axis legend: T tokens (T = S here)
# px: in an article column narrower than this (where the chart, stacked, would be scaled down), the
# page draws the ``narrow=True`` layout (one column, sized to a 375 px phone).
NARROW_BELOW = 620


def _exponents(table: list[dict]) -> list[str]:
    """The subtitle's parts: "fitted over T >= 1024:", then one per path with enough rows."""
    parts = []
    for path in COLOURS:
        try:
            t, m = fit_exponent(table, path, "seconds"), fit_exponent(table, path, "peak_bytes")
        except ValueError:
            continue
        parts.append(f"{path}: time ~ T^{t:.2f}, memory ~ T^{m:.2f}")
    return ["fitted over T >= 1024:", *parts] if parts else []


def cost_chart(table: list[dict], *, width: int = 300, height: int = 220, narrow: bool = False):
    """Two log-log panels side by side: median seconds per call and peak extra memory against
    N, one colour per path, tooltips with the exact values; the title names the backend and the
    subtitle states the growth exponents fitted from the same rows. ``narrow``: the panels one
    above the other, 250 px wide, title and subtitle broken into lines (for phones, see
    :data:`NARROW_BELOW`)."""
    import altair as alt

    if narrow:
        width, height = 250, 180
    first = table[0] if table else {}
    shape = ", ".join(f"{k}={first[k]}" for k in ("B", "H", "D") if k in first)
    backends = list(dict.fromkeys(r["backend"] for r in table))
    on = ", ".join(f"{b} ({next(r['device'] for r in table if r['backend'] == b)})" for b in backends) or "? (?)"
    per_backend = {"strokeDash": alt.StrokeDash("backend:N", title="backend", sort=backends,
                                                legend=alt.Legend(orient="bottom")),
                   "detail": "backend:N"} if len(backends) > 1 else {}
    ns = sorted({r["N"] for r in table})
    # narrow: 1024 and up as "1k" .. "16k", so every label fits under its point
    short = {"labelExpr": "datum.value >= 1024 ? datum.value / 1024 + 'k' : datum.value"} if narrow else {}
    x = alt.X("N:Q", title=N_TITLE, scale=alt.Scale(type="log", base=2),
              axis=alt.Axis(format="d", values=ns, **short))
    colour = alt.Color(
        "path:N",
        title="path",
        scale=alt.Scale(domain=list(COLOURS), range=list(COLOURS.values())),
        legend=alt.Legend(orient="bottom"),
    )
    tooltip = [
        alt.Tooltip("path:N", title="path"),
        alt.Tooltip("N:Q", title="T", format="d"),
        alt.Tooltip("seconds:Q", title="seconds", format=".4g"),
        alt.Tooltip("peak_bytes:Q", title="peak extra bytes", format=","),
    ]

    def panel(field: str, title: str):
        return (
            alt.Chart(width=width, height=height)
            .mark_line(point=alt.OverlayMarkDef(filled=True, size=50))
            .encode(x=x, y=alt.Y(f"{field}:Q", title=title, scale=alt.Scale(type="log")), color=colour,
                    tooltip=tooltip, **per_backend)
        )

    memory = panel("MiB", "peak extra memory (MiB, log)").transform_calculate(MiB="datum.peak_bytes / 1048576")
    seconds = panel("seconds", "seconds per call (median, log)")
    chart = (alt.vconcat if narrow else alt.hconcat)(seconds, memory, data=alt.Data(values=table))
    title = ["Cost of attention against N", f"on {on}:", f"{shape}, {first.get('dtype', '')}"]
    fitted = _exponents([r for r in table if r["backend"] == first.get("backend")])
    if not narrow:
        title, fitted = f"{title[0]} {title[1]} {title[2]}", " ".join(fitted[:1] + ["; ".join(fitted[1:])])
    # drawn on the page's own background, light or dark: grid lines in a grey that reads on both
    return chart.properties(title=alt.Title(title, subtitle=fitted)).configure(
        background="transparent").configure_axis(**GRID)
