"""The charts of "How models learn to focus": tidy tables from the experiment's result
(:mod:`build_scripts.groups.learning.measure`), and Altair charts from them.
"""

from __future__ import annotations

import json

from build_scripts.pipeline.render import GRID

# px: in an article column narrower than this (where the training chart, stacked, would be scaled
# down), the page draws the charts' ``narrow=True`` layout: one column, sized to a 375 px phone.
NARROW_BELOW = 500
# The charts are drawn on the page's background, light or dark: grid lines and dashed rules in a
# grey that reads on both.
RULE = "#888"


def training_table(result: dict, example: int = 0) -> list[dict]:
    """One row per (checkpoint step, input position) of one held-out example: the attention of
    the query position on that token in the head that learns the task, with the step's held-out
    loss and accuracy (and the head's label) repeated on each row; the curves read one row per
    step."""
    f = result["models"]["transformer"]
    ex = f["examples"][example]
    layer, head = f["best_head"]["layer"], f["best_head"]["head"]
    rows = []
    for c, step in enumerate(f["steps"]):
        weights = ex["attention"][c][layer][head]
        for pos, (token, w) in enumerate(zip(ex["tokens"], weights)):
            role = "query" if pos == ex["query_position"] else ("key" if pos % 2 == 0 else "value")
            rows.append({
                "step": step,
                "position": pos,
                "token": token,
                "role": role,
                "answer": pos == ex["answer_position"],
                "attention": w,
                "loss": f["loss"][c],
                "accuracy": f["accuracy"][c],
                "head": f["best_head"]["label"],
            })
    return rows


