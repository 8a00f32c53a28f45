"""How models learn to focus: train a tiny transformer on associative recall and watch its
attention form; then measure the recurrent bottleneck against distance.

One task (lists of 8 key-value pairs, then a query key; see :mod:`attn_jax.tasks`), two models
with the same training budget, one JSON result (``learning.json``), cached by the source of this
module and of every module it imports (:mod:`build_scripts.pipeline.cache`), CONFIG included:

- training: the 2-layer transformer learns from scratch. At every checkpoint: held-out loss and
  accuracy, and the query position's attention row on fixed held-out examples. The head that
  learns the task is chosen from the data: the one with the highest final mean attention on the
  answer (the queried pair's value token, position 2i + 1).
- distance: that transformer and a GRU trained with the same budget; held-out accuracy by
  distance (positions from the queried key to the query; every pair in between is a distractor).

``python -m build_scripts learning`` runs it (or reuses the cache in ``.build-cache/learning/``) and
logs the headline numbers. Run times are logged, never written: they differ from run to run, and
the result must be byte-identical between two builds on one machine.
"""

from __future__ import annotations

import time
from functools import partial

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

from build_scripts.pipeline.artifacts import rounded, versions
from build_scripts.pipeline.cache import cached

DIGITS = 4  # decimals kept in learning.json
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
    return "\n".join(lines)


def extra() -> dict:
    """The pinned versions of the libraries the training runs on (the cache's and the group's extra input)."""
    return {"versions": versions("jax", "jaxlib", "optax", "numpy")}


def measure(ctx) -> dict:
    """The experiment's result (``learning.json``): trained now, or from the cache when this module
    and what it imports are unchanged."""
    def compute() -> dict:
        ctx.log("training the transformer and the GRU")
        wall, cpu = time.perf_counter(), time.process_time()
        result, seconds = run(CONFIG)
        ctx.log(f"trained in {time.perf_counter() - wall:.1f} s ({time.process_time() - cpu:.1f} s CPU; transformer "
                f"{seconds['transformer']:.1f} s, GRU {seconds['gru']:.1f} s) on {jax.devices()[0].device_kind}")
        return rounded({"backend": jax.default_backend(), "jax": jax.__version__, **result}, DIGITS)

    result = cached(ctx, "learning", compute, module=__name__, extra=extra())
    ctx.log(headline(result))
    return result
