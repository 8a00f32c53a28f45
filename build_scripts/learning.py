"""How models learn to focus: train a tiny transformer on associative recall and watch its
attention form; then measure the recurrent bottleneck against distance.

One task (lists of 8 key-value pairs, then a query key; see :mod:`attn_jax.tasks`), two models
with the same training budget, one JSON result (``learning.json``), cached by a hash of
everything that shapes it:

- training: the 2-layer transformer learns from scratch. At every checkpoint: held-out loss and
  accuracy, and the query position's attention row on fixed held-out examples. The head that
  learns the task is chosen from the data: the one with the highest final mean attention on the
  answer (the queried pair's value token, position 2i + 1).
- distance: that transformer and a GRU trained with the same budget; held-out accuracy by
  distance (positions from the queried key to the query; every pair in between is a distractor).

``python -m build_scripts.learning`` runs it (or reuses the cache in ``.build-cache/learning/``) and
prints the headline numbers; ``make charts`` publishes the result. The chart functions at the
bottom are pure: tidy table in, Altair chart out. Run times are returned and printed, never
written: they differ from run to run, and the result must be byte-identical between two builds
on one machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from functools import partial
from pathlib import Path

import jax
import numpy as np

from attn_jax.tasks import RecallTask, sample_batch, token_labels
from attn_jax.train import (
    Budget,
    GRUConfig,
    TransformerConfig,
    count_params,
    evaluate,
    gru_apply,
    init_gru,
    init_transformer,
    train,
    transformer_apply,
)

from .artifacts import CACHE_REL, ROOT, code_files, sha256_bytes, write_atomic

RESULT_FILE = "learning.json"
# px: in an article column narrower than this (where the training chart, stacked, would be scaled
# down), the page draws the charts' ``narrow=True`` layout: one column, sized to a 375 px phone.
NARROW_BELOW = 500
# The charts are drawn on the page's background, light or dark: grid lines and dashed rules in a
# grey that reads on both.
GRID = {"gridColor": "#888", "gridOpacity": 0.35}
RULE = "#888"

TASK = RecallTask(num_pairs=8, num_keys=16, num_values=10)

CONFIG = {
    "task": TASK,
    "transformer": TransformerConfig(
        TASK.vocab_size, TASK.length, TASK.num_values, model_dim=32, num_heads=4, num_layers=2, mlp_dim=64
    ),
    "gru": GRUConfig(TASK.vocab_size, TASK.num_values, embed_dim=32, hidden_dim=128, mlp_dim=128),
    # The same budget for both: steps, batch, AdamW with the same warm-up, cosine decay, weight
    # decay and clipping. Only the peak learning rate is each model's own, the better of
    # {3e-3, 1e-2} in a trial on this task (the transformer failed to learn with 1e-2 in one of
    # two seeds; the GRU reached 0.31 with 3e-3 and 0.53 with 1e-2).
    "budget": {
        "transformer": Budget(steps=1000, batch_size=64, lr=3e-3, warmup=50),
        "gru": Budget(steps=1000, batch_size=64, lr=1e-2, warmup=50),
    },
    "checkpoint_every": 40,  # 26 checkpoints, step 0 included
    "seeds": {"init": 0, "data": 1, "heldout": 2},
    "heldout_size": 1000,
    "share_examples": 500,  # held-out examples averaged for "attention on the answer"
    "shown_examples": 3,  # held-out examples whose full attention rows are kept for the widget
    "distances": (2, 4, 8, 16),
    "eval_size": 1000,  # held-out examples per distance
}


def _plain(obj):
    """Config objects -> plain JSON values (dataclasses through their ``to_dict``)."""
    if hasattr(obj, "to_dict"):
        return _plain(obj.to_dict())
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _rounded(obj, digits: int = 4):
    """Round every float (NaN -> None) so the JSON text is stable and small."""
    if isinstance(obj, dict):
        return {str(k): _rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_rounded(v, digits) for v in obj]
    if isinstance(obj, np.ndarray):
        return _rounded(obj.tolist(), digits)
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return None if math.isnan(x) else round(x, digits) + 0.0  # + 0.0 turns -0.0 into 0.0
    return obj


def cache_key(config: dict = CONFIG) -> str:
    """sha256 of the experiment config, the source of every module that shapes the numbers, and
    the versions of jax, jaxlib, optax and numpy."""
    import jaxlib
    import optax

    payload = {
        "config": _plain(config),
        # every project module this one imports (transitively): any change there can change the numbers
        "sources": {str(p.relative_to(ROOT)): sha256_bytes(p.read_bytes()) for p in code_files("build_scripts.learning")},
        "versions": {
            "jax": jax.__version__,
            "jaxlib": jaxlib.__version__,
            "optax": optax.__version__,
            "numpy": np.__version__,
        },
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# --- the experiment -------------------------------------------------------------------------


def _attention_summary(log, heldout, task: RecallTask, cfg: dict) -> dict:
    """From the probe rows ``[C, P, L, H, T]``: mean attention on the answer per checkpoint, layer
    and head; the head that learns the task; and the full rows of a few examples."""
    rows = log.probe_attention
    answer_pos = 2 * np.asarray(heldout.pair[: rows.shape[1]]) + 1  # the queried value token
    on_answer = np.take_along_axis(rows, answer_pos[None, :, None, None, None], axis=-1)[..., 0]
    share = on_answer.mean(axis=1)  # [C, L, H]
    layer, head = (int(i) for i in np.unravel_index(np.argmax(share[-1]), share[-1].shape))
    examples = []
    for i in range(cfg["shown_examples"]):
        examples.append({
            "tokens": token_labels(task, np.asarray(heldout.tokens[i])),
            "answer": token_labels(task, [int(heldout.targets[i])])[0],
            "answer_position": int(answer_pos[i]),
            "key_position": int(answer_pos[i]) - 1,
            "query_position": int(heldout.query[i]),
            "attention": rows[:, i],  # [C, L, H, T]
        })
    return {
        "attention_on_answer": share,
        "uniform": 1.0 / task.length,  # causal: the query (last) sees all T positions
        "best_head": {
            "layer": layer,
            "head": head,
            "label": f"layer {layer + 1}, head {head + 1}",
            "start": share[0, layer, head],
            "end": share[-1, layer, head],
        },
        "examples": examples,
    }


def run(config: dict = CONFIG) -> tuple[dict, dict]:
    """Train both models; return (result, seconds per part)."""
    task, seeds = config["task"], config["seeds"]
    heldout_key = jax.random.PRNGKey(seeds["heldout"])
    heldout = sample_batch(heldout_key, task, config["heldout_size"])
    probe = jax.tree_util.tree_map(lambda a: a[: config["share_examples"]], heldout)
    by_distance = [
        sample_batch(jax.random.fold_in(heldout_key, d), task, config["eval_size"], distance=d)
        for d in config["distances"]
    ]
    models = {
        "transformer": (init_transformer, transformer_apply),
        "gru": (init_gru, gru_apply),
    }
    result = {
        "task": {**task.to_dict(), "length": task.length, "layout": "k1 v1 k2 v2 ... kn vn q"},
        "checkpoint_every": config["checkpoint_every"],
        "seeds": seeds,
        "heldout_size": config["heldout_size"],
        "share_examples": config["share_examples"],
        "chance": 1.0 / task.num_values,
        "distance": {
            "definition": "query position - queried key position = 2 (n - i) for pair i, 0-based",
            "distances": list(config["distances"]),
            "eval_size": config["eval_size"],
        },
        "models": {},
    }
    seconds = {}
    for name, (init, apply) in models.items():
        model, budget = config[name], config["budget"][name]
        params = init(jax.random.PRNGKey(seeds["init"]), model)
        apply_fn = partial(apply, config=model)
        log = train(
            apply_fn, params, task, budget,
            seed=seeds["data"], heldout=heldout, checkpoint_every=config["checkpoint_every"],
            probe=probe,
        )
        start = time.perf_counter()
        by_d = [float(evaluate(apply_fn, log.params, batch)[1]) for batch in by_distance]
        seconds[name] = log.seconds + time.perf_counter() - start
        entry = {
            "model": model.to_dict(),
            "parameters": count_params(params),
            "budget": budget.to_dict(),
            "steps": log.steps,
            "loss": log.loss,  # held-out, at each checkpoint
            "accuracy": log.accuracy,  # held-out, at each checkpoint
            "train_loss": log.train_loss,  # mean over the interval before each checkpoint
            "final_accuracy": log.accuracy[-1],
            "first_step_at_99": next((int(s) for s, a in zip(log.steps, log.accuracy) if a >= 0.99), None),
            "accuracy_by_distance": by_d,
        }
        if log.probe_attention is not None:
            entry |= _attention_summary(log, heldout, task, config)
        result["models"][name] = entry
    return result, seconds


# --- running and caching --------------------------------------------------------------------


def _text(obj) -> bytes:
    return (json.dumps(_rounded(obj), sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n").encode()


def run_experiment(cache_dir: Path = ROOT / CACHE_REL / "learning", force: bool = False) -> dict:
    """Run the experiment (or load it from ``cache_dir/learning.json`` when its ``cache_key``
    matches) and return the result; ``result["timings"]`` holds run times in seconds (only
    ``{"cached": True}`` for a cached result). The cache file is written atomically."""
    path = Path(cache_dir) / RESULT_FILE
    key = cache_key()
    if not force and path.exists():
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            cached = {}
        if cached.get("cache_key") == key:
            return {**cached, "timings": {"cached": True}}
    wall, cpu = time.perf_counter(), time.process_time()
    result, seconds = run(CONFIG)
    result = {"cache_key": key, "backend": jax.default_backend(), "jax": jax.__version__, **result}
    timings = {
        "transformer_s": seconds["transformer"],
        "gru_s": seconds["gru"],
        "total_s": time.perf_counter() - wall,
        "total_cpu_s": time.process_time() - cpu,
        "device": str(jax.devices()[0].device_kind),
        "cached": False,
    }
    write_atomic(path, _text(result))
    return {**json.loads(path.read_text(encoding="utf-8")), "timings": _rounded(timings, 2)}


def headline(result: dict) -> str:
    tf, gru = result["models"]["transformer"], result["models"]["gru"]
    b = tf["best_head"]
    lines = [
        f"transformer: held-out accuracy {tf['final_accuracy']:.3f} after {tf['steps'][-1]} steps "
        f"(>= 0.99 from step {tf['first_step_at_99']}); {b['label']}: attention on the answer "
        f"{b['start']:.3f} -> {b['end']:.3f} (uniform {tf['uniform']:.3f})",
        f"gru:         held-out accuracy {gru['final_accuracy']:.3f} (chance {result['chance']:.2f})",
        "distance:     " + " ".join(f"{x:>6}" for x in result["distance"]["distances"]),
    ]
    for name, m in result["models"].items():
        lines.append(f"  {name:<11} " + " ".join(f"{a:6.3f}" for a in m["accuracy_by_distance"]))
    t = result.get("timings", {})
    if t:
        lines.append("timings: " + ", ".join(f"{k} {v}" for k, v in sorted(t.items())))
    return "\n".join(lines)


# --- charts: tidy table in, Altair chart out ------------------------------------------------


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m build_scripts.learning", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cache", type=Path, default=ROOT / CACHE_REL / "learning", help="cache folder")
    parser.add_argument("--force", action="store_true", help="retrain even if the cache matches")
    args = parser.parse_args(argv)
    result = run_experiment(args.cache, force=args.force)
    print(headline(result))
    print(f"result: {args.cache / RESULT_FILE} (`make charts` publishes it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
