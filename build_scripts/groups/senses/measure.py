"""The article's "bank"/"river" head, tested over many sense pairs, with a control and a null.

The article shows one head sending much of "bank"'s attention to "river" in one sentence. That head
is the best of 72 on that sentence, so the sentence cannot test it. This module tests it on the
sentences that played no part in choosing it, and asks the wider question (does any head link an
ambiguous word to the word that settles its sense?) against a null that knows it picks the best of
72. Reads the sense pairs (``data/senses/pairs.toml``, validated by :func:`load_pairs`), runs them
through the build's shared encoder (:func:`build_scripts.pipeline.models.corpus`), and computes the
measures of :mod:`attn_jax.analysis`; returns facts and tables, knows nothing of charts. The result
is cached (:mod:`build_scripts.pipeline.cache`) by this module's code and what it imports, the
pairs, the sentence config and the settings.

Axis legend: P sense pairs, N = 2P sentences (pair p holds sentences 2p and 2p + 1), L layers,
H heads, w words of one sentence, R null repeats.

What is measured, per sentence and head, on the word level of :mod:`attn_jax.words` (the head
view's words): the *link excess* of :mod:`attn_jax.analysis`, the target word's weight on its
context word minus the mean it gives the sentence's other ordinary words.

- *The article's head*: chosen as the article chooses it, the head with the largest word-level
  weight from the target to the context word in the first sentence of the first pair (the
  article's; special tokens shown, as in the head view). Tested (a) on the other sentence of that
  pair, the other sense, alone: one value, no interval; and (b) on every other pair's sentences,
  none of which took part in the choice, so no correction for selection is due: its mean excess
  with a pair-bootstrap interval.
- *The best head over the whole set*: every head's mean excess over all N sentences; the best is
  judged against the decoy null (the best of all heads when each context word is replaced by a
  random other word of its sentence), with a corrected p.
- *Heads with a link*: heads whose mean excess and whole interval lie above 0 (each head on its
  own, not corrected for 72 looks: the null's 95th percentile is the corrected bar, counted too).
- *The control, from the key's side*: the context words are mostly nouns, and a head that looks at
  nouns from every word (not from the ambiguous word in particular) also gives them more than the
  sentence's other words, which are mostly "the", "a" and punctuation. So the same sentences are
  read the other way round, with the *specificity* of :mod:`attn_jax.analysis` on the word level:
  the target's weight on the context word minus the mean weight every other word of the sentence
  gives it ([CLS] and [SEP] included, as that definition has it). A head *passes the control* when
  its link interval and this one both lie above 0.

Nothing is dropped: a pair that breaks a rule of :func:`load_pairs` stops the build with the fix.
"""

from __future__ import annotations

import re
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attn_jax import analysis as A
from attn_jax.words import WORD_RE, align_words, word_attention
from build_scripts.pipeline.artifacts import ROOT, rounded
from build_scripts.pipeline.config import ConfigError, read_toml

PAIRS = ROOT / "data" / "senses" / "pairs.toml"
PAIRS_FILE = str(PAIRS.relative_to(ROOT))
CONFIG = Path(__file__).with_name("settings.toml")
SETTINGS_FILE = str(CONFIG.relative_to(ROOT))
SETTINGS = ("null_repeats", "bootstrap_repeats", "seed")
PRECISION = 4  # decimals kept in facts.json (the prose shows 2)
MIN_WORDS, MAX_WORDS = 6, 14  # short plain sentences: the target's row has few words to spread over
LEVEL = 0.95  # of every interval
ALPHA = 0.05  # a corrected p below this beats the null


@dataclass(frozen=True)
class Pair:
    """One ambiguous word in two sentences, one per sense, and the word settling each sense."""

    word: str
    sentences: tuple[str, str]
    context: tuple[str, str]


def words_of(text: str) -> list[str]:
    """The words of ``text`` by :data:`attn_jax.words.WORD_RE`, lower-cased (the model is uncased),
    punctuation marks left out (they are words of the head view, but not what a sentence's length
    or a target counts)."""
    return [w.lower() for w in WORD_RE.findall(text) if re.match(r"\w", w)]


