"""Attention sinks in SmolLM2 (Xiao et al. 2023): how much attention lands on the first token, whether
it follows the first position or the first token's identity, and what dropping it costs.

Reads the Winograd collection (its decoder run is the build's shared one,
:func:`build_scripts.pipeline.models.decoder_corpus`, "Winograd collection") and the article's own
prose, frozen in ``data/prose/article.txt``; runs the rest on the shared
:func:`build_scripts.pipeline.models.decoder_runner`; computes the measures of
:mod:`attn_jax.analysis`; returns facts and tables, knows nothing of charts. The result is cached
(:mod:`build_scripts.pipeline.cache`) by this module's code and what it imports, the two data files
and the settings.

Axis legend: N texts, L layers, H query heads, n tokens of one text. Layers and heads are 0-based
in arrays, 1-based in facts (``layer_1based``).

1. *The share* (:func:`attn_jax.analysis.first_token_share`): per head and text, the mean weight on
   the first token over every query but the first (query 0 sees only itself, so its weight there
   is 1 for any head), averaged over texts, each text once. Two corpora, reported apart because
   the share and its null depend on length: the 285 Winograd sentences (8 to 43 tokens) and the
   prose cut into passages of consecutive paragraphs (about 100 to 400 tokens, see
   :func:`passages`; every second one is run, evenly over the article, to keep the build within its
   time budget). Intervals resample texts, the unit that is drawn independently: a text's
   queries share its first token and its context, so resampling queries would count hundreds of
   correlated values as independent. Winograd sentences are resampled by pair (the two halves of
   a pair differ in one word, so they are near copies); passages one by one (they come from one
   article, so neighbours are not fully independent either; no coarser unit is available). The
   uniform null is the same mean for a head spreading its attention evenly.
2. *The control, position or identity* (:func:`control_inputs`): one sentence per Winograd pair and
   each unpaired one, cut to its first ``tokens`` tokens (cutting changes nothing before the cut:
   under the causal mask a query never sees later tokens, so the original's share is read from the
   shared run's rows). (a) *Swap*: the first token replaced by another word; does the new first
   token take the original's share? (b) *Prefix*: one word put before the original first token;
   over the same query tokens (the original's tokens 2 ..), does the share go to the new first
   token (position) or stay with the original first token, now second (identity)? Every share is
   the mean over all L x H heads (no heads picked, so no selection to correct for); intervals
   resample sentences. The sink *follows position* when the swapped first token keeps at least
   half of the original's share (the lower end of the ratio's interval) and, after the prefix, the
   new first token takes more than the old one (the difference's interval above 0).
3. *The window experiment* (:func:`perplexity_summary`): the first ``tokens`` tokens of the prose as
   one sequence through full causal attention, a window over the last ``window`` positions, and
   that window plus the first ``sinks`` positions. Positions stay those of the full text (the mask
   only hides keys; rotary scores depend on the offset alone, so a window query sees its recent
   keys exactly as in the full run); StreamingLLM instead renumbers the positions inside its cache,
   which changes only the sinks' offsets. Scored: the tokens predicted by the queries at positions
   >= ``window``, the only ones whose view differs (before that the window holds the whole text);
   intervals resample blocks of ``block`` tokens. The window *hurts* when its perplexity's ratio to
   full attention has an interval above 1; the sinks *restore* when they close at least half of
   the gap (in log perplexity) and their perplexity's ratio to the window alone has an interval
   below 1.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from attn_jax import analysis as A
from build_scripts.pipeline.artifacts import ROOT, rounded
from build_scripts.pipeline.config import ConfigError, read_toml

PROSE = ROOT / "data" / "prose" / "article.txt"
PROSE_FILE = str(PROSE.relative_to(ROOT))
CONFIG = Path(__file__).with_name("settings.toml")
SETTINGS_FILE = str(CONFIG.relative_to(ROOT))
PRECISION = 4  # decimals kept in facts.json (the prose shows 2)
LEVEL = 0.95  # of every interval
HALF = 0.5  # "most of its attention": a head or layer over half on the first token
LOW_LAYERS = 3  # the layers named for contrast: the lowest shares
KEEPS = 0.5  # the swap keeps the sink when the new first token keeps at least this share of the old one's
CLOSES = 0.5  # the sinks restore when they close at least this share of the window's gap
SECTIONS = {"settings": {"bootstrap_repeats": 1, "seed": 0},
            "prose": {"min_tokens": 2, "max_tokens": 2, "every": 1},
            "control": {"tokens": 3},
            "perplexity": {"tokens": 3, "window": 1, "sinks": 1, "block": 1}}


def load_settings(path: Path = CONFIG) -> dict:
    """The tables of ``settings.toml``; ConfigError names any problem and the fix."""
    raw = read_toml(path)
    for section, keys in SECTIONS.items():
        table = raw.get(section, {})
        bad = [k for k, least in keys.items() if not isinstance(table.get(k), int) or table[k] < least]
        if bad:
            raise ConfigError(f"{path}: [{section}] lacks an integer of at least {[keys[k] for k in bad]} for {bad}; "
                              "see the comments there")
    words = raw["control"].get("words")
    if not (isinstance(words, list) and len(words) >= 2 and all(isinstance(w, str) and w for w in words)):
        raise ConfigError(f"{path}: [control] words must be a list of at least two words; got {words!r}")
    if raw["prose"]["min_tokens"] > raw["prose"]["max_tokens"]:
        raise ConfigError(f"{path}: [prose] min_tokens is above max_tokens; swap them")
    p = raw["perplexity"]
    if not p["sinks"] < p["window"] < p["tokens"] - p["block"]:
        raise ConfigError(f"{path}: [perplexity] needs sinks < window < tokens - block (scored tokens beyond the "
                          f"window); got {p}")
    return raw


def paragraphs(text: str) -> list[str]:
    """The paragraphs of the frozen prose: blocks separated by blank lines, stripped."""
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def passages(counts: list[int], min_tokens: int, max_tokens: int) -> tuple[list[list[int]], list[int]]:
    """Consecutive paragraphs (token counts ``counts``) grouped into passages: ``(passages,
    dropped)``, each passage a list of paragraph indices, ``dropped`` the paragraphs left out.

    Paragraphs are added to a passage until it has ``min_tokens``; a paragraph that would take it
    past ``max_tokens`` starts the next one (a passage still short then is dropped), a paragraph
    longer than ``max_tokens`` alone is dropped, and a short remainder at the end joins the last
    passage when it fits, else it is dropped."""
    out, dropped, current, total = [], [], [], 0
    for i, c in enumerate(counts):
        if c > max_tokens:
            dropped += current + [i]
            current, total = [], 0
            continue
        if current and total + c > max_tokens:
            dropped += current
            current, total = [], 0
        current.append(i)
        total += c
        if total >= min_tokens:
            out.append(current)
            current, total = [], 0
    if current:
        if out and sum(counts[j] for j in out[-1]) + total <= max_tokens:
            out[-1] = out[-1] + current
        else:
            dropped += current
    return out, dropped


def representatives(pair: list[int]) -> list[int]:
    """Indices of one sentence per Winograd pair (the first) and of every unpaired one (pair id -1)."""
    seen, out = set(), []
    for i, p in enumerate(pair):
        if p < 0 or p not in seen:
            out.append(i)
            seen.add(p)
    return out


def control_inputs(ids: list, word_ids: list[int], tokens: int) -> tuple[list, list, list[int]]:
    """The control's id sequences: ``(swapped, prefixed, word)``. Sequence i is cut to its first
    ``tokens`` ids and gets word ``word[i]`` = ``i % len(word_ids)``, or the next one where that word
    is its own first token: (a) in place of its first id, (b) before it."""
    swapped, prefixed, chosen = [], [], []
    k = len(word_ids)
    for i, seq in enumerate(ids):
        seq = [int(x) for x in seq[:tokens]]
        w = next((j % k for j in range(i, i + k) if word_ids[j % k] != seq[0]), None)
        if w is None:
            raise ValueError("every control word equals the sequence's first token; give other words")
        chosen.append(w)
        swapped.append([word_ids[w]] + seq[1:])
        prefixed.append([word_ids[w]] + seq)
    return swapped, prefixed, chosen


def _interval(values: np.ndarray, cluster: np.ndarray, settings: dict) -> tuple[np.ndarray, np.ndarray]:
    s = settings["settings"]
    return A.pair_bootstrap(values, cluster, s["bootstrap_repeats"], s["seed"], LEVEL)


def _head(l: int, h: int) -> dict:
    return {"layer_1based": int(l) + 1, "head_1based": int(h) + 1}


def share_summary(shares: np.ndarray, nulls: np.ndarray, pair: np.ndarray, lengths: list[int],
                  settings: dict) -> tuple[dict, dict]:
    """Facts and tables of one corpus: shares ``[N, L, H]`` (:func:`attn_jax.analysis.first_token_share`
    per text), each text's uniform null ``[N]``, pair ids ``[N]`` (-1: a text is its own unit)."""
    shares = np.asarray(shares, np.float64)
    n, layers, heads = shares.shape
    by_layer = shares.mean(2)  # [N, L] mean over heads
    layer, (low, high) = by_layer.mean(0), _interval(by_layer, pair, settings)  # [L] each
    head, (head_low, head_high) = shares.mean(0), _interval(shares, pair, settings)  # [L, H] each
    overall = shares.mean((1, 2))  # [N]
    o_low, o_high = _interval(overall, pair, settings)
    null = float(np.mean(nulls))
    top = np.unravel_index(int(head.argmax()), head.shape)
    order = np.argsort(layer, kind="stable")
    facts = {
        "n_texts": n, "n_units": int(A.clusters(pair).max() + 1),
        "tokens": {"min": int(min(lengths)), "median": float(np.median(lengths)), "max": int(max(lengths)),
                   "total": int(sum(lengths))},
        "share": float(overall.mean()), "low": float(o_low), "high": float(o_high), "null": null,
        "share_over_null": float(overall.mean() / null),
        "heads": layers * heads, "heads_over_half": int((head > HALF).sum()),
        "layers": layers, "layers_over_half": int((layer > HALF).sum()),
        "layers_under_null": int((layer < null).sum()),
        "most_heads_over_half": bool((head > HALF).sum() > layers * heads / 2),
        "top_head": {**_head(*top), "share": float(head[top]), "low": float(head_low[top]),
                     "high": float(head_high[top])},
        "top_layer": {"layer_1based": int(layer.argmax()) + 1, "share": float(layer.max()),
                      "low": float(low[layer.argmax()]), "high": float(high[layer.argmax()])},
        "low_layers": [{"layer_1based": int(i) + 1, "share": float(layer[i]), "low": float(low[i]),
                        "high": float(high[i])} for i in order[:LOW_LAYERS]],
        "first_layer_over_half": next((int(i) + 1 for i in range(layers) if layer[i] > HALF), None),
    }
    tables = {"layer": layer, "low": low, "high": high, "head": head, "null": null}
    return facts, tables


