"""The sense-pair test: its data file and the errors it gives, the facts on constructed heads whose
answers are known by hand (no model), its chart with the layout for phones, and the group's build
from a cached measurement."""

import json
import re

import numpy as np
import pytest

from attn_jax.tokenize import Tokenized
from build_scripts.groups.senses import charts as sc
from build_scripts.groups.senses import group as senses_build
from build_scripts.groups.senses import measure as senses
from build_scripts.pipeline import cache
from build_scripts.pipeline.artifacts import rounded
from build_scripts.pipeline.config import ConfigError, load_config
from build_scripts.pipeline.registry import Context, code_files
from tests.helpers import Result, font_sizes, tokenized

# --- the data file -----------------------------------------------------------------------------


def plain_words(text: str) -> list[str]:
    """Lower-cased words, apostrophes inside: an independent reading of the rule for plain English."""
    return re.findall(r"[a-z0-9]+(?:'[a-z0-9]+)*", text.lower())


def test_the_pairs_file_keeps_its_rules():
    pairs = senses.load_pairs()
    assert len(pairs) >= 30
    assert len({p.word for p in pairs}) == len(pairs)
    senses.check_article_pair(pairs, load_config())  # the article's example is the first pair
    assert pairs[0].word == "bank" and pairs[0].context == ("river", "money")
    offsets = []
    for p in pairs:
        for text, context in zip(p.sentences, p.context):
            words = plain_words(text)
            assert 6 <= len(words) <= 14, text
            assert words.count(p.word) == 1 and words.count(context) == 1 and context != p.word, text
            offsets.append(words.index(context) - words.index(p.word))
    # the context word before and after the target, at several distances
    assert sum(o < 0 for o in offsets) >= 10 and sum(o > 0 for o in offsets) >= 10
    assert len({abs(o) for o in offsets}) >= 5


VALID = ('[[pair]]\nword = "bank"\nsentences = ["The bank by the river was steep.", '
         '"She deposited the money at the bank."]\ncontext = ["river", "money"]\n')


def pair(word="bat", sentences=("A bat flew out of the cave at dusk.", "He hit the ball hard with a heavy bat."),
         context=("cave", "ball"), **extra) -> str:
    fields = {"word": word, "sentences": list(sentences), "context": list(context), **extra}
    return "[[pair]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in fields.items())


@pytest.mark.parametrize("second, message", [
    (pair(sentences=("A bat and a bat flew out of the cave.", "He hit the ball hard with a heavy bat.")),
     r"pair #2 \('bat'\): sentence 1 .* has the word 'bat' 2 times; write it exactly once"),
    (pair(sentences=("A bird flew out of the cave at dusk.", "He hit the ball hard with a heavy bat.")),
     r"sentence 1 .* 'bat' 0 times"),
    (pair(context=("cave", "racket")), r"sentence 2 .* has the context word 'racket' 0 times"),
    (pair(context=("cave", "bat")), r"sentence 2 .* the context word is the target 'bat'"),
    (pair(sentences=("The bat flew off.", "He hit the ball hard with a heavy bat.")),
     r"sentence 1 'The bat flew off.' has 4 words; write one of 6 to 14"),
    (pair(sentences=("A bat flew out of the cave at dusk " + "and then back again " * 3 + ".",
                     "He hit the ball hard with a heavy bat.")), r"has 21 words"),
    (pair(sentences=("A bat flew out of the cave at dusk.",)), r"sentences must be a list of two strings"),
    (pair(word="baseball bat"), r"word must be one word"),
    (pair(context=("the cave", "ball")), r"context 1 must be one word"),
    (pair(word="bank", sentences=("The bank was closed on that cold Monday.", "They sat on the grassy bank all day."),
          context=("Monday", "grassy")), r"pair #2 \('bank'\): the word 'bank' has a pair already"),
    (pair(sense="animal"), r"unknown key\(s\) \['sense'\]"),
    ('[[pair]]\nword = "bat"\n', r"missing \['context', 'sentences'\]"),
    (pair(sentences=("The bank by the river was steep.", "He hit the ball hard with a heavy bat."),
          word="steep", context=("river", "ball")), r"sentence 2 .* 'steep' 0 times"),
])
def test_a_bad_pair_stops_with_one_line_naming_entry_and_fix(tmp_path, second, message):
    path = tmp_path / "pairs.toml"
    path.write_text(VALID + "\n" + second)
    with pytest.raises(ConfigError, match=message) as err:
        senses.load_pairs(path)
    assert "\n" not in str(err.value) and str(err.value).startswith(str(path))


