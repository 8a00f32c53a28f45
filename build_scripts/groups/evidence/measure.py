"""Evidence at corpus scale: every claim about heads measured over the Winograd collection, with
controls. Reads the build's shared model runs (:mod:`build_scripts.pipeline.models`), runs the
pruning passes and the measures of :mod:`attn_jax.analysis`; returns plain tables and facts,
knows nothing of charts. The result is cached (:mod:`build_scripts.pipeline.cache`) by this
module's code and what it imports, the collection, the sentence config and the settings.

What is measured, and on what (the settings are in ``settings.toml`` next to this module):

- *Winograd*: every kept schema (see :mod:`build_scripts.pipeline.winograd`); the query is the pronoun's
  first WordPiece, a candidate's attention the sum over its WordPieces.
- *Head roles* and *weight vs contribution*: every sentence of the collection (all 285: the
  candidate rule plays no part there).
- *Head importance* (after Michel, Levy and Neubig, 2019): each head is removed in turn (its gate
  set to 0; 72 batched forward passes) and its importance is the mean 1 - cosine between the
  sentence embeddings with and without it. Removal, not a gradient: the distance to the full
  model's own output has zero gradient at gates = 1 (it is at its minimum), and the model's real
  objective (a contrastive loss over paraphrase pairs) needs paired data this corpus lacks. It is
  measured on one set of Winograd pairs and the pruning curves on another, held-out set, so
  the order is not fitted to the sentences it is judged on.
- *Pruning curves*: heads removed least important first, and in random orders as the control;
  at each step, the mean cosine of each sentence's embedding to the full model's, and the share
  of each sentence's nearest neighbours that survive.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from attn_jax import analysis as A
from build_scripts.pipeline.artifacts import ROOT, rounded
from build_scripts.pipeline.config import ConfigError, read_toml
from build_scripts.pipeline.winograd import drop_report, find_phrase, pair_ids, pieces_in_span

CONFIG = Path(__file__).with_name("settings.toml")
SETTINGS_FILE = str(CONFIG.relative_to(ROOT))
PRECISION = 4  # decimals kept in facts.json (the prose shows 2)
SETTINGS = ("null_repeats", "seed", "importance_pairs_every", "evaluation_pairs_every", "random_orders",
            "removal_step", "neighbours")


def load_settings(path: Path = CONFIG) -> dict:
    """The ``[settings]`` table of ``evidence.toml``; ConfigError names any problem."""
    raw = read_toml(path)
    settings = raw.get("settings", {})
    missing = [k for k in SETTINGS if not isinstance(settings.get(k), int) or settings[k] < 0]
    if missing:
        raise ConfigError(f"{path}: [settings] lacks a non-negative integer for {missing}; see the comments there")
    return settings


def word_pieces(tok, word: str, avoid=(0, 0)) -> list[int]:
    """WordPieces of the first whole-word occurrence of ``word`` in a tokenized sentence."""
    span = find_phrase(tok.text, word, avoid)
    if span is None:
        raise ConfigError(f"{word!r} is not a word of {tok.text!r}; name a word of that sentence in sentences.toml")
    return pieces_in_span(tok.offsets, tok.special, span)


def _head(flat_index: int, heads: int) -> dict:
    return {"layer_1based": flat_index // heads + 1, "head_1based": flat_index % heads + 1}


def winograd(schemas, results, settings) -> tuple[dict, dict]:
    """Coreference by every head over the kept schemas: ``(facts, tables)``."""
    pairs = pair_ids(schemas)
    kept, to_a, to_b, share, even, a_first, no_piece = [], [], [], [], [], [], 0
    for s, r in zip(schemas, results):
        if s.dropped:
            continue
        tok = r.tokenized
        q = pieces_in_span(tok.offsets, tok.special, s.pronoun)
        pa, pb = (pieces_in_span(tok.offsets, tok.special, sp) for sp in s.spans)
        if not (q and pa and pb):
            no_piece += 1
            continue
        kept.append(s)
        to_a.append(A.candidate_attention(r.attentions, q[0], pa))
        to_b.append(A.candidate_attention(r.attentions, q[0], pb))
        sh, ev = A.candidate_share(r.attentions, q[0], pa, pb)
        share.append(sh)
        even.append(ev)
        a_first.append(s.spans[0][0] < s.spans[1][0])
    correct = np.array([s.correct for s in kept])
    pair = np.array([pairs[s.index] for s in kept])
    right = A.choice_accuracy(np.stack(to_a), np.stack(to_b), correct)  # [N, L, H]
    n, (layers, heads) = len(kept), right.shape[1:]
    acc = right.mean(0)
    consistency, complete = A.pair_consistency(right, pair)
    null = A.best_head_null(right, pair, settings["null_repeats"], settings["seed"])
    best = int(acc.argmax())
    repeats, seed = settings["null_repeats"], settings["seed"]
    low, high = A.pair_bootstrap(right, pair, repeats, seed)  # [L, H] each, whole pairs resampled
    mean_low, mean_high = A.pair_bootstrap(right.mean((1, 2)), pair, repeats, seed)  # the mean head
    p95 = float(np.percentile(null, 95))
    p_best = A.null_p_value(null, float(acc.flat[best]))  # (1 + hits) / (1 + R): never 0
    share, even = np.stack(share).mean(0), float(np.mean(even))  # [L, H], scalar
    top_share = int(share.argmax())
    first = A.first_mention_preference(np.stack(to_a), np.stack(to_b), np.array(a_first))  # [N, L, H]
    f_low, f_high = A.pair_bootstrap(first, pair, repeats, seed)
    facts = {
        "n": n, "dropped_no_piece": no_piece, "complete_pairs": complete, "chance": 0.5,
        "pairs_in_interval": int(A.clusters(pair).max() + 1),
        "best": {**_head(best, heads), "accuracy": float(acc.flat[best]), "low": float(low.flat[best]),
                 "high": float(high.flat[best]), "pair_consistency": float(consistency.flat[best])},
        "mean_head_accuracy": float(acc.mean()), "mean_head_low": float(mean_low), "mean_head_high": float(mean_high),
        "worst_head_accuracy": float(acc.min()), "mean_pair_consistency": float(consistency.mean()),
        "heads_interval_above_chance": int((low > 0.5).sum()),
        "null": {"repeats": repeats, "p95": p95, "mean": float(null.mean()), "p_best": p_best},
        "heads_over_null_p95": int((acc >= p95).sum()),
        "candidates": {"even_share": even, "mean_share": float(share.mean()), "mean_over_even": float(share.mean() / even),
                       "heads_over_even": int((share > even).sum()),
                       "top": {**_head(top_share, heads), "share": float(share.flat[top_share]),
                               "accuracy": float(acc.flat[top_share])}},
        "first_mention": {"a_first": int(np.sum(a_first)), "mean_head": float(first.mean()),
                          "heads_prefer_first": int((f_low > 0.5).sum()), "heads_prefer_second": int((f_high < 0.5).sum())},
    }
    facts["verdicts"] = {
        # the best of 72 heads, judged against the best of 72 under shuffled answers (corrected)
        "best_above_chance_corrected": p_best < 0.05,
        # its interval from whole pairs, the selection not accounted for
        "best_interval_excludes_chance": float(low.flat[best]) > 0.5,
        "mean_head_interval_includes_chance": float(mean_low) <= 0.5 <= float(mean_high),
        "some_head_above_null": int((acc >= p95).sum()) > 0,
        # "about the even share": within a quarter of it either way
        "mean_head_near_even": 0.8 <= share.mean() / even <= 1.25,
        "minority_over_even": int((share > even).sum()) < share.size / 2,
        "most_heads_prefer_first": int((f_low > 0.5).sum()) > share.size / 2,
    }
    tables = {"accuracy": acc, "low": low, "high": high, "share": share, "consistency": consistency, "null": null,
              "first_mention": first.mean(0), "first_low": f_low, "first_high": f_high}
    return facts, tables


def roles(results) -> tuple[dict, np.ndarray, np.ndarray]:
    """Head roles over a corpus: ``(facts, shares [L, H, len(ROLES)], median scores [L, H, 5])``."""
    scores = np.stack([A.role_scores(r.attentions, r.tokenized.special) for r in results])  # [N, L, H, 5]
    shares = A.role_shares(A.head_roles(scores))
    major = shares.argmax(-1)  # [L, H] each head's most frequent role
    heads = shares.shape[1]
    facts = {"n": len(results), "threshold": A.ROLE_THRESHOLD, "by_role": {}}
    for i, name in enumerate(A.ROLES):
        key = name.strip("[]").replace("] ", "_").replace(" ", "_").lower()
        top = int(shares[..., i].argmax())
        facts["by_role"][key] = {"heads": int((major == i).sum()), "mean_share": float(shares[..., i].mean()),
                                 "top": {**_head(top, heads), "share": float(shares[..., i].flat[top])}}
    counts = [int((major == i).sum()) for i in range(len(A.ROLES))]
    patterns = counts[:-1]  # the five simple patterns, "none" left out
    facts["most_common"] = {"role": A.ROLES[int(np.argmax(counts))], "heads": max(counts),
                            "pattern": A.ROLES[int(np.argmax(patterns))], "pattern_heads": max(patterns)}
    facts["verdicts"] = {"most_common_is_none": A.ROLES[int(np.argmax(counts))] == "none",
                         "broadcast_head_exists": counts[A.ROLES.index("broadcast")] > 0}
    return facts, shares, np.median(scores, axis=0)


def link(result, cfg: dict, shares: np.ndarray, medians: np.ndarray) -> dict:
    """The specificity control for "``query`` attends to ``expect``" in one sentence, over every
    head: the head with the strongest link and the most specific one (largest excess of the link
    over what the other tokens give ``expect``), each with its most frequent corpus role and its
    broadcast score in this sentence against its median over the corpus."""
    tok = result.tokenized
    q = word_pieces(tok, cfg["query"])[0]
    b = word_pieces(tok, cfg["expect"])
    a_to_b, others = A.specificity(result.attentions, q, b)  # [L, H] each
    here = A.role_scores(result.attentions, tok.special)  # [L, H, 5]
    heads = a_to_b.shape[1]
    out = {"n_tokens": len(tok.tokens), "uniform": 1.0 / len(tok.tokens), "heads_over_0_3": int((a_to_b > 0.3).sum())}
    broadcast = A.ROLES.index("broadcast")
    for name, flat in (("strongest", int(a_to_b.argmax())), ("specific", int((a_to_b - others).argmax()))):
        l, h = divmod(flat, heads)
        role = int(shares[l, h].argmax())
        out[name] = {**_head(flat, heads), "weight": float(a_to_b[l, h]), "others": float(others[l, h]),
                     "role": A.ROLES[role], "role_share": float(shares[l, h, role]),
                     "broadcast_here": float(here[l, h, broadcast]), "broadcast_corpus_median": float(medians[l, h, broadcast])}
    return out


def worked_pair(results, cfg: dict, heads_of_interest: dict) -> dict:
    """The pronoun's weight on both candidates in both sentences, for the named heads, and how
    many heads choose the correct candidate in both (a *switch*). The first candidate is the
    referent in the first sentence, the second in the second."""
    w = []  # [2 sentences, 2 candidates, L, H]
    for r in results:
        q = word_pieces(r.tokenized, cfg["query"])[0]
        w.append([A.candidate_attention(r.attentions, q, word_pieces(r.tokenized, c)) for c in cfg["candidates"]])
    w = np.asarray(w)
    idx = [0, 1]
    right = [(w[s, idx[s]] > w[s, 1 - idx[s]]) for s in range(2)]
    out = {"heads_switch": int((right[0] & right[1]).sum()), "heads": {}}
    for name, h in heads_of_interest.items():
        l, k = h["layer_1based"] - 1, h["head_1based"] - 1
        out["heads"][name] = {**h, **{f"{sent}_{cand}": float(w[s, c, l, k])
                                      for s, sent in enumerate(("first", "second"))
                                      for c, cand in enumerate(cfg["candidates"])}}
    return out


def contribution(results, w_out: np.ndarray) -> list[dict]:
    """Per layer: the share of attention weight on [CLS] and [SEP] against their share of the norm
    of what moves (Kobayashi et al., 2020), averaged over sentences, heads and queries.
    w_out ``[L, H*D, M]``."""
    layers = w_out.shape[0]
    rows = np.zeros((layers, 4))
    for r in results:
        norms = np.stack([A.contribution_norms(r.attentions[l], r.v[l], w_out[l]) for l in range(layers)])  # [L, H, n, n]
        (cw, sw), (cn, sn) = A.special_shares(r.attentions), A.special_shares(norms)  # each [L, H]
        rows += np.stack([cw.mean(-1), cn.mean(-1), sw.mean(-1), sn.mean(-1)], -1)
    rows /= len(results)
    return [{"layer_1based": i + 1, "cls_weight": float(a), "cls_contribution": float(b), "sep_weight": float(c),
             "sep_contribution": float(d)} for i, (a, b, c, d) in enumerate(rows)]


def pruning(runner, texts: list[str], pairs: list[int], settings: dict, log=print) -> tuple[dict, dict]:
    """Ablation importance on one set of pairs, pruning curves on a held-out set: ``(facts, tables)``."""
    cfg = runner.encoder.config
    layers, heads = cfg.num_hidden_layers, cfg.num_attention_heads
    total = layers * heads
    imp_set = [t for t, p in zip(texts, pairs) if p >= 0 and p % settings["importance_pairs_every"] == 0]
    eval_set = [t for t, p in zip(texts, pairs) if p >= 0 and p % settings["evaluation_pairs_every"] == 1]
    gates = np.ones((total + 1, total), np.float32)
    gates[np.arange(1, total + 1), np.arange(total)] = 0.0  # row 0: full model; row 1 + i: head i removed
    log(f"importance: {total} heads removed one at a time, {len(imp_set)} sentences")
    emb = runner.embeddings(imp_set, gates.reshape(-1, layers, heads), reuse_prefix=True)
    importance = A.ablation_importance(emb[0], emb[1:])  # [72]
    rng = np.random.default_rng(settings["seed"])
    orders = [np.argsort(importance, kind="stable")] + [rng.permutation(total) for _ in range(settings["random_orders"])]
    steps = list(range(0, total + 1, settings["removal_step"]))
    curve_gates = np.ones((len(orders), len(steps), total), np.float32)
    for o, order in enumerate(orders):
        for s, k in enumerate(steps):
            curve_gates[o, s, order[:k]] = 0.0
    # every order starts from the full model and ends with no head: run those two once
    inner = curve_gates[:, 1:-1].reshape(-1, layers, heads)
    log(f"pruning: {len(orders)} orders x {len(steps)} steps, {len(eval_set)} held-out sentences")
    emb = runner.embeddings(eval_set, np.concatenate([curve_gates[0, [0, -1]].reshape(2, layers, heads), inner]))
    full, empty = emb[0], emb[1]
    curves = np.concatenate([np.broadcast_to(full, (len(orders), 1, *full.shape)),
                             emb[2:].reshape(len(orders), len(steps) - 2, *full.shape),
                             np.broadcast_to(empty, (len(orders), 1, *full.shape))], axis=1)
    cos = A.cosine_rows(np.broadcast_to(full, curves.shape), curves).mean(-1)  # [orders, steps]
    nn = np.array([[A.neighbour_overlap(full, c, settings["neighbours"]) for c in row] for row in curves])
    shares = np.array(steps) / total
    facts = {"importance_sentences": len(imp_set), "evaluation_sentences": len(eval_set), "heads": total,
             "random_orders": settings["random_orders"], "neighbours": settings["neighbours"],
             "most_important": {**_head(int(importance.argmax()), heads), "importance": float(importance.max())},
             "least_important": {**_head(int(importance.argmin()), heads), "importance": float(importance.min())},
             "evaluation_pairs": len({p for p in pairs if p >= 0 and p % settings["evaluation_pairs_every"] == 1}),
             "importance_pairs": len({p for p in pairs if p >= 0 and p % settings["importance_pairs_every"] == 0}),
             # every head removed: what the embeddings keep from the token and position embeddings alone
             "floor": {"cosine": float(cos[0, -1]), "neighbours": float(nn[0, -1])},
             "at": {}, "verdicts": {}}
    for share in (0.25, 0.5):
        s = int(np.flatnonzero(np.isclose(shares, share))[0])
        facts["at"][f"{round(share * 100)}"] = {
            "heads_removed": steps[s], "cosine_importance": float(cos[0, s]), "cosine_random": float(cos[1:, s].mean()),
            "cosine_random_min": float(cos[1:, s].min()), "neighbours_importance": float(nn[0, s]),
            "neighbours_random": float(nn[1:, s].mean())}
        facts["verdicts"][f"importance_beats_random_at_{round(share * 100)}"] = bool(
            cos[0, s] > cos[1:, s].max() and nn[0, s] >= nn[1:, s].mean())
    tables = {"importance": importance.reshape(layers, heads), "steps": steps, "share": shares, "cosine": cos,
              "neighbours": nn}
    return facts, tables


def compute(corpus, encoded, log=print) -> tuple[dict, dict]:
    """Everything above: ``(facts, tables)``. ``corpus``: the Winograd collection's model run
    (:func:`build_scripts.pipeline.models.winograd`); ``encoded``: the config sentences' run
    (:func:`build_scripts.pipeline.models.encoded`), with their roles."""
    settings = load_settings()
    schemas, results, config = corpus.schemas, corpus.results, encoded.config
    own = encoded.results
    log("coreference, roles, specificity, contribution")
    wino_facts, wino_tables = winograd(schemas, results, settings)
    role_facts, role_table, role_medians = roles(results)
    featured, pair = config.roles["featured"], config.roles["winograd"]
    link_facts = link(own[featured["sentence"]], featured, role_table, role_medians)
    for name in ("strongest", "specific"):  # do the cat sentence's heads follow the first mention over the corpus?
        h = link_facts[name]
        at = (h["layer_1based"] - 1, h["head_1based"] - 1)
        h["first_mention"] = {k: float(wino_tables[t][at]) for k, t in
                              (("share", "first_mention"), ("low", "first_low"), ("high", "first_high"))}
        h["prefers_first_mention"] = h["first_mention"]["low"] > 0.5
        h["broadcast_belongs_to_sentence"] = h["broadcast_here"] > h["broadcast_corpus_median"]
    interest = {"strongest": link_facts["strongest"], "specific": link_facts["specific"], "winograd_best": wino_facts["best"]}
    pair_facts = worked_pair([own[i] for i in pair["sentences"]], pair,
                             {k: {"layer_1based": v["layer_1based"], "head_1based": v["head_1based"]} for k, v in interest.items()})
    w_out = np.asarray(corpus.runner.encoder.params["layers"]["attention"]["output"]["w"])
    layers = contribution(results, w_out)
    prune_facts, prune_tables = pruning(corpus.runner, [s.text for s in schemas], pair_ids(schemas), settings, log)
    facts = {"winograd": {**wino_facts, "corpus": drop_report(schemas)}, "roles": role_facts, "link": link_facts,
             "pair": pair_facts, "contribution": layers, "sinks": sinks(layers), "pruning": prune_facts,
             "devices": corpus.runner.devices}
    tables = {"winograd": wino_tables, "roles": role_table, "contribution": layers, "pruning": prune_tables}
    return facts, tables


def sinks(layers: list[dict]) -> dict:
    """The layer with the most attention weight on [CLS], and the most [SEP] gets in any layer."""
    busiest = max(layers, key=lambda r: r["cls_weight"])
    return {"cls_busiest": busiest, "sep_weight_max": max(r["sep_weight"] for r in layers),
            "sep_busiest_layer": max(layers, key=lambda r: r["sep_weight"])["layer_1based"]}


def measure(ctx) -> dict:
    """``{"facts", "tables"}``: computed, or from the cache when nothing that shapes them changed."""
    from build_scripts.pipeline.cache import cached
    from build_scripts.pipeline.models import model_extra
    from build_scripts.pipeline.models import COLLECTION_FILE, CONFIG_FILE, encoded, winograd

    def run() -> dict:
        t0 = time.perf_counter()
        facts, tables = compute(winograd(ctx), encoded(ctx), ctx.log)
        ctx.log(f"measured in {time.perf_counter() - t0:.1f} s")
        return rounded({"facts": facts, "tables": tables}, PRECISION)

    return cached(ctx, "evidence", run, module=__name__, files=[COLLECTION_FILE, CONFIG_FILE, SETTINGS_FILE],
                  extra=model_extra())
