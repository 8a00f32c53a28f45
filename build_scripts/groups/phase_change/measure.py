"""Induction heads forming during training: the phase change of Olsson et al. (2022), reproduced
from scratch by :func:`attn_jax.induction.run_induction_experiment` (a 2-layer attention-only
transformer and a 1-layer control, trained on sequences with a copied span, 3 seeds each), and the
facts the article quotes from it.

The result is cached by the code of this module and what it imports (the experiment, the model and
the training loop): a cold build trains for two to three minutes on 2 CPU cores.
"""

from __future__ import annotations

import time

from build_scripts.pipeline.artifacts import rounded, versions

DIGITS = 4


def extra() -> dict:
    return {"versions": versions("jax", "jaxlib", "optax", "numpy", "altair", "vl-convert-python")}


def measure(ctx) -> dict:
    """The experiment's result, rounded to JSON: trained now, or from the cache."""
    from build_scripts.pipeline.cache import cached

    def compute() -> dict:
        from attn_jax.induction import CONFIG, run_induction_experiment, summary

        timings: dict = {}
        wall = time.perf_counter()
        result = rounded(run_induction_experiment(CONFIG, timings=timings), DIGITS)
        ctx.log(f"trained in {time.perf_counter() - wall:.1f} s ({timings.get('total_cpu_s', 0):.1f} s CPU)")
        ctx.log(summary(result))
        return result

    return cached(ctx, "phase-change", compute, module=__name__, extra=extra())


def circuit(result: dict) -> dict:
    """The first seed's two heads: its best layer-2 induction head and best layer-1 previous-token
    head at the end of training (0-based ``layer``/``head`` and the label a reader sees)."""
    final = result["models"]["2-layer"]["runs"][0]["final"]
    out = {}
    for role, key in (("previous_token", "best_previous_token"), ("induction", "best_induction")):
        best = final[key]
        out[role] = {"layer": best["layer"] - 1, "head": best["head"] - 1,
                     "label": f"layer {best['layer']}, head {best['head']}"}
    return out


def facts(result: dict) -> dict:
    """What the article quotes: per seed the phase-change step, the copied-token loss around it, the
    in-context learning score and the two heads' scores with their nulls; the spread over seeds;
    the 1-layer control; and the verdicts the prose renders."""
    two, one = result["models"]["2-layer"], result["models"]["1-layer"]
    seeds = []
    for run in two["runs"]:
        f = run["final"]
        seeds.append({"seed": run["seed"], "step": run["phase_change_step"],
                      "before": run["copied_loss_around"]["before"], "after": run["copied_loss_around"]["after"],
                      "final_copied": f["copied_loss"], "final_other": f["other_loss"], "icl": f["icl_score"],
                      "induction": f["best_induction"], "previous_token": f["best_previous_token"]})
    control = [{"seed": r["seed"], "icl": r["final"]["icl_score"], "copied": r["final"]["copied_loss"],
                "induction": r["final"]["best_induction"]} for r in one["runs"]]
    n = len(seeds)
    spread = two["phase_change"]
    return {
        "seeds": n, "steps": result["steps"][-1], "checkpoint_every": result["steps"][1] - result["steps"][0],
        "ln_vocab": result["ln_vocab"], "threshold": spread["threshold"], "uniform_null": result["uniform_null"],
        "task": result["config"]["task"], "model": {k: two["model"][k] for k in ("model_dim", "num_heads", "num_layers")},
        "parameters": {"two": two["parameters"], "one": one["parameters"]},
        "budget": result["config"]["budget"],
        "phase_change": {k: spread[k] for k in ("seeds_with_phase_change", "mean", "sd", "min", "max")},
        "per_seed": seeds, "control": control,
        "control_max": {"icl": max(c["icl"] for c in control), "copied_min": min(c["copied"] for c in control),
                        "induction_max": max(c["induction"]["score"] for c in control)},
        "two_layer_range": {"icl_max": max(s["icl"] for s in seeds), "induction_min": min(s["induction"]["score"] for s in seeds),
                            "previous_min": min(s["previous_token"]["score"] for s in seeds),
                            "previous_max": max(s["previous_token"]["score"] for s in seeds),
                            "final_copied_max": max(s["final_copied"] for s in seeds)},
        "verdicts": {
            "every_seed_changes_phase": spread["seeds_with_phase_change"] == n,
            "control_never_changes_phase": all(r["phase_change_step"] is None for r in one["runs"]),
            # the control's best "induction" head is no better than its no-repeat null
            "control_has_no_induction_head": all(c["induction"]["score"] <= c["induction"]["null"] + 0.05 for c in control),
            "induction_far_above_null": all(s["induction"]["score"] > 5 * s["induction"]["null"] for s in seeds),
        },
    }