def training_chart(table: list[dict], *, title: str | None = None, width: int = 300, height: int = 200,
                   narrow: bool = False):
    """Left: the query's attention over the input tokens at the selected step (the answer
    highlighted, a dashed line at uniform attention). Right: held-out loss and accuracy against
    training step with a rule at the selected step. The step is an Altair param named ``step``,
    bound to a range slider over the checkpoint steps; it starts at the last checkpoint.
    ``narrow``: the three panels in one column, 270 px wide, the title on two lines (for phones,
    see :data:`NARROW_BELOW`)."""
    import altair as alt

    if narrow:
        width, height = 270, 170
    steps = sorted({r["step"] for r in table})
    every = steps[1] - steps[0] if len(steps) > 1 else 1
    positions = sorted({r["position"] for r in table})
    tokens = {r["position"]: r["token"] for r in table}
    labels = json.dumps([tokens[p] for p in positions])
    uniform = 1.0 / len(positions)
    head = table[0]["head"]
    step = alt.param(
        name="step",
        value=steps[-1],
        bind=alt.binding_range(min=steps[0], max=steps[-1], step=every, name="training step "),
    )
    at_step = alt.datum.step == step
    x = alt.X(
        "position:O",
        title="input token (the query is last)",
        axis=alt.Axis(labelExpr=f"{labels}[datum.value]", labelAngle=0, labelFontSize=13),
    )
    y = alt.Y("attention:Q", title="attention from the query", scale=alt.Scale(domain=[0, 1]))
    base = alt.Chart().transform_filter(at_step)
    bars = base.mark_bar().encode(
        x=x,
        y=y,
        color=alt.condition(alt.datum.answer, alt.value("#d95f02"), alt.value("#9e9e9e")),
        tooltip=[
            alt.Tooltip("token:N", title="token"),
            alt.Tooltip("role:N", title="role"),
            alt.Tooltip("attention:Q", title="attention", format=".2f"),
        ],
    )
    value = base.transform_filter(alt.datum.answer).mark_text(dy=-8, fontSize=12).encode(
        x=x, y=y, text=alt.Text("attention:Q", format=".2f")
    )
    flat = alt.Chart().mark_rule(strokeDash=[4, 3], color=RULE, aria=False).encode(y=alt.datum(uniform))  # decorative: the title says what it is
    lines = [f"Attention from the query, {head}", "(answer in orange, dashed: uniform)"]
    attention = alt.layer(bars, value, flat, width=width, height=height).properties(
        title=title or (lines if narrow else " ".join(lines))
    )

    curve_base = alt.Chart().transform_filter(alt.datum.position == positions[0])  # one row a step
    step_x = alt.X("step:Q", title="training step", scale=alt.Scale(domain=[steps[0], steps[-1]], nice=False))
    rule = curve_base.transform_filter(at_step).mark_rule(color="#d95f02").encode(x=step_x)

    def curve(field: str, label: str, domain=None):
        scale = alt.Scale(domain=domain) if domain else alt.Scale(zero=True)
        line = curve_base.mark_line().encode(x=step_x, y=alt.Y(f"{field}:Q", title=label, scale=scale))
        dot = curve_base.transform_filter(at_step).mark_point(filled=True, size=60, color="#d95f02").encode(
            x=step_x, y=f"{field}:Q", tooltip=[alt.Tooltip(f"{field}:Q", title=label, format=".3f")]
        )
        return alt.layer(line, rule, dot, width=width, height=(height - 30) // 2)

    loss, accuracy = curve("loss", "held-out loss"), curve("accuracy", "held-out accuracy", [0, 1])
    if narrow:
        chart = alt.vconcat(attention, loss, accuracy, data=alt.Data(values=table))
    else:
        chart = alt.hconcat(attention, alt.vconcat(loss, accuracy), data=alt.Data(values=table))
    return chart.add_params(step).configure(background="transparent").configure_axis(**GRID)  # on the page's own background


def distance_table(result: dict) -> list[dict]:
    """One row per (model, distance): held-out accuracy, with the chance level repeated."""
    names = {"transformer": "transformer", "gru": "GRU"}
    return [
        {"model": names.get(name, name), "distance": dist, "accuracy": acc, "chance": result["chance"]}
        for name, m in result["models"].items()
        for dist, acc in zip(result["distance"]["distances"], m["accuracy_by_distance"])
    ]


def distance_chart(table: list[dict], *, title: str | None = None, width: int = 360, height: int = 220,
                   narrow: bool = False):
    """Held-out accuracy against distance (log2 axis), one line per model, a rule at chance.
    ``narrow``: 250 px wide, the legend below and the title on two lines (for phones)."""
    import altair as alt

    if narrow:
        width, height = 250, 200
    chance = table[0]["chance"]
    distances = sorted({r["distance"] for r in table})
    x = alt.X(
        "distance:Q",
        title="distance from the fact to the question (positions)",
        scale=alt.Scale(type="log", base=2, domain=[distances[0] / 1.25, distances[-1] * 1.25], nice=False),
        axis=alt.Axis(values=distances, format="d"),
    )
    y = alt.Y("accuracy:Q", title="held-out accuracy", scale=alt.Scale(domain=[0, 1]))
    color = alt.Color("model:N", title="model", scale=alt.Scale(range=["#1b9e77", "#7570b3"]),
                      legend=alt.Legend(orient="bottom") if narrow else alt.Undefined)
    lines = alt.Chart().mark_line(point=alt.OverlayMarkDef(filled=True, size=60)).encode(
        x=x, y=y, color=color,
        tooltip=[
            alt.Tooltip("model:N", title="model"),
            alt.Tooltip("distance:Q", title="distance"),
            alt.Tooltip("accuracy:Q", title="accuracy", format=".3f"),
        ],
    )
    rule = alt.Chart().mark_rule(strokeDash=[4, 3], color=RULE, aria=False).encode(y=alt.datum(chance))  # labelled by the text mark
    label = alt.Chart().mark_text(align="left", dx=4, dy=-6, color="#555").encode(
        x=alt.datum(distances[0]), y=alt.datum(chance), text=alt.value(f"chance ({chance:g})")
    )
    words = ["Held-out accuracy as the fact moves", "away from the question"]
    return alt.layer(lines, rule, label, data=alt.Data(values=table), width=width, height=height).properties(
        title=title or (words if narrow else " ".join(words))
    ).configure(background="transparent").configure_axis(**GRID)  # on the page's own background
