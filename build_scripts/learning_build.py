"""Generated files of "How models learn to focus" (``docs/generated/learning/``).

``learning.json`` is the experiment's result (training is skipped when its cache key still
matches, see :func:`build_scripts.learning.run_experiment`); ``training/`` and ``distance/`` hold
the two charts (compiled Vega + fallback SVG); ``facts.json`` the numbers the article quotes.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import learning
from .build import ROOT, code_version, dumps

SOURCES = [ROOT / "build_scripts" / f"{n}.py" for n in ("learning_build", "build")]


def inputs() -> dict:
    return {"experiment_cache_key": learning.cache_key(), "code_version": code_version(SOURCES)}


def _facts(result: dict) -> dict:
    tf, gru = result["models"]["transformer"], result["models"]["gru"]
    best = tf["best_head"]
    return {
        "task": result["task"],
        "chance": result["chance"],
        "checkpoints": len(tf["steps"]),
        "budget": tf["budget"],
        "gru_lr": gru["budget"]["lr"],
        "transformer": {"layers": tf["model"]["num_layers"], "heads": tf["model"]["num_heads"],
                        "accuracy": tf["final_accuracy"], "first_step_at_99": tf["first_step_at_99"],
                        "parameters": tf["parameters"], "uniform": tf["uniform"],
                        "best_head": {"layer_1based": best["layer"] + 1, "head_1based": best["head"] + 1,
                                      "start": best["start"], "end": best["end"]}},
        "gru": {"accuracy": gru["final_accuracy"], "parameters": gru["parameters"]},
        "distance": {"values": result["distance"]["distances"],
                     "transformer": tf["accuracy_by_distance"], "gru": gru["accuracy_by_distance"],
                     "gru_min": min(gru["accuracy_by_distance"]), "gru_max": max(gru["accuracy_by_distance"])},
    }


def build(out_dir: Path, log) -> dict[str, bytes]:
    import vl_convert as vlc

    from .qkv_build import stable_svg

    log("training the transformer and the GRU (skipped when the cached result is current)")
    result = learning.run_experiment(out_dir)
    t = result.pop("timings", {})
    if t and not t.get("cached"):
        log(f"trained in {t['total_s']:.1f} s (transformer {t['transformer_s']:.1f} s, GRU {t['gru_s']:.1f} s)")
    files = {"learning.json": (out_dir / learning.RESULT_FILE).read_bytes(), "facts.json": dumps(_facts(result)).encode()}
    for name, chart in (("training", learning.training_chart(learning.training_table(result))),
                        ("distance", learning.distance_chart(learning.distance_table(result)))):
        spec = chart.to_dict()
        files[f"{name}/spec.json"] = dumps(vlc.vegalite_to_vega(spec)).encode()
        files[f"{name}/default.svg"] = stable_svg(spec).encode()
    json.loads(files["learning.json"])  # written by run_experiment: must be complete JSON
    return files