def control_summary(original: np.ndarray, swapped: np.ndarray, new_first: np.ndarray, old_first: np.ndarray,
                    nulls: dict, word: list[int], words: list[str], settings: dict) -> dict:
    """Facts of the control from per-sentence shares ``[N]`` (each the mean over every head): the
    original first token's, the swapped first token's, and after the prefix the new first token's
    and the original first token's (now second), over the same query tokens in each comparison."""
    vals = {k: np.asarray(v, np.float64) for k, v in
            {"original": original, "swapped": swapped, "new_first": new_first, "old_first": old_first}.items()}
    n = len(vals["original"])
    unit = np.full(n, -1)  # every sentence its own unit (one per pair was kept)
    s = settings["settings"]

    def summary(v: np.ndarray) -> dict:
        low, high = _interval(v, unit, settings)
        return {"share": float(v.mean()), "low": float(low), "high": float(high)}

    ratio_low, ratio_high = A.ratio_bootstrap(vals["swapped"], vals["original"], A.clusters(unit),
                                              s["bootstrap_repeats"], s["seed"], LEVEL)
    moved = summary(vals["new_first"] - vals["old_first"])
    ratio = {"value": float(vals["swapped"].sum() / vals["original"].sum()), "low": float(ratio_low),
             "high": float(ratio_high)}
    word = np.asarray(word)
    facts = {
        "n": n, "words": words,
        "words_text": ", ".join("a line break" if w == "\n" else f'"{w.strip()}"' for w in words),
        "original": summary(vals["original"]) | {"null": nulls["original"]},
        "swapped": summary(vals["swapped"]) | {"null": nulls["original"], "ratio": ratio,
                                               "difference": summary(vals["swapped"] - vals["original"])},
        "by_word": [{"word": w, "n": int((word == i).sum()),
                     "share": float(vals["swapped"][word == i].mean()) if (word == i).any() else None}
                    for i, w in enumerate(words)],
        "prefixed": {"new_first": summary(vals["new_first"]), "old_first": summary(vals["old_first"]),
                     "null": nulls["prefixed"], "difference": moved,
                     "kept_by_new_first": float(vals["new_first"].sum() / vals["original"].sum())},
    }
    facts["verdicts"] = {"swap_keeps_share": bool(ratio_low >= KEEPS), "prefix_moves_share": bool(moved["low"] > 0)}
    return facts


