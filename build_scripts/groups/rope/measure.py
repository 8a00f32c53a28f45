"""Rotary positions with SmolLM2's own numbers: attention against distance over a corpus, and one
head's score for a fixed pair of vectors as the offset varies.

The decoder adds no position vectors. Each layer rotates every query and key pair by pair, by an
angle proportional to its position (:func:`attn_jax.llama.rope_angles`, :func:`attn_jax.llama.apply_rope`),
so a query at t and a key at s meet at an angle set by the offset d = t - s alone. This module
measures what that gives, with the measures of :mod:`attn_jax.analysis`, and knows nothing of charts.

Axis legend: N sentences, L layers, H query heads, G key/value heads, D head dim, K offsets, n tokens.

- *Attention against distance*: the *attention by offset* of every layer and head over the
  Winograd collection's decoder run (the build's shared run, every sentence, none dropped), against
  its uniform null, for d = 0..``max_offset``; once with every key, once with the first token left
  out as a key (rows renormalised over the others). The first token is an attention sink (another
  group measures it): it takes most of many heads' attention, and at a large offset most queries
  that have a key there are the ones whose key there *is* the first token, so with it kept the
  curve at large d measures the sink, not distance. Intervals: 95%, Winograd pairs resampled
  (*ratio bootstrap*); per layer the mean over its heads, without interval.
- *One head's score against the offset*: the strongest previous-token head (attention by offset
  at d = 1) among the first ``early_layers`` layers; its query and key vectors before rotation,
  computed with the model's own layers (:func:`attn_jax.llama.run_layers` up to that layer, then
  its RMSNorm and projections) and checked against the shared run's attention. The example pair:
  in schema ``sentence``, the pronoun's query and the key of the token before it (the pair this
  head links). The query is rotated to p + d and the key to p with :func:`~attn_jax.llama.apply_rope`
  (float32, as the model runs) for each base position p, the *rotary score* against d compared with
  its float64 closed form and the rounding bound.
- *Position, not content*: for the pronoun's query of every schema against each earlier key of its
  sentence, the offset where the closed-form score peaks (d = 0..``max_distance``); the share
  peaking at d = 1, against random vector pairs (the control: what a pair of Gaussian vectors gives).
- *Wavelengths*: 2 pi base^(2i/D) per rotary pair, from the config.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from attn_jax import analysis as A
from build_scripts.pipeline.artifacts import ROOT, rounded
from build_scripts.pipeline.config import ConfigError, read_toml

CONFIG = Path(__file__).with_name("settings.toml")
SETTINGS_FILE = str(CONFIG.relative_to(ROOT))
SETTINGS = ("max_offset", "far_offset", "bootstrap_repeats", "seed", "early_layers", "sentence", "max_distance",
            "random_pairs")
PRECISION = 4  # decimals kept in facts.json and the tables (the prose shows 2 or 3)
LEVEL = 0.95  # of every interval
VARIANTS = ("all keys", "first token left out")


def load_settings(path: Path = CONFIG) -> dict:
    """The ``[settings]`` table of ``settings.toml``; ConfigError names any problem."""
    raw = read_toml(path)
    s = raw.get("settings", {})
    bad = [k for k in SETTINGS if not isinstance(s.get(k), int) or s[k] < (0 if k in ("seed", "sentence") else 1)]
    positions = s.get("base_positions")
    if not (isinstance(positions, list) and len(positions) >= 2 and all(isinstance(p, int) and p >= 0 for p in positions)):
        bad.append("base_positions")
    if bad:
        raise ConfigError(f"{path}: [settings] lacks a valid value for {bad} (positive integers; seed and sentence "
                          f">= 0; base_positions a list of two or more positions); see the comments there")
    if s["far_offset"] > s["max_offset"]:
        raise ConfigError(f"{path}: far_offset ({s['far_offset']}) must be at most max_offset ({s['max_offset']})")
    return s


# --- attention against distance ------------------------------------------------------------------


def distance(attentions: list, pair: list[int], settings: dict) -> tuple[dict, dict]:
    """Attention by offset of every layer and head (module doc): ``(facts, tables)``.

    attentions: N arrays ``[L, H, n_i, n_i]``; pair: Winograd pair id per sentence (-1 = unpaired).
    Tables: per variant the pooled mean ``[L, H, K]``, the null ``[K]``, the overall interval
    ``[K]`` each side and the queries per offset ``[K]``.
    """
    k, far, reps, seed = settings["max_offset"], settings["far_offset"], settings["bootstrap_repeats"], settings["seed"]
    cluster = A.clusters(np.asarray(pair))
    facts, tables = {}, {}
    for variant in VARIANTS:
        sums, counts, null = A.offset_attention(attentions, k, skip_first=variant != VARIANTS[0])  # [N, L, H, K]
        mean = A.pooled(sums, counts)  # [L, H, K]
        null_mean = A.pooled(null, counts)  # [K]
        overall = sums.mean((1, 2))  # [N, K]: the mean over every head, per sentence
        low, high = A.ratio_bootstrap(overall, counts, cluster, reps, seed, LEVEL)  # [K]
        all_heads = mean.mean((0, 1))  # [K]
        by_layer = mean.mean(1)  # [L, K]

        def at(d: int) -> dict:
            return {"mean": all_heads[d], "low": low[d], "high": high[d], "null": null_mean[d],
                    "ratio": all_heads[d] / null_mean[d], "queries": int(counts[:, d].sum())}

        key = "all_keys" if variant == VARIANTS[0] else "without_first"
        facts[key] = {"d0": at(0), "d1": at(1), "far": at(far), "max": at(k),
                      "layers_d1_above_null": int((by_layer[:, 1] > null_mean[1]).sum()),
                      "layers_far_below_null": int((by_layer[:, far] < null_mean[far]).sum())}
        tables[key] = {"mean": mean, "null": null_mean, "low": low, "high": high, "queries": counts.sum(0)}
    first = np.concatenate([a[..., 1:, 0].reshape(-1) for a in attentions])  # every weight on key 0, queries t >= 1
    facts["first_token_share"] = float(first.astype(np.float64).mean())
    w = facts["without_first"]
    sharpest = int(tables["without_first"]["mean"].mean(1)[:, 1].argmax())  # the layer with most weight at d = 1
    facts["sharpest_layer"] = {"layer_1based": sharpest + 1,
                               "d1": float(tables["without_first"]["mean"].mean(1)[sharpest, 1])}
    facts["verdicts"] = {
        # the next-door key gets more than an even spread would give it (whole interval above the null)
        "recent_above_null": bool(w["d1"]["low"] > w["d1"]["null"]),
        # and a key far back less (whole interval below it)
        "distant_below_null": bool(w["far"]["high"] < w["far"]["null"]),
        # with the first token kept, the far end rises above the null: the sink, not distance
        "far_rise_is_the_sink": bool(facts["all_keys"]["far"]["low"] > facts["all_keys"]["far"]["null"]
                                     and w["far"]["high"] < w["far"]["null"]),
    }
    return facts, tables


# --- one head's vectors --------------------------------------------------------------------------


def head_vectors(dec, ids: list, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """Layer ``layer``'s query and key vectors before rotation for id sequences ``ids``:
    ``(q [N, n, H, D], k [N, n, G, D])``, padded on the right to the longest (a pad is never seen
    by a real token under the causal mask); the model's own layers, norm and projections."""
    import jax
    import jax.numpy as jnp

    from attn_jax import llama

    cfg = dec.config
    batch = np.zeros((len(ids), max(len(s) for s in ids)), np.int32)
    for row, s in enumerate(ids):
        batch[row, : len(s)] = s
    before = {**dec.params, "layers": jax.tree.map(lambda a: a[:layer], dec.params["layers"])}
    x, _, _ = llama.run_layers(before, jnp.asarray(batch), jnp.ones((layer, cfg.num_heads), jnp.float32),
                               llama.NO_WINDOW, jnp.int32(0), cfg=cfg, weights=False)  # [N, n, M] into layer `layer`
    p = jax.tree.map(lambda a: a[layer], dec.params["layers"])
    h = llama.rms_norm(x, p["attention_norm"], cfg.rms_norm_eps)
    q = llama.split_heads(h @ p["attention"]["query"], cfg.num_heads)
    k = llama.split_heads(h @ p["attention"]["key"], cfg.num_kv_heads)
    return np.asarray(q), np.asarray(k)


