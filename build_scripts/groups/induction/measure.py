"""Induction heads in SmolLM2 (Elhage et al. 2021; Olsson et al. 2022): scores, nulls, the loss drop
on a repeat, and what removing the heads does.

Axis legend: R sequences, N tokens per copy (each sequence 2N), L layers, H query heads, K heads
removed, V vocabulary.

**The sequences.** Seed s draws 2N distinct token ids (``numpy.random.default_rng(s)``, without
replacement) from the *pool*: the ids below ``id_below`` whose token is a space followed by at
least ``min_letters`` lowercase ASCII letters (" the", " garden": ordinary single words, as the
tokenizer's byte-level BPE writes a leading space, ``Ġ``), then a permutation of N. From one draw
``x`` come three sequences of 2N tokens, all without a BOS token (the model has none):

- *repeat*: ``x[:N]`` twice: the copy task of :mod:`attn_jax.tasks` with one span of N tokens
  copied right after itself (source a = 0, start b = N);
- *twin* (non-repeated): ``x``, the same first half followed by N fresh tokens, scored at the
  repeat's positions and targets (the "no repeat" twin of :func:`attn_jax.tasks.sample_copy_batch`);
- *shuffled order*: ``x[:N]`` then the same tokens in the permuted order: every token of the
  second half still has one earlier occurrence, at a varying distance.

Tokens are distinct within a draw, so every token of a copy occurs exactly once before it and
every induction target is unambiguous (none is dropped by the rule of
:func:`attn_jax.tasks.induction_targets`).

**Scores** (defined in :mod:`attn_jax.analysis`): every head's induction score on the repeats
(targets from :func:`attn_jax.tasks.induction_targets`: query N + j attends to j + 1) and its
previous-token score, each per sequence, their means with a percentile bootstrap interval
resampling sequences. Nulls: (a) the same head on the twins, at the same targets, and the count of
heads beating the best-of-heads *sign-flip null* of the paired differences (family-wise 5%); (b)
the uniform null; (c) the best-of-heads *shuffled-target null* (targets drawn among the keys each
query sees; its mean is (b)). Controls: on the shuffled-order sequences, each head's induction
score at the tokens' true earlier occurrences (content) and its weight at the repeat's positions
(t - N + 1, position alone; the query itself is never a target). The *top heads* are the
``top_heads`` best by induction score; their *previous-token partners* the ``partners`` best
previous-token heads of the layers before the first top head's layer.

**Losses** (nats, per token, from :class:`attn_jax.decoder_corpus.DecoderCorpusRunner`): on the
first copy, the predictions of its tokens 1 .. N-1; on the second copy, the predictions of its
tokens 1 .. N-1 (t and t + 1 both in the copy: the copy task's *predictable* positions). The
prediction of the repeat's first token (at t = N - 1, when nothing says a repeat begins) is in
neither. The *loss drop* is first minus second per sequence (minus :func:`attn_jax.analysis.in_context_score`).

**Ablation** on ``ablation_sequences`` held-out draws (seeds R, R + 1, ...: no part in choosing the
heads), with ``weights=False``: for each k, the top k induction heads removed (head gate 0) and
``random_draws`` sets of k heads drawn from the other 270 - k (``default_rng([seed, k, draw])``);
and the top heads' previous-token partners removed. *Copying collapses* when, with the most heads
removed, less than half of the intact loss drop remains; the first copy *does not change* when its
loss moves by at most a tenth of what the second copy's moves.

Nothing is dropped: every sequence and every head is counted.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attn_jax import analysis as A
from build_scripts.pipeline.artifacts import ROOT, rounded
from build_scripts.pipeline.config import ConfigError, read_toml

CONFIG = Path(__file__).with_name("settings.toml")
SETTINGS_FILE = str(CONFIG.relative_to(ROOT))
INTS = ("sequences", "tokens", "id_below", "min_letters", "shuffled_sequences", "ablation_sequences", "random_draws",
        "top_heads", "partners", "shuffled_null_repeats", "sign_flip_repeats", "bootstrap_repeats", "seed")
PRECISION = 4  # decimals kept in facts.json (the prose shows 2)
LEVEL = 0.95  # of every interval
ALPHA = 0.05  # family-wise error of the head counts; a corrected p below it beats the null
COLLAPSE = 0.5  # copying collapses when less than this share of the loss drop remains
UNCHANGED = 0.1  # the first copy "does not change": it moves by less than this share of the second's move
SPACE = "\u0120"  # "Ġ": the byte-level BPE's leading space


def load_settings(path: Path = CONFIG) -> dict:
    """The ``[settings]`` table of ``settings.toml``; ConfigError names any problem."""
    raw = read_toml(path)
    s = raw.get("settings", {})
    bad = [k for k in INTS if not isinstance(s.get(k), int) or isinstance(s.get(k), bool) or s[k] < (0 if k == "seed" else 1)]
    ks = s.get("ks")
    if not (isinstance(ks, list) and ks and all(isinstance(k, int) and k >= 1 for k in ks) and ks == sorted(set(ks))):
        bad.append("ks")
    if bad:
        raise ConfigError(f"{path}: [settings] lacks a positive integer for {bad} (seed: >= 0; ks: a rising list "
                          f"of positive integers); see the comments there")
    if s["tokens"] < 2 or s["shuffled_sequences"] > s["sequences"] or s["partners"] not in ks:
        raise ConfigError(f"{path}: need tokens >= 2, shuffled_sequences <= sequences and partners one of ks (the "
                          f"random heads it is compared with); got tokens {s['tokens']}, shuffled_sequences "
                          f"{s['shuffled_sequences']}, sequences {s['sequences']}, partners {s['partners']}, ks {ks}")
    return s


def token_pool(vocab: dict[str, int], id_below: int, min_letters: int) -> np.ndarray:
    """The pool (module doc): sorted ids below ``id_below`` whose token is the BPE space and at
    least ``min_letters`` lowercase ASCII letters."""
    word = re.compile(f"{SPACE}[a-z]{{{min_letters},}}")
    return np.array(sorted(i for t, i in vocab.items() if i < id_below and word.fullmatch(t)), np.int64)


@dataclass(frozen=True)
class Draws:
    """The three sequences of each seed (module doc): int ``[R, 2N]`` each, and the order ``[R, N]``."""

    seeds: tuple[int, ...]
    repeat: np.ndarray
    twin: np.ndarray
    shuffled: np.ndarray
    order: np.ndarray

    @property
    def tokens(self) -> int:
        return self.order.shape[1]


def draw(pool: np.ndarray, seeds, n: int) -> Draws:
    """Seed s: 2N distinct ids from ``pool`` and a permutation of N (module doc)."""
    if len(pool) < 2 * n:
        raise ConfigError(f"the token pool has {len(pool)} ids, fewer than the 2N = {2 * n} a sequence draws; "
                          f"raise id_below or lower min_letters or tokens in {SETTINGS_FILE}")
    xs, orders = [], []
    for s in seeds:
        rng = np.random.default_rng(s)
        xs.append(rng.choice(pool, 2 * n, replace=False))
        orders.append(rng.permutation(n))
    x, order = np.stack(xs), np.stack(orders)
    first = x[:, :n]
    return Draws(tuple(seeds), np.concatenate([first, first], 1), x,
                 np.concatenate([first, np.take_along_axis(first, order, 1)], 1), order)


def repeat_targets(repeat: np.ndarray) -> np.ndarray:
    """Induction targets of the repeats ``[R, 2N]`` by the copy task's rule
    (:func:`attn_jax.tasks.induction_targets`, source 0, copy at N) -> int ``[R, 2N]``."""
    from attn_jax.tasks import induction_targets

    r, t = repeat.shape
    n = t // 2
    copied = np.broadcast_to(np.arange(t) >= n, (r, t))
    return np.asarray(induction_targets(np.asarray(repeat, np.int32), copied, np.full(r, n, np.int32)))


def shuffled_targets(order: np.ndarray) -> np.ndarray:
    """Induction targets of the shuffled-order sequences: query N + j (token ``x[order[j]]``)
    -> ``order[j] + 1``; -1 on the first copy and where that key is the query itself."""
    r, n = order.shape
    targets = np.full((r, 2 * n), -1, np.int64)
    second = order + 1
    targets[:, n:] = np.where(second == n + np.arange(n), -1, second)
    return targets


def copy_losses(losses: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per sequence mean loss on the first and the second copy (module doc): ``[R, 2N-1]`` -> two ``[R]``."""
    losses = np.asarray(losses, np.float64)
    drop = -A.in_context_score(losses, slice(0, n - 1), slice(n, 2 * n - 1))  # [R]
    first = losses[:, : n - 1].mean(-1)
    return first, first - drop


