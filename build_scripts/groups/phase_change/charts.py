"""The phase-change widget: one training-step slider drives three panels — the loss curves with a
marker at the step, the two heads' attention on one sequence with a copied span, and the heads'
scores at that step (Vega-Lite param ``step``, drawn by the ``training`` widget: slider and play
button). Tidy rows in, an Altair chart out; the numbers are :mod:`.measure`'s."""

from __future__ import annotations

import altair as alt

from build_scripts.pipeline.render import GRID

NARROW_BELOW = 680  # px: below this column width, the panels in one column, sized to a 375 px phone
EVERY = 2  # the attention panel keeps every 2nd checkpoint: a readable slider, half the bytes
CELL = 5  # px per position in the attention maps (32 positions: 160 px)


CURVES = ["2 layers: copied tokens", "2 layers: other tokens", "1 layer: copied tokens",
          "2 layers, seed 1: copied", "2 layers, seed 2: copied"]


def curve_rows(result: dict) -> list[dict]:
    """One row per (checkpoint, curve): the first seed's copied-token and other-token loss, the
    control's copied-token loss, and every other seed's copied-token loss (faint)."""
    rows = []
    two, one = result["models"]["2-layer"]["runs"], result["models"]["1-layer"]["runs"]
    for c, step in enumerate(result["steps"]):
        rows.append({"step": step, "curve": "2 layers: copied tokens", "loss": two[0]["copied_loss"][c]})
        rows.append({"step": step, "curve": "2 layers: other tokens", "loss": two[0]["other_loss"][c]})
        rows.append({"step": step, "curve": "1 layer: copied tokens", "loss": one[0]["copied_loss"][c]})
        for run in two[1:]:
            rows.append({"step": step, "curve": f"2 layers, seed {run['seed']}: copied", "loss": run["copied_loss"][c]})
    return rows


def attention_rows(result: dict, heads: dict) -> list[dict]:
    """One row per (kept checkpoint, head of the circuit): the head's map on the probe sequence,
    flattened query-major (2 decimals), and its role."""
    att = result["models"]["2-layer"]["probe_attention"]  # [C][L][H][T][T]
    rows = []
    for c, step in enumerate(result["steps"]):
        if c % EVERY and c != len(result["steps"]) - 1:
            continue
        for role, h in heads.items():
            m = att[c][h["layer"]][h["head"]]
            rows.append({"step": step, "head": f"{h['label']} ({role.replace('_', '-')})",
                         "n": len(m), "w": [round(x, 2) + 0.0 for row in m for x in row]})
    return rows


def score_rows(result: dict, heads: dict) -> list[dict]:
    """One row per (checkpoint, head of the first seed's 2-layer model, score): induction and
    previous-token scores, so the bars at a step show what each head does."""
    run = result["models"]["2-layer"]["runs"][0]
    rows = []
    for c, step in enumerate(result["steps"]):
        for layer, per_layer in enumerate(run["induction"][c]):
            for head in range(len(per_layer)):
                label = f"L{layer + 1} H{head + 1}"
                rows.append({"step": step, "head": label, "score": "induction", "value": run["induction"][c][layer][head]})
                rows.append({"step": step, "head": label, "score": "previous token",
                             "value": run["previous_token"][c][layer][head]})
    return rows


