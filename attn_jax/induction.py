"""The induction-head phase change (Olsson et al. 2022), reproduced from scratch on a CPU.

Axis legend: N seeds, C checkpoints, B held-out sequences, T positions, L layers, H heads,
V vocabulary.

:func:`run_induction_experiment` trains attention-only transformers (:mod:`attn_jax.train`'s
model with ``mlp_dim=0``, read out at every position as a language model) on the copy task of
:mod:`attn_jax.tasks`: a 2-layer model, which can compose a previous-token head in layer 1 with
an induction head in layer 2, and a 1-layer control, which cannot. Each is trained for every seed,
the seeds side by side in one compiled run, with the same budget. At every checkpoint, on one
fixed held-out batch:

- the loss on copied tokens (predictions at t where tokens t and t + 1 are both in the copy, so
  token t + 1 can be read off the earlier occurrence) and on the rest, and the loss by position;
- the in-context learning score (:func:`attn_jax.analysis.in_context_score`): mean loss over the
  late positions minus the early ones (:class:`InductionConfig`);
- every head's induction score, its no-repeat null and its previous-token score
  (:mod:`attn_jax.analysis`, where they are defined), and the uniform nulls;
- every head's attention on one probe sequence (:func:`probe_index`), for the first seed.

The phase-change step of a run is where its copied-token loss first falls below half of ln V
(:func:`phase_change_step`); the result gives it per seed with the spread over seeds.

Seeds: seed s initialises with ``PRNGKey(s)`` and trains on the data stream ``1000 + s``; the
held-out batch comes from ``PRNGKey(heldout_seed)``. The result (numbers and NumPy arrays) is
identical between two runs on one machine; :func:`summary` gives one line.
Arrays keep 0-based layer and head indices (``[C, L, H]``); the ``best_*`` entries number them
from 1, as the article does.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from functools import partial

import jax
import numpy as np

from .analysis import (
    in_context_score,
    induction_scores,
    previous_token_scores,
    previous_token_targets,
    uniform_target_attention,
)
from .tasks import CopyBatch, CopyTask, sample_copy_batch
from .train import (
    Budget,
    TransformerConfig,
    count_params,
    init_transformer,
    next_token_loss,
    next_token_losses,
    train,
    transformer_apply,
)

__all__ = ["InductionConfig", "CONFIG", "phase_change_step", "probe_index", "run_induction_experiment", "summary"]

DATA_SEED_OFFSET = 1000  # seed s trains on data stream 1000 + s, apart from its init key PRNGKey(s)
WINDOW = 250  # steps: "before" and "after" the phase change are at least this far from it


@dataclass(frozen=True)
class InductionConfig:
    """What the experiment trains and measures. The defaults are the article's run: vocabulary 64,
    length 32, one span of 6-12 tokens copied per sequence; width 32 with 2 heads per layer;
    AdamW at a constant 3e-3 after 50 warm-up steps, batch 64, 2500 steps, checkpoints every 50;
    3 seeds. Cold, both models took 103-135 s on 2 CPU cores shared with other work; the phase
    change came in every seed, between steps 1100 and 1800."""

    task: CopyTask = CopyTask(vocab_size=64, length=32, min_span=6, max_span=12)
    model_dim: int = 32  # M; head dim D = M / H
    num_heads: int = 2  # H per layer
    layers: tuple[int, ...] = (2, 1)  # the model and its control
    budget: Budget = Budget(steps=2500, batch_size=64, lr=3e-3, warmup=50, schedule="constant")
    seeds: tuple[int, ...] = (0, 1, 2)
    checkpoint_every: int = 50
    heldout_size: int = 256
    heldout_seed: int = 999_999
    # ICL windows, positions t of the predictions (row t predicts token t + 1): early = before any
    # copy can start (b >= min_span), late = the last predictions of the sequence
    early: tuple[int, int] = (1, 6)
    late: tuple[int, int] = (26, 31)
    probe_min_span: int = 8  # the widget's probe sequence has a copy at least this long

    def __post_init__(self):
        t = self.task.length
        if not (0 <= self.early[0] < self.early[1] <= self.late[0] < self.late[1] <= t - 1):
            raise ValueError(f"need 0 <= early < late <= T - 1 = {t - 1} (prediction positions), "
                             f"got early {self.early}, late {self.late}")

    def to_dict(self) -> dict:
        return asdict(self)


CONFIG = InductionConfig()


def phase_change_step(steps, copied_loss, threshold: float) -> float | None:
    """The phase-change step of one run: where the held-out loss on copied tokens first falls
    below ``threshold`` (the experiment uses half of ln V, i.e. half of what a model that ignores
    the context scores), linearly interpolated between the two checkpoints around the crossing.
    None if it never does. steps ``[C]``, copied_loss ``[C]`` -> a step."""
    steps, loss = np.asarray(steps, np.float64), np.asarray(copied_loss, np.float64)
    below = np.flatnonzero(loss < threshold)
    if not len(below):
        return None
    i = int(below[0])
    if i == 0:
        return float(steps[0])
    s0, s1, l0, l1 = steps[i - 1], steps[i], loss[i - 1], loss[i]
    return float(s0 + (l0 - threshold) / (l0 - l1) * (s1 - s0))


def probe_index(batch: CopyBatch, min_span: int) -> int:
    """The widget's probe sequence: the first held-out sequence whose copy is at least
    ``min_span`` long and whose every copied token has an unambiguous induction target (no
    token of the span occurs by chance elsewhere before it)."""
    span, copied, target = (np.asarray(a) for a in (batch.span, batch.copied, batch.induction_target))
    clean = (span >= min_span) & ((target >= 0) == copied).all(axis=1)
    if not clean.any():
        raise ValueError(f"no held-out sequence has a clean copy of >= {min_span} tokens")
    return int(np.argmax(clean))


@partial(jax.jit, static_argnums=(1, 2))
def _heldout(key: jax.Array, task: CopyTask, size: int) -> tuple[CopyBatch, CopyBatch]:
    """The fixed held-out batch and its no-repeat twin (same key), compiled once per task."""
    return sample_copy_batch(key, task, size), sample_copy_batch(key, task, size, repeat=False)


@partial(jax.jit, static_argnums=1)
def _init(keys: jax.Array, model: TransformerConfig) -> dict:
    """keys ``[N, 2]`` -> parameters with a leading ``[N]`` axis, one model per seed."""
    return jax.vmap(init_transformer, in_axes=(0, None))(keys, model)


@partial(jax.jit, static_argnums=0)
def _forward(model: TransformerConfig, params: dict, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
    """params ``[N, ...]``, tokens ``[B, T]`` -> (losses ``[N, B, T - 1]``, attention
    ``[N, L, B, H, T, T]``). Module level with a static config, so repeated runs reuse the compile."""
    def one(p):
        logits, attention = transformer_apply(p, tokens, None, model)
        return next_token_losses(logits, tokens), attention

    return jax.vmap(one)(params)


def _measures(losses, att, att_twin, heldout: CopyBatch, config: InductionConfig, probe: int) -> dict:
    """One checkpoint's measures for N seeds (module doc) from host arrays: losses ``[N, B, T - 1]``,
    attention on the held-out batch and on its no-repeat twin ``[N, L, B, H, T, T]``."""
    predictable = np.asarray(heldout.predictable)[:, :-1]  # [B, T - 1], aligned with the losses
    att, att_twin = (np.moveaxis(a, 2, 0) for a in (att, att_twin))  # [B, N, L, H, T, T]
    targets = np.asarray(heldout.induction_target)
    by_position = losses.mean(axis=1)  # [N, T - 1]
    return {
        "loss": losses.mean(axis=(1, 2)),  # [N], every prediction: the objective on held-out data
        "copied_loss": losses[:, predictable].mean(-1),
        "other_loss": losses[:, ~predictable].mean(-1),
        "loss_by_position": by_position,
        "icl_score": in_context_score(by_position, slice(*config.early), slice(*config.late)),
        "induction": induction_scores(att, targets),  # [N, L, H]
        "induction_null": induction_scores(att_twin, targets),
        "previous_token": previous_token_scores(att),
        "probe_attention": att[probe, 0],  # [L, H, T, T], the first seed
    }


def _best_head(scores, layer: int, null=None) -> dict:
    """The head of ``layer`` (0-based) with the highest score, from scores ``[L, H]``; with a
    per-head ``null [L, H]``, that head's null and the highest null of its layer."""
    h = int(np.argmax(scores[layer]))
    best = {"layer": layer + 1, "head": h + 1, "score": scores[layer, h]}
    if null is not None:
        best |= {"null": null[layer, h], "null_best_of_layer": null[layer].max()}
    return best