def load_pairs(path: Path = PAIRS) -> list[Pair]:
    """The validated pairs of ``pairs.toml``; ConfigError with one line naming the entry and the fix."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; restore it from git") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e}); fix the syntax") from None
    if extra := set(raw) - {"pair"}:
        raise ConfigError(f"{path}: unknown top-level key(s) {sorted(extra)}; only [[pair]] entries are allowed")
    entries = raw.get("pair")
    # two pairs at least: an interval that resamples pairs needs more than one
    if not isinstance(entries, list) or len(entries) < 2:
        raise ConfigError(f"{path}: needs at least two [[pair]] entries with word, sentences and context")
    pairs: list[Pair] = []
    words_seen: set[str] = set()
    texts_seen: set[str] = set()
    for n, e in enumerate(entries, start=1):
        label = f"{path}: pair #{n}" + (f" ({e['word']!r})" if isinstance(e, dict) and isinstance(e.get("word"), str) else "")
        pair = _validate(e, label)
        if pair.word.lower() in words_seen:
            raise ConfigError(f"{label}: the word {pair.word!r} has a pair already; give each word one pair")
        words_seen.add(pair.word.lower())
        for text in pair.sentences:
            if text in texts_seen:
                raise ConfigError(f"{label}: the sentence {text!r} is used twice; write another")
            texts_seen.add(text)
        pairs.append(pair)
    return pairs


def _validate(e, label: str) -> Pair:
    keys = {"word", "sentences", "context"}
    if not isinstance(e, dict):
        raise ConfigError(f"{label}: must be a table with {sorted(keys)}")
    if extra := set(e) - keys:
        raise ConfigError(f"{label}: unknown key(s) {sorted(extra)}; allowed keys are {sorted(keys)}")
    if missing := sorted(keys - set(e)):
        raise ConfigError(f"{label}: missing {missing}; add them")
    word, sentences, context = e["word"], e["sentences"], e["context"]
    if not isinstance(word, str) or words_of(word) != [word.lower()]:
        raise ConfigError(f"{label}: word must be one word in quotes, e.g. \"bank\"; got {word!r}")
    for key, value in (("sentences", sentences), ("context", context)):
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) and v.strip() for v in value)):
            raise ConfigError(f"{label}: {key} must be a list of two strings, one per sense; got {value!r}")
    for i, (text, ctx) in enumerate(zip(sentences, context), start=1):
        words = words_of(text)
        where = f"{label}: sentence {i} {text!r}"
        if not MIN_WORDS <= len(words) <= MAX_WORDS:
            raise ConfigError(f"{where} has {len(words)} words; write one of {MIN_WORDS} to {MAX_WORDS}")
        if (k := words.count(word.lower())) != 1:
            raise ConfigError(f"{where} has the word {word!r} {k} times; write it exactly once")
        if words_of(ctx) != [ctx.lower()]:
            raise ConfigError(f"{label}: context {i} must be one word in quotes; got {ctx!r}")
        if ctx.lower() == word.lower():
            raise ConfigError(f"{where}: the context word is the target {word!r}; name the word that settles its sense")
        if (k := words.count(ctx.lower())) != 1:
            raise ConfigError(f"{where} has the context word {ctx!r} {k} times; name a word it has exactly once")
    return Pair(word, tuple(sentences), tuple(context))


def check_article_pair(pairs: list[Pair], config) -> None:
    """The first pair must be the article's example, ``[roles.senses]`` of the sentence config."""
    role = config.roles["senses"]
    article = Pair(role["word"], tuple(config.by_id(s).text for s in role["sentences"]), tuple(role["context"]))
    if pairs[0] != article:
        raise ConfigError(f"{PAIRS_FILE}: the first [[pair]] must be the article's example, [roles.senses] of "
                          f"{config.path.name} (word = {article.word!r}, sentences = {list(article.sentences)}, "
                          f"context = {list(article.context)}); make it so")


def load_settings(path: Path = CONFIG) -> dict:
    """The ``[settings]`` table of ``settings.toml``; ConfigError names any problem."""
    raw = read_toml(path)
    settings = raw.get("settings", {})
    bad = [k for k in SETTINGS if not isinstance(settings.get(k), int) or settings[k] < (0 if k == "seed" else 1)]
    if bad:
        raise ConfigError(f"{path}: [settings] lacks a positive integer for {bad} (seed: >= 0); see the comments there")
    return settings


