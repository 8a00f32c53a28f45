"""Generated files of "How models learn to focus" (``docs/generated/learning/``).

``learning.json`` is the experiment's result (training is skipped when the cached result in
``.build-cache/learning/`` still matches its key, see :func:`build_scripts.groups.learning.measure.measure`);
``training/`` (drawn by the ``training`` widget: a step slider and a play button) and ``distance/``
hold the two charts (compiled Vega, ``spec-narrow.json`` laid out for phones, fallback SVG);
``facts.json`` the numbers the article quotes.
"""

from __future__ import annotations

from build_scripts.pipeline.artifacts import dumps, versions
from build_scripts.pipeline.registry import Group


def _example(tf: dict) -> dict:
    """The first shown held-out example written out: its pairs, the question and the answer."""
    ex = tf["examples"][0]
    tokens = ex["tokens"]
    q = ex["query_position"]
    return {"pairs": " ".join(f"{k}{v}" for k, v in zip(tokens[:q:2], tokens[1:q:2])),
            "input": " ".join(tokens[:q]), "question": tokens[q], "answer": ex["answer"],
            "key_position_1based": ex["key_position"] + 1, "answer_position_1based": ex["answer_position"] + 1}


def _heads(tf: dict) -> dict:
    """Per layer, the range of the final attention its heads put on the answer (the question's row),
    and whether every head of the layer ends with most of it there; whether every head of every
    layer starts at exactly the even share."""
    first, final = tf["attention_on_answer"][0], tf["attention_on_answer"][-1]  # [L][H], held-out means
    out = {f"layer{i + 1}": {"min": min(row), "max": max(row), "heads": len(row), "all_focus": min(row) > 0.5}
           for i, row in enumerate(final)}
    # 4 decimals are written: "exactly even" within their rounding
    out["all_start_even"] = all(abs(x - tf["uniform"]) <= 1e-4 for row in first for x in row)
    return out


def _facts(result: dict) -> dict:
    tf, gru = result["models"]["transformer"], result["models"]["gru"]
    best = tf["best_head"]
    return {
        "example": _example(tf),
        "heads_on_answer": _heads(tf),
        "task": result["task"],
        "chance": result["chance"],
        "checkpoints": len(tf["steps"]),
        "budget": tf["budget"],
        "gru_lr": gru["budget"]["lr"],
        "transformer": {"layers": tf["model"]["num_layers"], "heads": tf["model"]["num_heads"],
                        "zero_query": tf["model"]["zero_query"],
                        "accuracy": tf["final_accuracy"], "first_step_at_99": tf["first_step_at_99"],
                        "parameters": tf["parameters"], "uniform": tf["uniform"],
                        "best_head": {"layer_1based": best["layer"] + 1, "head_1based": best["head"] + 1,
                                      "start": best["start"], "end": best["end"]}},
        "gru": {"accuracy": gru["final_accuracy"], "parameters": gru["parameters"]},
        "distance": {"values": result["distance"]["distances"],
                     "transformer": tf["accuracy_by_distance"], "gru": gru["accuracy_by_distance"],
                     "gru_min": min(gru["accuracy_by_distance"]), "gru_max": max(gru["accuracy_by_distance"])},
    }


def build(ctx) -> dict[str, bytes]:
    from build_scripts.pipeline.render import chart_files

    from . import charts
    from .measure import measure

    result = measure(ctx)
    files = {"learning.json": dumps(result).encode(), "facts.json": dumps(_facts(result)).encode()}
    training, distance = charts.training_table(result), charts.distance_table(result)
    files |= chart_files(charts.training_chart(training), "training/", widget="training",
                         narrow=charts.training_chart(training, narrow=True), narrow_below=charts.NARROW_BELOW)
    files |= chart_files(charts.distance_chart(distance), "distance/",
                         narrow=charts.distance_chart(distance, narrow=True), narrow_below=charts.NARROW_BELOW)
    return files


GROUP = Group("learning", module=__name__, build=build,
              extra=lambda: {"versions": versions("jax", "jaxlib", "optax", "numpy", "altair", "vl-convert-python")})