def _around(steps, values, step: float | None, window: int) -> dict:
    """``values [C]`` at the last checkpoint ``window`` steps or more before ``step`` and the
    first ``window`` steps or more after it (None where there is no such checkpoint)."""
    if step is None:
        return {"before": None, "after": None}
    steps = np.asarray(steps)
    before, after = np.flatnonzero(steps <= step - window), np.flatnonzero(steps >= step + window)
    return {"before": values[before[-1]] if len(before) else None,
            "after": values[after[0]] if len(after) else None}


def _summarise_run(steps, curve: dict, layers: int, threshold: float) -> dict:
    """One seed's curves ``{name: [C, ...]}`` -> its phase-change step, the copied-token loss
    around it and the final values, with the circuit's two heads: the best induction head of the
    last layer and the best previous-token head of the first."""
    step = phase_change_step(steps, curve["copied_loss"], threshold)
    final = {k: v[-1] for k, v in curve.items() if k != "loss_by_position"}
    final["best_induction"] = _best_head(curve["induction"][-1], layers - 1, curve["induction_null"][-1])
    final["best_previous_token"] = _best_head(curve["previous_token"][-1], 0)
    return {"phase_change_step": step, "copied_loss_around": _around(steps, curve["copied_loss"], step, WINDOW),
            "final": final}