@dataclass
class Words:
    """One sentence on the word level: attention ``[L, H, w, w]``, the target's and the context
    word's index, which words are special, and the words themselves."""

    attention: np.ndarray
    target: int
    context: int
    special: np.ndarray
    words: tuple[str, ...]


def word_level(result, word: str, context: str) -> Words:
    """A ``SentenceResult``'s attention on the head view's words, with the target and context located."""
    al = align_words(result.tokenized)

    def index(w: str) -> int:
        hits = [i for i, (x, s) in enumerate(zip(al.words, al.special)) if not s and x.lower() == w.lower()]
        if len(hits) != 1:  # load_pairs rules this out, unless the tokenizer cuts a word apart
            raise ConfigError(f"{PAIRS_FILE}: {w!r} is {len(hits)} words of {result.tokenized.text!r} after "
                              f"tokenization, not one; rephrase the sentence")
        return hits[0]

    return Words(word_attention(result.attentions, al), index(word), index(context), np.asarray(al.special),
                 al.words)


def _head(flat: int, heads: int) -> dict:
    return {"layer_1based": flat // heads + 1, "head_1based": flat % heads + 1}


def compute(pairs: list[Pair], results: list, settings: dict) -> tuple[dict, dict]:
    """Everything in the module doc: ``(facts, tables)``. ``results``: one ``SentenceResult`` per
    sentence, in pair order (pair p's sentences at 2p and 2p + 1); the first pair is the article's."""
    sentences = [word_level(r, p.word, c) for r, (p, c) in zip(results, ((p, c) for p in pairs for c in p.context))]
    n, n_pairs = len(sentences), len(pairs)
    if n != 2 * n_pairs:
        raise ValueError(f"expected two results per pair ({2 * n_pairs}), got {n}")
    pair = np.repeat(np.arange(n_pairs), 2)  # [N] pair id of each sentence
    excess = np.stack([A.link_excess(s.attention, s.target, s.context, s.special) for s in sentences])  # [N, L, H]
    control = np.stack([np.subtract(*A.specificity(s.attention, s.target, [s.context])) for s in sentences])  # [N, L, H]
    candidates = []  # N arrays [k_i, L, H]: the excess with each other ordinary word as the context word
    for s in sentences:
        keep = ~s.special  # [w] the candidates: every ordinary word but the target, the context word included
        keep[s.target] = False
        candidates.append(np.moveaxis(A.link_excesses(s.attention, s.target, s.special)[..., keep], -1, 0))
    layers, heads = excess.shape[1:]
    reps, seed = settings["bootstrap_repeats"], settings["seed"]

    # the article's head: chosen on its sentence by weight, as the head view chooses it
    first = sentences[0]
    weight = first.attention[:, :, first.target, first.context].astype(np.float64)  # [L, H]
    chosen = int(weight.argmax())
    cl, ch = divmod(chosen, heads)
    other_sense = sentences[1]
    money = float(excess[1, cl, ch])
    rank = 1 + int((candidates[1][:, cl, ch] > money).sum())  # 1: the word it gives the most weight to
    held_out = pair != 0  # every pair but the article's: none of them took part in the choice
    oos = excess[held_out]  # [N - 2, L, H]
    oos_low, oos_high = A.pair_bootstrap(oos[:, cl, ch], pair[held_out], reps, seed, LEVEL)
    oos_mean = oos.mean(0)  # [L, H]
    oos_control = control[held_out, cl, ch]  # [N - 2]
    oos_control_low, oos_control_high = A.pair_bootstrap(oos_control, pair[held_out], reps, seed, LEVEL)

    # every head over the whole set, against the decoy null
    mean = excess.mean(0)  # [L, H]
    low, high = A.pair_bootstrap(excess, pair, reps, seed, LEVEL)  # [L, H] each
    best = int(mean.argmax())
    bl, bh = divmod(best, heads)
    null = A.decoy_null(candidates, settings["null_repeats"], seed)  # [R]
    p95 = float(np.percentile(null, 95))
    p_best = A.null_p_value(null, float(mean.flat[best]))
    linked = (mean > 0) & (low > 0)
    control_mean = control.mean(0)  # [L, H]
    control_low, control_high = A.pair_bootstrap(control, pair, reps, seed, LEVEL)
    specific = linked & (control_mean > 0) & (control_low > 0)

    offset = np.array([s.context - s.target for s in sentences])  # [N] in the head view's words
    adjacent = np.abs(offset) == 1
    facts = {
        "n_pairs": n_pairs, "n_sentences": n, "dropped": 0, "heads": layers * heads,
        "context": {"before": int((offset < 0).sum()), "after": int((offset > 0).sum()), "adjacent": int(adjacent.sum()),
                    "distance_min": int(np.abs(offset).min()), "distance_median": float(np.median(np.abs(offset))),
                    "distance_max": int(np.abs(offset).max())},
        "interval": {"level": LEVEL, "method": "percentile bootstrap, resampling pairs", "repeats": reps},
        "article": {"word": pairs[0].word, "sentences": list(pairs[0].sentences), "context": list(pairs[0].context)},
        "chosen": {
            **_head(chosen, heads), "weight": float(weight.flat[chosen]), "mean_over_heads": float(weight.mean()),
            "excess_on_its_sentence": float(excess[0, cl, ch]),
            "other_sense": {"excess": money, "rank": rank, "words": len(candidates[1]),
                            "weight": float(other_sense.attention[cl, ch, other_sense.target, other_sense.context])},
            "held_out": {"n_pairs": n_pairs - 1, "n_sentences": int(held_out.sum()), "excess": float(oos_mean[cl, ch]),
                         "low": float(oos_low), "high": float(oos_high),
                         "rank": 1 + int((oos_mean > oos_mean[cl, ch]).sum()),
                         "control": {"excess": float(oos_control.mean()), "low": float(oos_control_low),
                                     "high": float(oos_control_high)}},
        },
        "best": {**_head(best, heads), "excess": float(mean[bl, bh]), "low": float(low[bl, bh]),
                 "high": float(high[bl, bh]), "excess_not_adjacent": float(excess[~adjacent, bl, bh].mean()),
                 "control": {"excess": float(control_mean[bl, bh]), "low": float(control_low[bl, bh]),
                             "high": float(control_high[bl, bh])}},
        "mean_head_excess": float(mean.mean()),
        "null": {"repeats": settings["null_repeats"], "p95": p95, "mean": float(null.mean()), "p_best": p_best},
        "heads_mean_above_0": int((mean > 0).sum()),
        "heads_interval_above_0": int(linked.sum()),
        "heads_over_null_p95": int((mean > p95).sum()),
        "heads_pass_control": int(specific.sum()),
        "verdicts": {
            # out of sample: the head picked on one sentence keeps a link on sentences it was not picked on
            "chosen_head_generalises": bool(oos_low > 0),
            "chosen_head_passes_control": bool(oos_control_low > 0),
            "best_head_passes_control": bool(control_low[bl, bh] > 0),
            "best_head_beats_null": bool(p_best < ALPHA),
            "single_sentence_link_holds": bool(money > 0),
            "chosen_is_best": chosen == best,
        },
    }
    tables = {"mean": mean, "low": low, "high": high, "control": control_mean, "null": null}
    return facts, tables


def measure(ctx) -> dict:
    """``{"facts", "tables"}``: computed, or from the cache when nothing that shapes them changed."""
    from build_scripts.pipeline.cache import cached
    from build_scripts.pipeline.models import model_extra
    from build_scripts.pipeline.config import load_config
    from build_scripts.pipeline.models import CONFIG_FILE, corpus

    def run() -> dict:
        t0 = time.perf_counter()
        pairs = load_pairs(ctx.root / PAIRS_FILE)
        check_article_pair(pairs, load_config(ctx.root / CONFIG_FILE))
        results = corpus(ctx, "sense pairs", [t for p in pairs for t in p.sentences])
        facts, tables = compute(pairs, results, load_settings())
        ctx.log(f"measured in {time.perf_counter() - t0:.1f} s")
        return rounded({"facts": facts, "tables": tables}, PRECISION)

    return cached(ctx, "senses", run, module=__name__, files=[PAIRS_FILE, CONFIG_FILE, SETTINGS_FILE], extra=model_extra())