def test_file_level_errors(tmp_path):
    path = tmp_path / "pairs.toml"
    for text, message in ((VALID, "at least two"), ("[[pair]\n", "not valid TOML"),
                          ("title = 'x'\n" + VALID + pair(), r"unknown top-level key\(s\) \['title'\]"),
                          (VALID + pair(word="river", sentences=("The bank by the river was steep.",
                                                                 "The river flooded the town last spring."),
                                        context=("bank", "flooded")), "used twice")):
        path.write_text(text)
        with pytest.raises(ConfigError, match=message):
            senses.load_pairs(path)
    with pytest.raises(ConfigError, match="file not found"):
        senses.load_pairs(tmp_path / "none.toml")


def test_the_first_pair_must_be_the_articles(tmp_path):
    path = tmp_path / "pairs.toml"
    path.write_text(pair() + "\n" + VALID)  # both pairs valid, the article's second
    with pytest.raises(ConfigError, match=r"first \[\[pair\]\] must be the article's example.*'bank'"):
        senses.check_article_pair(senses.load_pairs(path), load_config())


def test_settings_errors_name_the_fix(tmp_path):
    bad = tmp_path / "s.toml"
    bad.write_text("[settings]\nseed = 0\nnull_repeats = 0\n")
    with pytest.raises(ConfigError, match=r"lacks a positive integer for \['null_repeats', 'bootstrap_repeats'\]"):
        senses.load_settings(bad)
    assert senses.load_settings()["null_repeats"] >= 1000


# --- the measures on constructed heads ------------------------------------------------------------


def constructed(links: dict, pairs: int = 16):
    """``pairs`` pairs of 8-word sentences (target "bank"; context "river" after it, "money" before
    it) and results with one head per entry of ``links``: ``{head: rule}``, rule(sentence index) ->
    "link" (the target's row all on the context word), "broadcast" (every row all on it) or
    "uniform" (the target's row spread evenly). Every other row is uniform."""
    texts = ("the bank by the river was very steep .", "she put her money into the bank today .")
    out_pairs, results = [], []
    for p in range(pairs):
        out_pairs.append(senses.Pair("bank", texts, ("river", "money")))
        for s, (text, context) in enumerate(zip(texts, ("river", "money"))):
            tok = tokenized(text)
            n = len(tok.tokens)
            t, c = tok.tokens.index("bank"), tok.tokens.index(context)
            att = np.full((1, len(links), n, n), 1.0 / n)  # [L, H, n, n]
            for h, rule in links.items():
                kind = rule(2 * p + s)
                rows = {"link": [t], "broadcast": list(range(n)), "uniform": []}[kind]
                att[0, h, rows] = 0.0
                att[0, h, rows, c] = 1.0
            results.append(Result(tok, att))
    return out_pairs, results


SETTINGS = {"null_repeats": 2000, "bootstrap_repeats": 4000, "seed": 0}