def _spread(steps: list) -> dict:
    """Phase-change steps of the seeds (None: none) -> how many had one, mean, SD, min, max."""
    found = [s for s in steps if s is not None]
    return {
        "steps": steps,
        "seeds_with_phase_change": len(found),
        "mean": float(np.mean(found)) if found else None,
        "sd": float(np.std(found, ddof=1)) if len(found) > 1 else None,  # sample SD over seeds
        "min": min(found, default=None),
        "max": max(found, default=None),
    }


def _train_model(layers: int, config: InductionConfig, heldout: CopyBatch, twin: CopyBatch,
                 probe: int) -> tuple[dict, float]:
    """Train the ``layers``-layer model for every seed side by side; its entry in the result."""
    task = config.task
    model = TransformerConfig(task.vocab_size, task.length, task.vocab_size, model_dim=config.model_dim,
                              num_heads=config.num_heads, num_layers=layers, mlp_dim=0)
    params = _init(np.stack([np.asarray(jax.random.PRNGKey(s)) for s in config.seeds]), model)
    both = np.concatenate([np.asarray(heldout.tokens), np.asarray(twin.tokens)])  # [2B, T]: one call

    def on_checkpoint(step, params):
        losses, att = jax.device_get(_forward(model, params, both))
        b = len(both) // 2
        return _measures(losses[:, :b], att[:, :, :b], att[:, :, b:], heldout, config, probe)

    log = train(partial(transformer_apply, config=model), params, task, config.budget,
                seed=tuple(DATA_SEED_OFFSET + s for s in config.seeds),
                checkpoint_every=config.checkpoint_every, objective=next_token_loss, on_checkpoint=on_checkpoint)
    per_checkpoint = {k: np.stack([m[k] for m in log.measures]) for k in log.measures[0]}  # [C, ...]
    threshold = math.log(task.vocab_size) / 2
    runs = []
    for n, seed in enumerate(config.seeds):
        curve = {k: v[:, n] for k, v in per_checkpoint.items() if k != "probe_attention"}
        runs.append({
            "seed": seed,
            "data_seed": DATA_SEED_OFFSET + seed,
            "train_loss": log.train_loss[n],  # mean over the interval before each checkpoint
            # loss, copied_loss, other_loss, icl_score [C]; loss_by_position [C, T - 1]; scores [C, L, H]
            **curve,
            **_summarise_run(log.steps, curve, layers, threshold),
        })
    entry = {
        "model": model.to_dict(),
        "parameters": count_params(params) // len(config.seeds),
        "runs": runs,
        "phase_change": {"threshold": threshold, **_spread([r["phase_change_step"] for r in runs])},
        "probe_attention": per_checkpoint["probe_attention"],  # [C, L, H, T, T], first seed
    }
    return entry, log.seconds