def rotated_scores(q: np.ndarray, k: np.ndarray, position: int, offsets: np.ndarray, cfg) -> np.ndarray:
    """The rotary score as the model computes it (float32): q ``[D]`` rotated to ``position + d``
    for each offset d, k ``[D]`` to ``position``, by :func:`attn_jax.llama.apply_rope` -> ``[K]``."""
    import jax.numpy as jnp

    from attn_jax import llama

    cos_q, sin_q = llama.rope_angles(jnp.asarray(position + offsets, jnp.int32), cfg.head_dim, cfg.rope_theta)
    cos_k, sin_k = llama.rope_angles(jnp.asarray([position], jnp.int32), cfg.head_dim, cfg.rope_theta)
    qs = jnp.broadcast_to(jnp.asarray(q, jnp.float32), (len(offsets), len(q)))[None, :, None]  # [1, K, 1, D]
    q_rot = np.asarray(llama.apply_rope(qs, cos_q, sin_q))[0, :, 0]  # [K, D]
    k_rot = np.asarray(llama.apply_rope(jnp.asarray(k, jnp.float32)[None, None, None], cos_k, sin_k))[0, 0, 0]  # [D]
    return A.scaled_dots(q_rot, k_rot)


def model_weights(q: np.ndarray, k: np.ndarray, cfg) -> np.ndarray:
    """The attention a head gives with these vectors, rotated by position: q ``[N, n, D]``,
    k ``[N, n, D]`` (padded on the right) -> ``[N, n, n]`` (causal; the check that the vectors are the
    model's: each sentence's rows equal the model's attention)."""
    import jax.numpy as jnp

    from attn_jax import llama, multi_head_attention

    n = q.shape[1]
    pos = jnp.arange(n, dtype=jnp.int32)
    cos, sin = llama.rope_angles(pos, cfg.head_dim, cfg.rope_theta)
    qr, kr = (llama.apply_rope(jnp.asarray(x)[:, :, None], cos, sin) for x in (q, k))  # [N, n, 1, D]
    _, w = multi_head_attention(qr, kr, kr, llama.decoder_mask(pos, pos)[None, None])  # [N, 1, n, n]
    return np.asarray(w)[:, 0]