def perplexity_summary(losses: dict, window: int, block: int, settings: dict) -> dict:
    """Facts of the window experiment from per-position losses ``[n-1]`` of the one sequence under
    ``losses["full"]``, ``["window"]`` and ``["sinks"]`` (the module doc says which are scored)."""
    scored = {k: np.asarray(v, np.float64)[window:] for k, v in losses.items()}  # queries at positions >= window
    m = len(scored["full"])
    cluster = A.blocks(m, block)

    def ppl(v: np.ndarray) -> dict:
        low, high = _interval(v, cluster, settings)
        return {"perplexity": A.perplexity(v), "low": float(np.exp(low)), "high": float(np.exp(high)),
                "loss": float(v.mean())}

    def ratio(a: str, b: str) -> dict:  # ppl(a) / ppl(b) = exp(mean loss difference), paired by token
        d = scored[a] - scored[b]
        low, high = _interval(d, cluster, settings)
        return {"value": float(np.exp(d.mean())), "low": float(np.exp(low)), "high": float(np.exp(high))}

    means = {k: float(v.mean()) for k, v in scored.items()}
    # 1-based positions of the scored tokens: query t (0-based) predicts token t + 1, i.e. position t + 2
    facts = {"scored": m, "scored_from_1based": window + 2, "scored_to_1based": window + m + 1,
             "blocks": int(cluster.max() + 1),
             **{k: ppl(v) for k, v in scored.items()},
             "ratio_window_full": ratio("window", "full"), "ratio_sinks_full": ratio("sinks", "full"),
             "ratio_sinks_window": ratio("sinks", "window"),
             # no gap (the window costs exactly nothing): nothing to close
             "gap_closed": None if means["window"] == means["full"] else
             A.gap_closed(means["full"], means["window"], means["sinks"])}
    facts["verdicts"] = {
        "window_hurts": bool(facts["ratio_window_full"]["low"] > 1),
        "sinks_restore": bool(facts["gap_closed"] is not None and facts["gap_closed"] >= CLOSES
                              and facts["ratio_sinks_window"]["high"] < 1),
    }
    return facts