def phase_chart(curves: list[dict], maps: list[dict], scores: list[dict], *, steps: list[int], phase: float | None,
                nulls: dict, copy: tuple[int, int], narrow: bool = False):
    """The three panels (see the module doc). ``steps``: the checkpoints; ``phase``: the first seed's
    phase-change step (a dashed rule); ``nulls``: the uniform nulls of the two scores; ``copy``:
    the probe's copied span, (first copied position, source start), 0-based."""
    width = 260 if narrow else 270
    every = steps[1] - steps[0]
    step = alt.param(name="step", value=steps[-1],
                     bind=alt.binding_range(min=steps[0], max=steps[-1], step=every * EVERY, name="training step "))
    at = alt.datum.step == step
    x = alt.X("step:Q", title="training step", scale=alt.Scale(domain=[steps[0], steps[-1]], nice=False))
    lines = alt.Chart(alt.Data(values=curves)).mark_line().encode(
        x=x, y=alt.Y("loss:Q", title="held-out loss (nats)", scale=alt.Scale(zero=True)),
        color=alt.Color("curve:N", title=None, legend=alt.Legend(orient="bottom", columns=1 if narrow else 2, labelLimit=260),
                        scale=alt.Scale(domain=CURVES, range=["#d95f02", "#888888", "#7570b3", "#f4a582", "#f4a582"])),
        opacity=alt.condition("indexof(datum.curve, 'seed') >= 0", alt.value(0.6), alt.value(1.0)),
        tooltip=[alt.Tooltip("curve:N"), alt.Tooltip("step:Q"), alt.Tooltip("loss:Q", format=".2f")])
    marker = alt.Chart(alt.Data(values=[{}])).mark_rule(color="#d95f02", strokeWidth=2).encode(x=alt.X("s:Q")).transform_calculate(s="step")
    layers = [lines, marker]
    if phase is not None:
        layers.append(alt.Chart(alt.Data(values=[{"x": phase}])).mark_rule(strokeDash=[4, 3], color="#888", aria=False).encode(x="x:Q"))
    losses = alt.layer(*layers).properties(width=width, height=170, title=["Loss on the copied tokens falls", "suddenly: the phase change"] if narrow else "Loss on the copied tokens falls suddenly: the phase change")

    cell = CELL - 1 if narrow else CELL  # two maps side by side fit a 375 px phone

    def heatmap(head: str):
        return (alt.Chart(alt.Data(values=[r for r in maps if r["head"] == head]), title=head.replace(" (", "\n(").split("\n"))
                .transform_filter(at).transform_flatten(["w"], as_=["weight"])
                .transform_window(k="row_number()", groupby=["head"])
                .transform_calculate(query="floor((datum.k - 1) / datum.n)", key="(datum.k - 1) % datum.n")
                .mark_rect(aria=False)
                .encode(x=alt.X("key:O", axis=alt.Axis(title="key position", labels=False, ticks=False)),
                        y=alt.Y("query:O", axis=alt.Axis(title="query position", labels=False, ticks=False)),
                        color=alt.Color("weight:Q", scale=alt.Scale(type="sqrt", domain=[0, 1], scheme="viridis"),
                                        legend=alt.Legend(title="weight", orient="bottom", gradientLength=100)),
                        tooltip=[alt.Tooltip("query:O"), alt.Tooltip("key:O"), alt.Tooltip("weight:Q", format=".2f")])
                .properties(width=alt.Step(cell), height=alt.Step(cell)))

    heads = list(dict.fromkeys(r["head"] for r in maps))
    maps_panel = alt.hconcat(*(heatmap(h) for h in heads), spacing=12)
    bars = alt.Chart(alt.Data(values=scores)).transform_filter(at).mark_bar().encode(
        y=alt.Y("head:N", title=None), x=alt.X("value:Q", title="score at this step", scale=alt.Scale(domain=[0, 1])),
        yOffset=alt.YOffset("score:N"),
        color=alt.Color("score:N", title=None, scale=alt.Scale(range=["#1b9e77", "#7570b3"]),
                        legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("head:N"), alt.Tooltip("score:N"), alt.Tooltip("value:Q", format=".2f")])
    null_rows = [{"score": "induction", "x": nulls["induction"]}, {"score": "previous token", "x": nulls["previous_token"]}]
    null_rules = alt.Chart(alt.Data(values=null_rows)).mark_rule(strokeDash=[3, 3], color="#888").encode(
        x="x:Q", tooltip=[alt.Tooltip("score:N", title="uniform null of"), alt.Tooltip("x:Q", format=".3f")])
    scores_panel = alt.layer(bars, null_rules).properties(width=width, height=alt.Step(16 if narrow else 22),
                                                          title="Each head's scores at this step (dashed: uniform)")
    chart = alt.vconcat(losses, maps_panel, scores_panel, spacing=18) if narrow else \
        alt.vconcat(alt.hconcat(losses, scores_panel, spacing=24).resolve_scale(color="independent"), maps_panel, spacing=18)
    return chart.add_params(step).resolve_scale(color="independent").configure(background="transparent").configure_axis(**GRID).configure_title(
        fontSize=12, anchor="start")