def test_a_linking_head_a_uniform_head_a_pair_clustered_head_and_a_broadcast_head():
    links = {0: lambda i: "link", 1: lambda i: "uniform",
             2: lambda i: "link" if 1 <= i // 2 <= 8 else "uniform",  # both sentences of pairs 1..8
             3: lambda i: "broadcast"}
    facts, tables = senses.compute(*constructed(links), SETTINGS)
    mean = tables["mean"][0]
    # link excess: 1 - 0 for the linker and the broadcaster, 0 for uniform, 8 of 16 pairs for head 3
    assert mean == pytest.approx([1.0, 0.0, 0.5, 1.0])
    assert facts["n_pairs"] == 16 and facts["n_sentences"] == 32 and facts["dropped"] == 0
    assert facts["context"] == {"before": 16, "after": 16, "adjacent": 0, "distance_min": 3,
                                "distance_median": 3.0, "distance_max": 3}
    # the article's head: largest weight in sentence 0 (heads 0 and 3 tie at 1: the first wins)
    chosen = facts["chosen"]
    assert (chosen["layer_1based"], chosen["head_1based"], chosen["weight"]) == (1, 1, 1.0)
    assert chosen["other_sense"] == {"excess": 1.0, "rank": 1, "words": 8, "weight": 1.0}
    held = chosen["held_out"]
    assert held["n_pairs"] == 15 and held["n_sentences"] == 30
    assert (held["excess"], held["low"], held["high"]) == (1.0, 1.0, 1.0)
    # the interval resamples the 16 pairs, not the 32 sentences: for head 3 the pair means are
    # 8 ones and 8 zeros, so its mean over a resample is Binomial(16, 1/2) / 16, whose 2.5th and
    # 97.5th percentiles are 4/16 and 12/16; resampling 32 sentences would give about 11/32 and 21/32
    assert tables["low"][0, 2] == pytest.approx(0.25, abs=0.02) and tables["high"][0, 2] == pytest.approx(0.75, abs=0.02)
    # the control from the key's side (11 tokens: the other 9 queries give the context word 1/11 each
    # under uniform rows); the broadcaster gives every word's attention to the context word, so the
    # target gives it no more than the others do
    assert tables["control"][0] == pytest.approx([1 - 1 / 11, 0.0, 0.5 * (1 - 1 / 11), 0.0])
    assert facts["heads_interval_above_0"] == 3 and facts["heads_pass_control"] == 2
    assert facts["best"]["layer_1based"] == 1 and facts["best"]["head_1based"] == 1
    # the null: 8 ordinary words besides the target, so a decoy is the context word with p = 1/8;
    # no repeat reaches 1, so p is the smallest there is
    assert facts["null"]["p_best"] == pytest.approx(1 / (SETTINGS["null_repeats"] + 1))
    assert facts["null"]["p95"] < 0.5
    assert facts["verdicts"] == {"chosen_head_generalises": True, "chosen_head_passes_control": True,
                                 "best_head_passes_control": True, "best_head_beats_null": True,
                                 "single_sentence_link_holds": True, "chosen_is_best": True}


def test_a_head_picked_on_one_sentence_that_links_nowhere_else():
    # head 0 links "bank" to "river" in the article's sentence only: the best of two heads there,
    # and the out-of-sample test says so
    links = {0: lambda i: "link" if i == 0 else "uniform", 1: lambda i: "uniform"}
    facts, _ = senses.compute(*constructed(links, pairs=8), SETTINGS)
    assert facts["chosen"]["head_1based"] == 1 and facts["chosen"]["excess_on_its_sentence"] == pytest.approx(1.0)
    assert facts["chosen"]["held_out"]["excess"] == pytest.approx(0.0)
    assert facts["chosen"]["other_sense"]["excess"] == pytest.approx(0.0)
    v = facts["verdicts"]
    assert not v["chosen_head_generalises"] and not v["single_sentence_link_holds"] and not v["best_head_beats_null"]
    assert facts["heads_interval_above_0"] == 0


def test_word_level_merges_pieces_and_finds_each_word_once():
    tok = Tokenized("the river bank .", np.arange(6, dtype=np.int32), ("[CLS]", "the", "riv", "##er", "bank", "[SEP]"),
                    ((0, 0), (0, 3), (4, 7), (7, 9), (10, 14), (0, 0)), np.array([1, 0, 0, 0, 0, 1], bool))
    att = np.full((1, 1, 6, 6), 1 / 6)
    att[0, 0, 4] = [0, 0, 0.3, 0.3, 0.4, 0]
    w = senses.word_level(Result(tok, att), "bank", "river")
    assert w.words == ("[CLS]", "the", "river", "bank", "[SEP]")
    assert (w.target, w.context) == (3, 2) and w.attention[0, 0, 3, 2] == pytest.approx(0.6)  # pieces summed
    with pytest.raises(ConfigError, match="'lake' is 0 words"):
        senses.word_level(Result(tok, att), "bank", "lake")