def _shares(results, lengths=None, key: int = 0, first_query: int = 1) -> np.ndarray:
    """[N, L, H] first-token shares of decoder results (each cut to ``lengths[i]`` tokens if given)."""
    out = []
    for i, r in enumerate(results):
        att = r.attentions if lengths is None else r.attentions[..., : lengths[i], : lengths[i]]
        out.append(A.first_token_share(att, key, first_query))
    return np.stack(out)


def measure(ctx) -> dict:
    """``{"facts", "tables"}``: computed, or from the cache when nothing that shapes them changed."""
    from build_scripts.pipeline.cache import cached
    from build_scripts.pipeline.models import COLLECTION_FILE, decoder_extra

    def run() -> dict:
        return rounded(compute(ctx), PRECISION)

    return cached(ctx, "sinks", run, module=__name__, files=[PROSE_FILE, COLLECTION_FILE, SETTINGS_FILE],
                  extra=decoder_extra())


def compute(ctx) -> dict:
    """The three runs of the module doc on the build's shared decoder: facts and tables."""
    from build_scripts.pipeline.models import COLLECTION_FILE, decoder, decoder_corpus, decoder_runner
    from build_scripts.pipeline.winograd import load_collection, pair_ids

    settings = load_settings(ctx.root / SETTINGS_FILE)
    schemas = load_collection(ctx.root / COLLECTION_FILE)
    wsc = decoder_corpus(ctx, "Winograd collection", [s.text for s in schemas])  # the shared run
    dec, runner = decoder(ctx), decoder_runner(ctx)
    t_start, cpu_start = time.perf_counter(), time.process_time()

    # 1. the share: Winograd sentences (shared run) and prose passages
    pair = np.asarray(pair_ids(schemas))
    lengths = [len(r.ids) for r in wsc]
    wsc_facts, wsc_tables = share_summary(_shares(wsc), np.array([A.uniform_first_token_share(n) for n in lengths]),
                                          pair, lengths, settings)
    paras = paragraphs((ctx.root / PROSE_FILE).read_text(encoding="utf-8"))
    counts = [len(t.ids) for t in dec.tokenize(paras)]
    groups, dropped = passages(counts, settings["prose"]["min_tokens"], settings["prose"]["max_tokens"])
    every, made = settings["prose"]["every"], len(groups)
    groups = groups[::every]  # every k-th passage, evenly over the article: the build's time budget
    texts = ["\n\n".join(paras[j] for j in g) for g in groups]
    order = sorted(range(len(texts)), key=lambda i: (sum(counts[j] for j in groups[i]), i))
    shares, p_lengths = [None] * len(texts), [0] * len(texts)
    for start in range(0, len(order), 8):  # 8 passages a run, reduced at once: their weights are large
        idx = order[start : start + 8]
        for i, r in zip(idx, runner.run([texts[i] for i in idx], batch_size=8)):
            shares[i], p_lengths[i] = A.first_token_share(r.attentions), len(r.ids)
    prose_facts, prose_tables = share_summary(
        np.stack(shares), np.array([A.uniform_first_token_share(n) for n in p_lengths]),
        np.full(len(texts), -1), p_lengths, settings)
    prose_facts |= {"paragraphs": len(paras), "paragraphs_dropped": len(dropped),
                    "passages_made": made, "every": every}
    t_share = time.perf_counter()
    ctx.log(f"sinks: first-token share of {len(wsc)} sentences and {len(texts)} passages "
            f"({sum(p_lengths)} tokens) in {t_share - t_start:.1f} s")

    # 2. the control: swap the first token, prefix one
    c = settings["control"]
    word_ids = []
    for w in c["words"]:
        [t] = dec.tokenize([w])
        if len(t.ids) != 1:
            raise ConfigError(f"{SETTINGS_FILE}: control word {w!r} is {len(t.ids)} tokens {list(t.tokens)}; "
                              "give words of one token each")
        word_ids.append(int(t.ids[0]))
    keep = representatives(list(pair))
    swapped, prefixed, word = control_inputs([wsc[i].ids for i in keep], word_ids, c["tokens"])
    cut = [min(len(wsc[i].ids), c["tokens"]) for i in keep]
    runs = runner.run(swapped + prefixed, batch_size=32)
    sw, pf = runs[: len(keep)], runs[len(keep):]
    per_head = lambda x: x.mean((1, 2))  # [N, L, H] -> [N]: the mean over every head
    control = control_summary(
        original=per_head(_shares([wsc[i] for i in keep], cut)), swapped=per_head(_shares(sw)),
        new_first=per_head(_shares(pf, key=0, first_query=2)), old_first=per_head(_shares(pf, key=1, first_query=2)),
        nulls={"original": float(np.mean([A.uniform_first_token_share(n) for n in cut])),
               "prefixed": float(np.mean([A.uniform_first_token_share(n + 1, 1, 2) for n in cut]))},
        word=word, words=c["words"], settings=settings)
    control |= {"tokens": c["tokens"], "sentences_from": len(wsc)}
    t_control = time.perf_counter()
    ctx.log(f"sinks: control on {len(keep)} sentences, {len(runs)} runs, in {t_control - t_share:.1f} s")

    # 3. perplexity with a sliding window, with and without the first tokens
    p = settings["perplexity"]
    need, upto = p["tokens"] + 16, 0
    while upto < len(paras) and sum(counts[:upto]) < need:
        upto += 1
    [long] = dec.tokenize(["\n\n".join(paras[:upto])])
    if len(long.ids) < p["tokens"]:
        raise ConfigError(f"{SETTINGS_FILE}: [perplexity] tokens = {p['tokens']} but the prose has only "
                          f"{len(long.ids)}; ask for fewer")
    ids = long.ids[: p["tokens"]]
    conditions = {"full": {}, "window": {"window": p["window"]}, "sinks": {"window": p["window"], "sinks": p["sinks"]}}
    losses = {k: runner.run([ids], weights=False, batch_size=1, **kw)[0].losses for k, kw in conditions.items()}
    ppl = perplexity_summary(losses, p["window"], p["block"], settings)
    ppl["settings"] = {k: p[k] for k in ("tokens", "window", "sinks", "block")}
    t_ppl = time.perf_counter()
    ctx.log(f"sinks: perplexity on {p['tokens']} tokens, three ways, in {t_ppl - t_control:.1f} s; the group's own "
            f"runs (beyond the shared decoder and Winograd runs) {t_ppl - t_start:.1f} s, "
            f"{time.process_time() - cpu_start:.1f} s of CPU")

    facts = {
        "model": "SmolLM2-135M-Instruct, 4-bit (Q4_1) weights dequantised to float32",
        "first_query": 1, "interval": {"level": LEVEL, "repeats": settings["settings"]["bootstrap_repeats"]},
        "half": HALF, "wsc": wsc_facts, "prose": prose_facts, "control": control, "perplexity": ppl,
        "verdicts": {
            "sink_follows_position": control["verdicts"]["swap_keeps_share"] and control["verdicts"]["prefix_moves_share"],
            "window_hurts": ppl["verdicts"]["window_hurts"], "sinks_restore": ppl["verdicts"]["sinks_restore"],
            "longer_texts_sink_less": prose_facts["high"] < wsc_facts["low"],
            "lowest_layer_below_even": wsc_facts["low_layers"][0]["high"] < wsc_facts["null"],
        },
    }
    tables = {"wsc": wsc_tables, "prose": prose_tables,
              "perplexity": {k: ppl[k] for k in ("full", "window", "sinks")}}
    return {"facts": facts, "tables": tables}