def token_at(tokens, text: str, char: int) -> int | None:
    """The token whose text covers character ``char`` of ``text``; None when the token texts do not
    spell the text (a character cut between byte-level tokens: its position is not known)."""
    if "".join(tokens) != text:
        return None
    ends = np.cumsum([len(t) for t in tokens])
    return int(np.searchsorted(ends, char, side="right"))


def rotary(dec, schemas: list, results: list, head_scores: np.ndarray, settings: dict) -> tuple[dict, dict]:
    """The example head's score against the offset, and the peak statistic (module doc): ``(facts, tables)``.

    head_scores ``[L, H]``: every head's previous-token score (attention by offset at d = 1)."""
    cfg = dec.config
    early = settings["early_layers"]
    layer, head = divmod(int(head_scores[:early].argmax()), cfg.num_heads)
    group = head // (cfg.num_heads // cfg.num_kv_heads)  # the key/value head it reads (repeat_kv's rule)
    q_all, k_all = head_vectors(dec, [r.ids for r in results], layer)  # [N, n, H, D], [N, n, G, D]
    q_all, k_all = q_all[:, :, head], k_all[:, :, group]  # [N, n, D]

    # the pronoun's query in every schema; the reconstruction checked against the shared run
    pronouns = [token_at(r.tokens, s.text, s.pronoun[0]) for s, r in zip(schemas, results)]
    rebuilt = model_weights(q_all, k_all, cfg)  # [N, n, n]
    worst = max(float(np.abs(rebuilt[i, : len(r.ids), : len(r.ids)] - r.attentions[layer, head]).max())
                for i, r in enumerate(results))
    if worst > 1e-4:
        raise RuntimeError(f"layer {layer + 1}, head {head + 1}: the rebuilt attention differs from the model's by "
                           f"{worst:.1e}; the vectors are not the model's")

    i = settings["sentence"]
    t = pronouns[i]
    if t is None or t < 1:
        raise ConfigError(f"{SETTINGS_FILE}: schema {i}'s pronoun is its first token, or its tokens do not spell "
                          f"the text; choose another sentence")
    q, k = q_all[i, t], k_all[i, t - 1]
    offsets = np.arange(settings["max_distance"] + 1)
    positions = settings["base_positions"]
    if max(positions) + offsets[-1] >= cfg.context_length:
        raise ConfigError(f"{SETTINGS_FILE}: base_positions + max_distance must stay below the context "
                          f"({cfg.context_length})")
    closed = A.rotary_scores(q, k, offsets, cfg.rope_theta)  # [K] float64
    curves = np.stack([rotated_scores(q, k, p, offsets, cfg) for p in positions])  # [P, K]
    bounds = np.stack([A.rotary_rounding_bound(q, k, p, offsets) for p in positions])  # [P, K]
    off = np.abs(curves - closed)
    others = np.delete(closed, 1)
    # every earlier key of the example sentence against the pronoun's query
    per_key = A.rotary_scores(q, k_all[i, :t], offsets, cfg.rope_theta)  # [t, K]

    # the peak statistic over the collection: the pronoun's query against each earlier key
    kept = [j for j, t_j in enumerate(pronouns) if t_j]  # a pronoun located after the first token
    peaks = np.concatenate([A.rotary_scores(q_all[j, pronouns[j]], k_all[j, : pronouns[j]], offsets,
                                            cfg.rope_theta).argmax(-1) for j in kept])
    rng = np.random.default_rng(settings["seed"])
    rq, rk = rng.standard_normal((2, settings["random_pairs"], cfg.head_dim))
    random_peaks = A.rotary_scores(rq, rk, offsets, cfg.rope_theta).argmax(-1)
    share, random_share = float((peaks == 1).mean()), float((random_peaks == 1).mean())

    # which rotary pairs carry the example's score: |zq_i| |zk_i| / sqrt(D), the amplitude of pair i's term
    half = cfg.head_dim // 2
    amplitude = np.abs((q[:half] + 1j * q[half:]) * np.conj(k[:half] + 1j * k[half:])) / np.sqrt(cfg.head_dim)
    waves = A.rope_wavelengths(cfg.head_dim, cfg.rope_theta)
    top = np.argsort(-amplitude)[:4]
    tokens = results[i].tokens
    facts = {
        "head": {"layer_1based": layer + 1, "head_1based": head + 1, "kv_head_1based": group + 1,
                 "previous_token_score": float(head_scores[layer, head]), "early_layers": early,
                 "reconstruction_max_diff": worst},
        "example": {"sentence": schemas[i].text, "schema": i, "query": tokens[t].strip(), "key": tokens[t - 1].strip(),
                    "query_position": t, "weight": float(results[i].attentions[layer, head, t, t - 1]),
                    "uniform": 1.0 / (t + 1), "keys": t},
        "curve": {
            "max_distance": int(offsets[-1]), "base_positions": list(positions),
            "peak_offset": int(closed.argmax()), "score_d1": float(closed[1]), "score_d0": float(closed[0]),
            "best_other": {"offset": int(np.arange(len(closed))[np.arange(len(closed)) != 1][others.argmax()]),
                           "score": float(others.max())},
            "min": float(closed.min()), "max_abs": float(np.abs(closed).max()),
            "max_diff_between_positions": float(np.abs(curves - curves[0]).max()),
            "max_diff_closed_form": float(off.max()),
            "rounding_bound": float(bounds.max()),
        },
        "keys_peaking_at_1": {"count": int((per_key.argmax(-1) == 1).sum()), "of": t},
        "collection": {"vector_pairs": int(len(peaks)), "schemas": len(kept), "dropped": len(results) - len(kept),
                       "dropped_why": "the pronoun's token not located: the tokens do not spell the text",
                       "share_peaking_at_1": share,
                       "random_pairs": settings["random_pairs"], "random_share_peaking_at_1": random_share,
                       "low": A.wilson_interval(float((peaks == 1).sum()), len(peaks))[0],
                       "high": A.wilson_interval(float((peaks == 1).sum()), len(peaks))[1]},
        # i counts rotary pairs from 0, as in the wavelength 2 pi base^(2i/D)
        "top_rotary_pairs": [{"i": int(j), "wavelength": float(waves[j]), "amplitude": float(amplitude[j])}
                             for j in top],
        "verdicts": {
            # every float32 curve lies within its rounding bound of the closed form, a function of d alone
            "offset_only": bool((off <= bounds).all()),
            "peaks_at_previous_token": bool((curves.argmax(-1) == 1).all()),
            # the head prefers the previous position whatever the key: most pairs peak at d = 1, far
            # more than random vectors do (whole interval above the random share)
            "position_not_content": bool(share > 0.5
                                         and A.wilson_interval(float((peaks == 1).sum()), len(peaks))[0] > random_share),
        },
    }
    tables = {"offsets": offsets, "closed": closed, "curves": curves, "amplitude": amplitude}
    return facts, tables


