"""The cost of attention against sequence length, from the benchmark JSON (``make bench``).

Pure functions, tidy table in, Altair chart out:

- :func:`cost_table` - ``benchmarks/results/<backend>.json`` -> rows of (path, N, seconds,
  peak_bytes, backend) for the plain path (weights formed: N^2 memory) and the memory-efficient
  path (blocked online softmax: O(N) memory), at one batch size;
- :func:`fit_exponent` - the growth exponent k in ``cost ~ N^k``: the least-squares slope of
  log(cost) against log(N) over the larger N;
- :func:`cost_chart` - time and memory against N, log-log, one colour per path, side by side
  (``narrow``: one above the other, sized to a phone); rows of several backends (CPU, GPU, ...)
  are drawn together, one line style per backend.

Axis legend: N sequence length (T = S = N), B batch, H heads, D head dim.
"""

from __future__ import annotations

import math

PATHS = {"weights": "plain", "fast": "memory-efficient"}  # benchmark impl -> path name in the chart
COLOURS = {"plain": "#d95f02", "memory-efficient": "#1b9e77"}
N_TITLE = "N (sequence length)"
# px: in an article column narrower than this (where the chart, stacked, would be scaled down), the
# page draws the ``narrow=True`` layout (one column, sized to a 375 px phone).
NARROW_BELOW = 620


def cost_table(results: dict, *, batch: int = 1) -> list[dict]:
    """Tidy rows ``{path, N, B, H, D, dtype, seconds, peak_bytes, backend, device}`` of the plain and the
    memory-efficient path at batch size ``batch``, sorted by path then N; contenders the
    benchmark skipped (no time) are left out."""
    head = results["header"]
    rows = []
    for r in results["rows"]:
        if r["impl"] in PATHS and r["B"] == batch and r["median_s"] is not None:
            rows.append(
                {
                    "path": PATHS[r["impl"]],
                    "N": r["N"],
                    "B": r["B"],
                    "H": r["H"],
                    "D": r["D"],
                    "dtype": r["dtype"],
                    "seconds": r["median_s"],
                    "peak_bytes": r["peak_extra_bytes"],
                    "backend": head["backend"],
                    "device": head["device_kind"],
                }
            )
    return sorted(rows, key=lambda r: (list(PATHS.values()).index(r["path"]), r["N"]))


def fit_exponent(rows: list[dict], path: str, field: str, *, min_n: int = 1024) -> float:
    """Slope k of the least-squares line through (log N, log field) for ``path``'s rows with
    N >= ``min_n`` (where fixed overheads no longer dominate): ``field ~ N^k``.

    Raises ``ValueError`` with fewer than two such points.
    """
    pts = [(math.log(r["N"]), math.log(r[field])) for r in rows
           if r["path"] == path and r["N"] >= min_n and r.get(field)]
    if len(pts) < 2:
        raise ValueError(f"need at least two rows of path {path!r} with N >= {min_n} and a {field!r}; got {len(pts)}")
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)


def _exponents(table: list[dict]) -> list[str]:
    """The subtitle's parts: "fitted over N >= 1024:", then one per path with enough rows."""
    parts = []
    for path in COLOURS:
        try:
            t, m = fit_exponent(table, path, "seconds"), fit_exponent(table, path, "peak_bytes")
        except ValueError:
            continue
        parts.append(f"{path}: time ~ N^{t:.2f}, memory ~ N^{m:.2f}")
    return ["fitted over N >= 1024:", *parts] if parts else []


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
        alt.Tooltip("N:Q", title="N", format="d"),
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
        background="transparent").configure_axis(gridColor="#888", gridOpacity=0.35)