def per_sequence(score, att: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
    """``score`` (an :mod:`attn_jax.analysis` score) of each sequence on its own:
    ``[R, L, H, n, n]`` -> ``[R, L, H]``."""
    args = (lambda i: (att[i: i + 1],)) if targets is None else (lambda i: (att[i: i + 1], targets[i: i + 1]))
    return np.stack([score(*args(i)) for i in range(len(att))])


def _alone(values: np.ndarray) -> np.ndarray:
    """Cluster ids for :func:`attn_jax.analysis.pair_bootstrap` where every sequence is its own cluster."""
    return np.full(len(values), -1)


def interval(values: np.ndarray, settings: dict) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of the mean over sequences (axis 0), sequences resampled."""
    return A.pair_bootstrap(values, _alone(values), settings["bootstrap_repeats"], settings["seed"], LEVEL)


def _head(flat: int, heads: int) -> dict:
    return {"layer": flat // heads + 1, "head": flat % heads + 1}


def rank(scores: np.ndarray) -> np.ndarray:
    """Flat head indices by score, best first (ties: lower layer, then head, first)."""
    return np.argsort(-np.asarray(scores).reshape(-1), kind="stable")


def partners_of(previous: np.ndarray, top: np.ndarray, count: int) -> np.ndarray:
    """The previous-token partners (module doc): flat indices of the ``count`` best previous-token
    heads of the layers before the first layer among the ``top`` heads (flat indices)."""
    heads = previous.shape[-1]
    first = int(min(top) // heads)
    earlier = [f for f in rank(previous) if f // heads < first]
    return np.array(earlier[:count], np.int64)


def scores(repeat_att, twin_att, targets, settings: dict) -> dict:
    """Every head's scores and nulls from the repeats' and twins' attention ``[R, L, H, 2N, 2N]``
    and the repeats' targets ``[R, 2N]``: per-sequence arrays ``[R, L, H]`` and the nulls."""
    reps, seed = settings["shuffled_null_repeats"], settings["seed"]
    induction = per_sequence(A.induction_scores, repeat_att, targets)
    previous = per_sequence(A.previous_token_scores, repeat_att)
    twin = per_sequence(A.induction_scores, twin_att, targets)
    twin_previous = per_sequence(A.previous_token_scores, twin_att)
    prev_targets = A.previous_token_targets(*targets.shape)
    return {
        "induction": induction, "previous": previous, "twin": twin, "twin_previous": twin_previous,
        "sign_flip_null": A.sign_flip_null(induction - twin, settings["sign_flip_repeats"], seed),
        "shuffled_null": A.shuffled_target_null(repeat_att, targets, reps, seed),
        "shuffled_null_previous": A.shuffled_target_null(repeat_att, prev_targets, reps, seed),
        "uniform": A.uniform_target_attention(targets),
        "uniform_previous": A.uniform_target_attention(prev_targets),
    }


def control(shuffled_att, order: np.ndarray) -> dict:
    """The shuffled-order control: per head, the induction score at the true earlier occurrences
    (content) and the weight at the repeat's positions t - N + 1 (position), each ``[L, H]``."""
    r, n = order.shape
    positional = np.full((r, 2 * n), -1, np.int64)
    positional[:, n:] = np.arange(1, n + 1)
    content = shuffled_targets(order)
    positional = np.where(content >= 0, positional, -1)  # the same queries for both
    return {"content": A.induction_scores(shuffled_att, content), "position": A.target_attention(shuffled_att, positional)}


def ablation(run_losses, n: int, top: np.ndarray, partners: np.ndarray, shape: tuple[int, int], settings: dict) -> dict:
    """The ablation (module doc). ``run_losses(gates [L, H])`` -> losses ``[R, 2N-1]`` of the
    held-out sequences; ``top`` the flat heads by induction score, best first."""
    heads = shape[0] * shape[1]

    def without(flat) -> dict:
        gates = np.ones(heads, np.float32)
        gates[np.asarray(flat, np.int64)] = 0.0
        first, second = copy_losses(run_losses(gates.reshape(shape)), n)
        return {"first": first, "second": second}

    out = {"intact": without([]), "top": {}, "random": {}, "random_heads": {}, "partners": without(partners)}
    for k in settings["ks"]:
        chosen = top[:k]
        others = np.setdiff1d(np.arange(heads), chosen)
        out["top"][k] = without(chosen)
        out["random"][k], out["random_heads"][k] = [], []
        for d in range(settings["random_draws"]):
            picked = np.sort(np.random.default_rng([settings["seed"], k, d]).choice(others, k, replace=False))
            out["random_heads"][k].append(picked)
            out["random"][k].append(without(picked))
    return out


def _mean_interval(values: np.ndarray, settings: dict) -> dict:
    low, high = interval(values, settings)
    return {"mean": float(np.mean(values)), "low": float(low), "high": float(high)}


def _losses(run: dict, settings: dict) -> dict:
    first, second = run["first"], run["second"]
    return {"first": _mean_interval(first, settings), "second": _mean_interval(second, settings),
            "drop": _mean_interval(first - second, settings)}


def compute(draws: Draws, s: dict, ctl: dict, repeat_losses: np.ndarray, twin_losses: np.ndarray, abl: dict,
            settings: dict) -> tuple[dict, dict]:
    """``(facts, tables)`` from :func:`scores` (``s``), :func:`control` (``ctl``), the losses of the
    repeats and twins ``[R, 2N-1]`` and :func:`ablation` (``abl``)."""
    induction, previous, twin = s["induction"], s["previous"], s["twin"]
    r, layers, heads = induction.shape
    n = draws.tokens
    mean, prev_mean, twin_mean = induction.mean(0), previous.mean(0), twin.mean(0)  # [L, H]
    low, high = interval(induction, settings)
    prev_low, prev_high = interval(previous, settings)
    twin_low, twin_high = interval(twin, settings)
    diff = (induction - twin).mean(0)
    flip95 = float(np.percentile(s["sign_flip_null"], 95))
    shuf95 = float(np.percentile(s["shuffled_null"], 95))
    prev95 = float(np.percentile(s["shuffled_null_previous"], 95))
    above_twin, above_shuffled = diff > flip95, mean > shuf95
    prev_above = prev_mean > prev95
    order = rank(mean)
    top = order[: settings["top_heads"]]
    partners = partners_of(prev_mean, top, settings["partners"])

    def head(f: int) -> dict:
        l, h = divmod(int(f), heads)
        return {**_head(f, heads), "induction": float(mean[l, h]), "low": float(low[l, h]), "high": float(high[l, h]),
                "twin": float(twin_mean[l, h]), "previous": float(prev_mean[l, h]),
                "previous_low": float(prev_low[l, h]), "previous_high": float(prev_high[l, h]),
                "shuffled_order": float(ctl["content"][l, h]), "shuffled_order_position": float(ctl["position"][l, h]),
                "p_twin": A.null_p_value(s["sign_flip_null"], float(diff[l, h])),
                "p_shuffled": A.null_p_value(s["shuffled_null"], float(mean[l, h]))}

    first, second = copy_losses(repeat_losses, n)
    twin_first, twin_second = copy_losses(twin_losses, n)
    intact = abl["intact"]
    intact_drop = float((intact["first"] - intact["second"]).mean())
    ks = settings["ks"]
    by_k, beats, rows = {}, [], []
    for k in ks:
        t = abl["top"][k]
        rand = abl["random"][k]
        r_second = np.array([d["second"].mean() for d in rand])  # [draws]
        r_first = np.array([d["first"].mean() for d in rand])
        top_second = float(t["second"].mean())
        beats.append(top_second > r_second.max())
        by_k[f"k{k}"] = {
            "k": k,
            "top": {**_losses(t, settings), "heads": [_head(int(f), heads) for f in top[:k]]},
            "random": {"second_mean": float(r_second.mean()), "second_min": float(r_second.min()),
                       "second_max": float(r_second.max()), "first_mean": float(r_first.mean()),
                       "first_min": float(r_first.min()), "first_max": float(r_first.max()),
                       "drop_mean": float((r_first - r_second).mean()),
                       "draws": [{"first": float(a), "second": float(b),
                                  "heads": [_head(int(f), heads) for f in hs]}
                                 for a, b, hs in zip(r_first, r_second, abl["random_heads"][k])]},
            "top_beats_every_random": bool(beats[-1]),
        }
        rows.append({"k": k, "top_first": float(t["first"].mean()), "top_second": top_second,
                     "random_second": r_second.tolist(), "random_first": r_first.tolist()})
    kmax = by_k[f"k{ks[-1]}"]
    top_max = abl["top"][ks[-1]]
    # no drop to begin with: nothing to collapse (NaN, written as null; the verdict is false)
    retained = float((top_max["first"] - top_max["second"]).mean()) / intact_drop if intact_drop > 0 else float("nan")
    first_move = float(top_max["first"].mean() - intact["first"].mean())
    second_move = float(top_max["second"].mean() - intact["second"].mean())
    best = int(order[0])
    bl, bh = divmod(best, heads)
    uniform = {"induction": s["uniform"], "previous_token": s["uniform_previous"]}
    facts = {
        "model": "SmolLM2-135M-Instruct, 4-bit (Q4_1)",
        "heads": layers * heads, "layers": layers, "heads_per_layer": heads,
        "sequences": {"n": r, "seeds": [int(draws.seeds[0]), int(draws.seeds[-1])], "tokens_per_copy": n,
                      "length": 2 * n, "scored_queries_per_sequence": n, "dropped": 0,
                      "pool": {"size": settings["pool_size"], "id_below": settings["id_below"],
                               "min_letters": settings["min_letters"],
                               "rule": f"ids below {settings['id_below']} whose token is a space and at least "
                                       f"{settings['min_letters']} lowercase letters; 2N distinct per sequence"}},
        "interval": {"level": LEVEL, "method": "percentile bootstrap, resampling sequences",
                     "repeats": settings["bootstrap_repeats"]},
        "uniform_null": uniform,
        "induction": {
            "best": head(best),
            "top": [head(f) for f in top],
            "mean_over_heads": float(mean.mean()),
            "twin_best": float(twin_mean.max()),
            "twin_mean_over_heads": float(twin_mean.mean()),
            "null": {"twin": {"method": "sign flips of the per-sequence differences (repeat minus twin), best of heads",
                              "repeats": settings["sign_flip_repeats"], "p95": flip95,
                              "p_best": A.null_p_value(s["sign_flip_null"], float(diff.max()))},
                     "shuffled": {"method": "targets drawn among the keys each query sees, best of heads",
                                  "repeats": settings["shuffled_null_repeats"], "p95": shuf95,
                                  "mean": float(np.mean(s["shuffled_null"])),
                                  "p_best": A.null_p_value(s["shuffled_null"], float(mean[bl, bh]))}},
            "heads_above_twin_null": int(above_twin.sum()),
            "heads_above_shuffled_null": int(above_shuffled.sum()),
            "heads_above_both_nulls": int((above_twin & above_shuffled).sum()),
            "heads_over": {"tenth": int((mean > 0.1).sum()), "half": int((mean > 0.5).sum())},
            "layers_of_heads_above_both": sorted({int(f // heads) + 1 for f in np.flatnonzero(above_twin & above_shuffled)}),
        },
        "previous_token": {
            "best": {**_head(int(rank(prev_mean)[0]), heads), "score": float(prev_mean.max())},
            "partners": [{**_head(int(f), heads), "score": float(prev_mean.flat[f]), "low": float(prev_low.flat[f]),
                          "high": float(prev_high.flat[f]), "induction": float(mean.flat[f]),
                          "above_null": bool(prev_above.flat[f])} for f in partners],
            "before_layer": int(min(top) // heads) + 1,
            "null": {"shuffled": {"method": "targets drawn among the keys each query sees, best of heads",
                                  "repeats": settings["shuffled_null_repeats"], "p95": prev95,
                                  "mean": float(np.mean(s["shuffled_null_previous"]))}},
            "heads_above_shuffled_null": int(prev_above.sum()),
            "twin_best": float(s["twin_previous"].mean(0).max()),
            "heads_over": {"tenth": int((prev_mean > 0.1).sum()), "half": int((prev_mean > 0.5).sum())},
        },
        "shuffled_order": {
            "n": settings["shuffled_sequences"],
            "top_content_mean": float(np.mean([ctl["content"].flat[f] for f in top])),
            "top_position_mean": float(np.mean([ctl["position"].flat[f] for f in top])),
            "top_repeat_mean": float(np.mean([mean.flat[f] for f in top])),
        },
        "loss": {
            "ln_vocab": float(np.log(settings["vocab_size"])),
            "predictions_per_copy": n - 1,
            **_losses({"first": first, "second": second}, settings),
            "twin": _losses({"first": twin_first, "second": twin_second}, settings),
        },
        "ablation": {
            "n_sequences": settings["ablation_sequences"],
            "seeds": [r, r + settings["ablation_sequences"] - 1],
            "ks": ks, "random_draws": settings["random_draws"],
            "random_from": "the heads outside the top k, uniformly, seeded by (seed, k, draw)",
            "intact": _losses(intact, settings),
            **by_k,
            "partners": {**_losses(abl["partners"], settings), "k": len(partners)},
            "largest_k": {"k": ks[-1], "drop_retained": retained, "first_move": first_move, "second_move": second_move,
                          "second": kmax["top"]["second"]["mean"]},
        },
        "verdicts": {
            "induction_heads_beat_nulls": bool(A.null_p_value(s["sign_flip_null"], float(diff.max())) < ALPHA
                                               and A.null_p_value(s["shuffled_null"], float(mean[bl, bh])) < ALPHA),
            "partners_beat_null": bool(prev_above[np.unravel_index(partners, prev_above.shape)].all()),
            "loss_drops_on_repeat": bool(_mean_interval(first - second, settings)["low"] > 0),
            # random words surprise it more than a uniform guess over the vocabulary would be
            "first_copy_worse_than_uniform": bool(_mean_interval(first, settings)["low"] > np.log(settings["vocab_size"])),
            # the repeat's drop beyond the twin's (later tokens are easier anyway): paired per sequence
            "repeat_drop_exceeds_twin": bool(_mean_interval((first - second) - (twin_first - twin_second),
                                                            settings)["low"] > 0),
            "shuffled_order_follows_content": bool(
                np.mean([ctl["content"].flat[f] for f in top]) > 0.5 * np.mean([mean.flat[f] for f in top])),
            "top_heads_matter_more_than_random": bool(all(beats)),
            "copying_collapses": bool(retained < COLLAPSE),
            "first_copy_unchanged": bool(abs(first_move) <= UNCHANGED * abs(second_move)),
            # the partners removed against the random draws of as many heads
            "partners_matter": bool(abl["partners"]["second"].mean() > by_k[f"k{len(partners)}"]["random"]["second_max"]),
        },
    }
    tables = {"induction": mean, "induction_low": low, "induction_high": high, "previous": prev_mean,
              "previous_low": prev_low, "previous_high": prev_high, "twin": twin_mean, "twin_low": twin_low,
              "twin_high": twin_high, "top": top, "partners": partners, "ablation": rows,
              "intact": {"first": float(intact["first"].mean()), "second": float(intact["second"].mean())},
              "partners_ablation": {"k": len(partners), "first": float(abl["partners"]["first"].mean()),
                                    "second": float(abl["partners"]["second"].mean())}}
    return facts, tables


def measure(ctx) -> dict:
    """``{"facts", "tables"}``: computed, or from the cache when nothing that shapes them changed."""
    from build_scripts.pipeline.cache import cached
    from build_scripts.pipeline.models import decoder, decoder_extra, decoder_runner

    def run() -> dict:
        t0 = time.perf_counter()
        settings = load_settings(ctx.root / SETTINGS_FILE)
        dec, runner = decoder(ctx), decoder_runner(ctx)
        pool = token_pool(dec.tokenizer.get_vocab(), settings["id_below"], settings["min_letters"])
        settings = {**settings, "pool_size": len(pool), "vocab_size": dec.config.vocab_size}
        r, n = settings["sequences"], settings["tokens"]
        draws = draw(pool, range(r), n)
        targets = repeat_targets(draws.repeat)
        t1 = time.perf_counter()
        rep = runner.run(list(draws.repeat))
        rep_att = np.stack([x.attentions for x in rep])  # [R, L, H, 2N, 2N]
        rep_losses = np.stack([x.losses for x in rep])
        del rep
        tw = runner.run(list(draws.twin))
        tw_att = np.stack([x.attentions for x in tw])
        tw_losses = np.stack([x.losses for x in tw])
        del tw
        t2 = time.perf_counter()
        s = scores(rep_att, tw_att, targets, settings)
        del rep_att, tw_att
        t3 = time.perf_counter()
        m = settings["shuffled_sequences"]
        sh = runner.run(list(draws.shuffled[:m]))
        ctl = control(np.stack([x.attentions for x in sh]), draws.order[:m])
        del sh
        t4 = time.perf_counter()
        held = draw(pool, range(r, r + settings["ablation_sequences"]), n)
        top = rank(s["induction"].mean(0))
        partners = partners_of(s["previous"].mean(0), top[: settings["top_heads"]], settings["partners"])
        shape = s["induction"].shape[1:]

        def run_losses(gates):
            return np.stack([x.losses for x in runner.run(list(held.repeat), weights=False, head_gates=gates)])

        abl = ablation(run_losses, n, top, partners, shape, settings)
        t5 = time.perf_counter()
        facts, tables = compute(draws, s, ctl, rep_losses, tw_losses, abl, settings)
        ctx.log(f"induction: {2 * r} sequences with weights {t2 - t1:.1f} s, scores and nulls {t3 - t2:.1f} s, "
                f"{m} shuffled {t4 - t3:.1f} s, ablation ({1 + len(settings['ks']) * (1 + settings['random_draws']) + 1} "
                f"runs of {settings['ablation_sequences']}) {t5 - t4:.1f} s; measured in {time.perf_counter() - t0:.1f} s")
        return rounded({"facts": facts, "tables": tables}, PRECISION)

    return cached(ctx, "induction", run, module=__name__, files=[SETTINGS_FILE], extra=decoder_extra())