# --- the chart and the build -------------------------------------------------------------------------


def fake_measurement() -> dict:
    links = {0: lambda i: "link", 1: lambda i: "uniform", 2: lambda i: "link" if i % 4 < 2 else "uniform",
             3: lambda i: "broadcast"}
    facts, tables = senses.compute(*constructed(links, pairs=6), SETTINGS)
    return rounded({"facts": facts, "tables": tables}, senses.PRECISION)


def chart(narrow: bool) -> dict:
    m = fake_measurement()
    rows = sc.head_rows(*(np.array(m["tables"][k]) for k in ("mean", "low", "high")), chosen=(0, 2))
    return sc.heads_chart(rows, 0.3, 12, 6, "bank", "river", narrow=narrow).to_dict()


def test_head_rows_rank_and_mark_the_articles_head():
    mean = np.array([[0.1, 0.3], [0.2, 0.3]])
    rows = sc.head_rows(mean, mean - 0.1, mean + 0.1, chosen=(1, 0))
    assert [(r["rank"], r["layer"], r["head"]) for r in rows] == [(1, 1, 2), (2, 2, 2), (3, 2, 1), (4, 1, 1)]
    assert [r["kind"] for r in rows].count("the article's head") == 1 and rows[2]["kind"] == "the article's head"


def test_the_narrow_layout_fits_a_phone_with_readable_text():
    wide, narrow = chart(False), chart(True)
    assert narrow["width"] == sc.NARROW_WIDTH < wide["width"]
    assert min(font_sizes(narrow)) >= 10 and min(font_sizes(wide)) >= 10
    assert narrow["config"]["axis"]["labelFontSize"] >= 10 and narrow["config"]["title"]["subtitleFontSize"] >= 10
    for spec in (wide, narrow):
        assert spec["config"]["background"] == "transparent" and spec["config"]["axis"]["gridColor"] == "#888"
    assert isinstance(narrow["title"]["text"], list) and " ".join(narrow["title"]["text"]) == wide["title"]["text"]


def test_build_from_cache_renders_the_chart_and_facts(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "cache_key", lambda *a, **k: "e" * 64)
    (tmp_path / f"senses-{'e' * 16}.json").write_text(json.dumps(fake_measurement()))
    logs = []
    files = senses_build.build(Context(log=logs.append, cache_dir=tmp_path))
    assert "senses: from the cache" in logs[0]
    assert sorted(files) == ["facts.json", "heads/default.svg", "heads/spec-narrow.json", "heads/spec.json"]
    spec, narrow = (json.loads(files[f"heads/{f}"]) for f in ("spec.json", "spec-narrow.json"))
    assert narrow["usermeta"] == {"narrow_below": sc.NARROW_BELOW} and "usermeta" not in spec
    assert spec["background"] == narrow["background"] == "transparent"
    svg = files["heads/default.svg"].decode()
    assert "best of 4 heads by luck" in svg and "layer 1, head 1" in svg
    facts = json.loads(files["facts.json"])
    assert facts["verdicts"]["best_head_beats_null"] is True and facts["chosen"]["head_1based"] == 1
    assert files == senses_build.build(Context(log=logs.append, cache_dir=tmp_path))  # deterministic


def test_cache_key_covers_the_measuring_code_data_and_settings_but_not_the_chart():
    code = {str(p.relative_to(senses.ROOT)) for p in code_files(senses.__name__)}
    assert {"build_scripts/groups/senses/measure.py", "attn_jax/analysis.py", "attn_jax/words.py"} <= code
    assert "build_scripts/groups/senses/charts.py" not in code  # restyling the chart never reruns the model
    assert set(senses_build.GROUP.files) == {"data/senses/pairs.toml", "build_scripts/sentences.toml",
                                             "build_scripts/groups/senses/settings.toml"}