def wavelengths(cfg) -> dict:
    """The wavelength facts of the config's rotary pairs (module doc)."""
    waves = A.rope_wavelengths(cfg.head_dim, cfg.rope_theta)
    return {"pairs": len(waves), "base": cfg.rope_theta, "head_dim": cfg.head_dim, "context": cfg.context_length,
            "shortest": float(waves[0]), "second": float(waves[1]), "longest": float(waves[-1]),
            "turn_within_context": int((waves <= cfg.context_length).sum()),
            "turn_within_2048": int((waves <= 2048).sum()),
            "slower_than_context": int((waves > cfg.context_length).sum()),
            # the slowest pair's angle after a whole context, in degrees: how little it turns
            "longest_turn_degrees_at_context": float(360.0 * cfg.context_length / waves[-1])}


def measure(ctx) -> dict:
    """``{"facts", "tables"}``: computed, or from the cache when nothing that shapes them changed."""
    from build_scripts.pipeline.cache import cached
    from build_scripts.pipeline.models import COLLECTION_FILE, decoder, decoder_corpus, decoder_extra
    from build_scripts.pipeline.winograd import load_collection, pair_ids

    def run() -> dict:
        settings = load_settings(ctx.root / SETTINGS_FILE)
        schemas = load_collection(ctx.root / COLLECTION_FILE)
        results = decoder_corpus(ctx, "Winograd collection", [s.text for s in schemas])
        dec = decoder(ctx)
        t0 = time.perf_counter()
        pairs = pair_ids(schemas)
        dist_facts, dist_tables = distance([r.attentions for r in results], pairs, settings)
        ctx.log(f"attention by offset in {time.perf_counter() - t0:.1f} s")
        t1 = time.perf_counter()
        head_scores = dist_tables["all_keys"]["mean"][:, :, 1]  # [L, H]: previous-token scores
        rot_facts, rot_tables = rotary(dec, schemas, results, head_scores, settings)
        ctx.log(f"rotary scores in {time.perf_counter() - t1:.1f} s (measured in {time.perf_counter() - t0:.1f} s)")
        facts = {"n_sentences": len(schemas), "dropped": 0, "n_pairs": len(set(pairs) - {-1}),
                 "unpaired": sum(p < 0 for p in pairs), "queries": int(sum(len(r.ids) for r in results)),
                 "max_offset": settings["max_offset"], "far_offset": settings["far_offset"],
                 "interval": {"level": LEVEL, "method": "percentile bootstrap, resampling Winograd pairs",
                              "repeats": settings["bootstrap_repeats"]},
                 "distance": {k: v for k, v in dist_facts.items() if k != "verdicts"},
                 **{k: v for k, v in rot_facts.items() if k != "verdicts"},
                 "wavelengths": wavelengths(dec.config),
                 "verdicts": {**dist_facts["verdicts"], **rot_facts["verdicts"]}}
        return rounded({"facts": facts, "tables": {"distance": dist_tables, "rotary": rot_tables}}, PRECISION)

    return cached(ctx, "rope", run, module=__name__, files=[COLLECTION_FILE, SETTINGS_FILE], extra=decoder_extra())