def run_induction_experiment(config: InductionConfig = CONFIG, *, timings: dict | None = None) -> dict:
    """Train every model of ``config`` (the 2-layer model and the 1-layer control, each over all
    seeds) and return the result: a dict of numbers, lists and NumPy arrays (the chart group
    rounds it to JSON with the pipeline's one rule, ``build_scripts.pipeline.artifacts.rounded``).
    Run times, which differ between runs, go into ``timings`` when a dict is given, never into
    the result."""
    wall, cpu = time.perf_counter(), time.process_time()
    task = config.task
    key = jax.random.PRNGKey(config.heldout_seed)
    heldout, twin = _heldout(key, task, config.heldout_size)
    probe = probe_index(heldout, config.probe_min_span)
    targets = np.asarray(heldout.induction_target)
    result = {
        "config": config.to_dict(),
        "definitions": {
            "copied": "predictions at t where tokens t and t + 1 are both in the copy",
            "icl_score": f"mean loss over prediction positions {list(config.early)} (start, stop) subtracted "
                         f"from the mean over {list(config.late)}",
            "phase_change_step": "first step where the copied-token loss falls below ln(V) / 2, "
                                 "interpolated between checkpoints",
            "copied_loss_around": f"copied-token loss at the checkpoints at least {WINDOW} steps before "
                                  f"and after the phase change",
        },
        "ln_vocab": math.log(task.vocab_size),
        "uniform_null": {
            "induction": uniform_target_attention(targets),
            "previous_token": uniform_target_attention(previous_token_targets(*targets.shape)),
        },
        "probe": {
            "index": probe,
            "seed": config.seeds[0],
            **{name: np.asarray(getattr(heldout, name))[probe]
               for name in ("tokens", "source", "start", "span", "copied", "predictable", "induction_target")},
        },
        "models": {},
    }
    seconds = {}
    for num_layers in config.layers:
        name = f"{num_layers}-layer"
        result["models"][name], seconds[name] = _train_model(num_layers, config, heldout, twin, probe)
    result["steps"] = np.arange(0, config.budget.steps + 1, config.checkpoint_every)
    if timings is not None:
        timings.update({f"{k}_s": v for k, v in seconds.items()})
        timings.update(total_s=time.perf_counter() - wall, total_cpu_s=time.process_time() - cpu)
    return result


def _per_seed(runs: list, get) -> str:
    return "/".join(f"{get(r['final']):.2f}" for r in runs)


def summary(result: dict) -> str:
    """One line: per model the phase-change steps, copied-token loss, ICL score and best heads."""
    parts = []
    for name, m in result["models"].items():
        runs, pc = m["runs"], m["phase_change"]
        steps = "/".join("-" if s is None else f"{s:.0f}" for s in pc["steps"])
        spread = f" (mean {pc['mean']:.0f}, sd {pc['sd']:.0f})" if pc["sd"] is not None else ""
        parts.append(
            f"{name}: phase change in {pc['seeds_with_phase_change']}/{len(runs)} seeds at {steps}{spread}; "
            f"final copied loss {_per_seed(runs, lambda f: f['copied_loss'])}, "
            f"ICL {_per_seed(runs, lambda f: f['icl_score'])}, "
            f"best induction {_per_seed(runs, lambda f: f['best_induction']['score'])} "
            f"(no-repeat null {_per_seed(runs, lambda f: f['best_induction']['null'])})"
        )
    return " | ".join(parts)
