"""The attention-sink experiment: the frozen prose and the script that made it, the settings and the
errors they give, the passages and the control's inputs, the facts on constructed attention and
losses whose answers are known by hand (no model), the charts with their layouts for phones, and
the group's build from a cached measurement."""

import importlib.util
import json

import numpy as np
import pytest

from build_scripts.groups.sinks import charts as sc
from build_scripts.groups.sinks import group as sinks_build
from build_scripts.groups.sinks import measure as sinks
from build_scripts.pipeline import cache
from build_scripts.pipeline.artifacts import ROOT, rounded
from build_scripts.pipeline.config import ConfigError
from build_scripts.pipeline.registry import Context, code_files
from tests.helpers import font_sizes

PROSE_DIR = ROOT / "data" / "prose"

# --- the frozen prose --------------------------------------------------------------------------


def make_prose():
    spec = importlib.util.spec_from_file_location("make_prose", PROSE_DIR / "make_prose.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_frozen_prose_is_plain_text_in_paragraphs_with_its_licence():
    text = sinks.PROSE.read_text(encoding="utf-8")
    paras = sinks.paragraphs(text)
    assert len(paras) >= 60 and sum(len(p.split()) for p in paras) >= 5000  # several thousand tokens
    for mark in ("{{", "}}", "<", "$$", "](", "**", "`", "!!!"):
        assert mark not in text, mark
    assert all("\n" not in p for p in paras)  # one paragraph per line
    readme = (PROSE_DIR / "README.md").read_text(encoding="utf-8")
    assert "MIT" in readme and "make_prose.py" in readme and "docs/attention.md" in readme


def test_the_script_keeps_sentences_and_paragraphs_and_drops_the_markup():
    page = """---
description: x
---

# A heading

!!! info "A note"
    Read **this** and *that*, with a [link](other.md){ .button }.
    It gives {{ fact a.b :.2f }} of its attention
    {{ verdict a.v "to one word" "to none" }}
    and the sentence goes on.

<figure markdown="span">
![alt](x.svg){ loading=lazy }
<figcaption>A caption with {{ fact a.c }}.</figcaption>
</figure>

$$
x = y
$$

where $d_k$ is the key dimension, as `code` says.

- A list item
  on two lines.
- ({{ fact a.d }}) Another.

| a | b |
| --- | --- |

{{ chart x/y "caption" }}

## References

1. Someone (2020). [A paper](https://example.org).
"""
    assert make_prose().strip(page) == [
        "Read this and that, with a link. It gives of its attention and the sentence goes on.",
        "where is the key dimension, as code says.",
        "A list item on two lines.",
        "Another.",
    ]


# --- settings ----------------------------------------------------------------------------------


def test_the_settings_load():
    s = sinks.load_settings()
    assert s["perplexity"]["sinks"] < s["perplexity"]["window"] < s["perplexity"]["tokens"]
    assert len(s["control"]["words"]) >= 2 and s["prose"]["every"] >= 1


@pytest.mark.parametrize("change, message", [
    (("[perplexity]", "window = 256", "window = 4096"), r"sinks < window < tokens - block"),
    (("[perplexity]", "sinks = 4", "sinks = 0"), r"\[perplexity\] lacks an integer of at least \[1\] for \['sinks'\]"),
    (("[prose]", "min_tokens = 100", "min_tokens = 500"), r"min_tokens is above max_tokens"),
    (("[control]", 'words = ["So", "Paris", "7", "\\n", "However", "Two", "My", "When"]', 'words = ["So"]'),
     r"words must be a list of at least two words"),
    (("[settings]", "seed = 0", "seed = -1"), r"\[settings\] lacks an integer"),
])
def test_bad_settings_stop_with_one_line_naming_the_fix(tmp_path, change, message):
    _, old, new = change
    text = sinks.CONFIG.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "settings.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        sinks.load_settings(path)
    with pytest.raises(ConfigError, match="cannot read it"):
        sinks.load_settings(tmp_path / "missing.toml")


# --- passages and the control's inputs ---------------------------------------------------------


def test_passages_by_hand():
    # 50 + 60 = 110 >= 100: passage [0, 1]; 30 then 500 (> max: dropped with the short 30);
    # 120 alone; 10 + 95 = 105; the last 20 is short and joins the passage before it (125 <= 400)
    counts = [50, 60, 30, 500, 120, 10, 95, 20]
    assert sinks.passages(counts, 100, 400) == ([[0, 1], [4], [5, 6, 7]], [2, 3])
    # a paragraph that would take a short passage past the maximum starts the next; the short one is dropped
    assert sinks.passages([60, 380, 40], 100, 400) == ([[1]], [0, 2])
    assert sinks.paragraphs("a b\n\n\n c \n\n") == ["a b", "c"]


def test_representatives_take_one_sentence_per_pair_and_every_unpaired_one():
    assert sinks.representatives([0, 0, -1, 1, 1, -1, 2, 2]) == [0, 2, 3, 5, 6]


def test_control_inputs_swap_or_prefix_a_word_cut_to_the_first_tokens():
    swapped, prefixed, word = sinks.control_inputs([[5, 6, 7, 8], [9, 10], [11, 12, 13]], [100, 10, 11], 3)
    # sentence 1 would get word 1 (id 10) but starts with 10? no, it starts with 9: kept; sentence 2
    # would get word 2 (id 11), its own first token: the next word (0, id 100) instead
    assert word == [0, 1, 0]
    assert swapped == [[100, 6, 7], [10, 10], [100, 12, 13]]
    assert prefixed == [[100, 5, 6, 7], [10, 9, 10], [100, 11, 12, 13]]
    with pytest.raises(ValueError, match="every control word equals"):
        sinks.control_inputs([[7, 1]], [7], 2)


# --- the facts, on constructed numbers ---------------------------------------------------------

SETTINGS = {"settings": {"bootstrap_repeats": 500, "seed": 0}}


def test_share_summary_counts_heads_and_layers_over_half_and_names_the_low_layers():
    n, layers, heads = 6, 3, 2
    shares = np.zeros((n, layers, heads))
    shares[:, 0] = [0.9, 0.7]  # layer 1: both heads over half
    shares[:, 1] = [0.6, 0.2]  # layer 2: one head over half, mean 0.4
    shares[:, 2] = [0.05, 0.05]  # layer 3: under the null
    shares[::2, 2, 0] += 0.02  # some spread across texts in layer 3
    pair = np.array([0, 0, 1, 1, -1, -1])
    facts, tables = sinks.share_summary(shares, np.full(n, 0.1), pair, [10, 20, 30, 40, 50, 60], SETTINGS)
    assert facts["heads_over_half"] == 3 and facts["layers_over_half"] == 1 and facts["layers_under_null"] == 1
    assert facts["top_head"] == pytest.approx({"layer_1based": 1, "head_1based": 1, "share": 0.9, "low": 0.9,
                                               "high": 0.9})
    assert [x["layer_1based"] for x in facts["low_layers"]] == [3, 2, 1]
    assert facts["first_layer_over_half"] == 1 and facts["most_heads_over_half"] is False
    assert facts["n_texts"] == 6 and facts["n_units"] == 4  # two pairs, two unpaired texts
    assert facts["null"] == pytest.approx(0.1) and facts["tokens"] == {"min": 10, "median": 35.0, "max": 60, "total": 210}
    assert facts["share"] == pytest.approx(shares.mean())
    assert tables["layer"] == pytest.approx([0.8, 0.4, 0.055])  # layer 3: 0.05 + 0.02 / 2 heads, in half the texts
    assert tables["low"][1] == pytest.approx(0.4) and tables["high"][1] == pytest.approx(0.4)  # no spread, no width
    assert tables["low"][2] < 0.055 < tables["high"][2]


def test_control_summary_tells_position_from_identity():
    rng = np.random.default_rng(0)
    original = 0.6 + 0.05 * rng.standard_normal(40)
    nulls = {"original": 0.17, "prefixed": 0.14}
    words = ["So", "Paris"]
    word = [i % 2 for i in range(40)]
    # position: any first token takes the share, and a prefix takes it from the old first token
    pos = sinks.control_summary(original, original * 1.01, original * 0.95, 0.05 + 0 * original, nulls, word,
                                words, SETTINGS)
    assert pos["verdicts"] == {"swap_keeps_share": True, "prefix_moves_share": True}
    assert pos["swapped"]["ratio"]["value"] == pytest.approx(1.01)
    assert pos["prefixed"]["kept_by_new_first"] == pytest.approx(0.95)
    assert [w["n"] for w in pos["by_word"]] == [20, 20]
    # identity: a new first token gets little, and the old first token keeps its share when second
    ident = sinks.control_summary(original, 0.1 * original, 0.1 * original, original, nulls, word, words, SETTINGS)
    assert ident["verdicts"] == {"swap_keeps_share": False, "prefix_moves_share": False}
    assert ident["prefixed"]["difference"]["high"] < 0


def test_perplexity_summary_scores_only_the_tokens_beyond_the_window():
    window, n = 8, 40  # losses of 40 positions; the first 8 are the same in every run and not scored
    early = np.full(window, 50.0)  # huge: counted, they would show
    full = np.concatenate([early, np.ones(n - window)])
    win = np.concatenate([early, np.full(n - window, 2.0)])
    sink = np.concatenate([early, np.full(n - window, 1.25)])
    f = sinks.perplexity_summary({"full": full, "window": win, "sinks": sink}, window, block=4, settings=SETTINGS)
    assert f["scored"] == 32 and f["blocks"] == 8
    assert f["scored_from_1based"] == 10 and f["scored_to_1based"] == 41  # query t predicts position t + 2
    assert f["full"]["perplexity"] == pytest.approx(np.e) and f["window"]["perplexity"] == pytest.approx(np.e**2)
    assert f["ratio_window_full"] == pytest.approx({"value": np.e, "low": np.e, "high": np.e})
    assert f["gap_closed"] == pytest.approx(0.75)
    assert f["verdicts"] == {"window_hurts": True, "sinks_restore": True}
    # sinks that close only a quarter of the gap do not restore it
    weak = np.concatenate([early, np.full(n - window, 1.75)])
    g = sinks.perplexity_summary({"full": full, "window": win, "sinks": weak}, window, 4, SETTINGS)
    assert g["gap_closed"] == pytest.approx(0.25) and g["verdicts"]["sinks_restore"] is False
    # a window that costs nothing on average (noise only) does not hurt; with no gap at all there is
    # nothing to close
    noisy = full + np.concatenate([np.zeros(window), np.random.default_rng(0).normal(0, 0.5, n - window)])
    h = sinks.perplexity_summary({"full": full, "window": noisy, "sinks": full}, window, 4, SETTINGS)
    assert h["ratio_window_full"]["low"] < 1 < h["ratio_window_full"]["high"]
    assert h["verdicts"]["window_hurts"] is False
    same = sinks.perplexity_summary({"full": full, "window": full, "sinks": full}, window, 4, SETTINGS)
    assert same["gap_closed"] is None and same["verdicts"] == {"window_hurts": False, "sinks_restore": False}


# --- charts ------------------------------------------------------------------------------------


def fake_measurement() -> dict:
    layers, heads = 4, 9
    share = np.linspace(0.05, 0.95, layers * heads).reshape(layers, heads)
    tables, facts = {}, {}
    for key, n in (("wsc", 6), ("prose", 4)):
        shares = np.broadcast_to(share, (n, layers, heads)) * (1.0 if key == "wsc" else 0.5)
        pair = np.array([0, 0, 1, 1, -1, -1][:n]) if key == "wsc" else np.full(n, -1)
        facts[key], tables[key] = sinks.share_summary(shares, np.full(n, 0.1), pair, [20] * n, SETTINGS)
    full = np.full(40, 3.0)
    ppl = sinks.perplexity_summary({"full": full, "window": full + 0.7, "sinks": full + 0.2}, 8, 4, SETTINGS)
    ppl["settings"] = {"tokens": 41, "window": 8, "sinks": 4, "block": 4}
    facts |= {"perplexity": ppl, "verdicts": {"sink_follows_position": True}}
    tables["perplexity"] = {k: ppl[k] for k in ("full", "window", "sinks")}
    return rounded({"facts": facts, "tables": tables}, 4)



def charts(narrow: bool) -> dict:
    m = fake_measurement()
    t, f = m["tables"], m["facts"]
    return {"layers": sc.layers_chart(sc.layer_rows(t, {"wsc": 6, "prose": 4}), sc.null_rows(t), narrow=narrow),
            "heads": sc.heads_chart(sc.head_rows(t), narrow=narrow),
            "perplexity": sc.perplexity_chart(sc.perplexity_rows(f["perplexity"]), f["perplexity"], narrow=narrow)}


def test_rows_number_layers_and_heads_from_1_and_name_the_key_value_head():
    t = fake_measurement()["tables"]
    rows = sc.head_rows(t)
    assert len(rows) == 2 * 4 * 9 and {r["layer"] for r in rows} == {1, 2, 3, 4}
    assert {r["head"] for r in rows} == set(range(1, 10))
    assert [r["kv_head"] for r in rows[:9]] == [1, 1, 1, 2, 2, 2, 3, 3, 3]  # query head h reads h // 3
    layer = sc.layer_rows(t, {"wsc": 6, "prose": 4})
    assert [r["layer"] for r in layer[:4]] == [1, 2, 3, 4] and {r["corpus"] for r in layer} == set(sc.CORPORA)
    ppl = sc.perplexity_rows(fake_measurement()["facts"]["perplexity"])
    assert [r["condition"] for r in ppl] == ["full attention", "last 8 tokens only", "last 8 + first 4"]
    assert ppl[1]["perplexity"] == pytest.approx(np.exp(3.7), abs=1e-3)


@pytest.mark.parametrize("name", ["layers", "heads", "perplexity"])
def test_the_narrow_layouts_fit_a_phone_with_readable_text_on_any_background(name):
    wide, narrow = charts(False)[name].to_dict(), charts(True)[name].to_dict()
    assert min(font_sizes(narrow)) >= 10 and min(font_sizes(wide)) >= 10
    for spec in (wide, narrow):
        assert spec["config"]["background"] == "transparent"
        assert spec["config"]["axis"]["gridColor"] == "#888" and spec["config"]["axis"]["gridOpacity"] == 0.35
    assert isinstance(narrow["title"]["text"], list)
    inner = narrow.get("spec", narrow)  # a facet's panel, or the layer itself
    width = inner["width"] * (2 if "facet" in narrow else 1)
    assert width <= 260 < (wide.get("spec", wide)["width"] * (2 if "facet" in wide else 1))


def test_build_from_cache_renders_the_charts_and_facts(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "cache_key", lambda *a, **k: "e" * 64)
    (tmp_path / f"sinks-{'e' * 16}.json").write_text(json.dumps(fake_measurement()))
    logs = []
    files = sinks_build.build(Context(log=logs.append, cache_dir=tmp_path))
    assert "sinks: from the cache" in logs[0]
    assert sorted(files) == ["facts.json"] + [f"{c}/{f}" for c in ("heads", "layers", "perplexity")
                                              for f in ("default.svg", "spec-narrow.json", "spec.json")]
    for c in ("heads", "layers", "perplexity"):
        spec, narrow = (json.loads(files[f"{c}/{f}"]) for f in ("spec.json", "spec-narrow.json"))
        assert narrow["usermeta"] == {"narrow_below": sc.NARROW_BELOW} and "usermeta" not in spec
        assert spec["background"] == narrow["background"] == "transparent"
    assert "last 8 + first 4" in files["perplexity/default.svg"].decode()
    assert json.loads(files["facts.json"])["verdicts"]["sink_follows_position"] is True
    assert files == sinks_build.build(Context(log=logs.append, cache_dir=tmp_path))  # deterministic


def test_cache_key_covers_the_measuring_code_data_and_settings_but_not_the_charts():
    code = {str(p.relative_to(ROOT)) for p in code_files(sinks.__name__)}
    assert {"build_scripts/groups/sinks/measure.py", "attn_jax/analysis.py"} <= code
    assert "build_scripts/groups/sinks/charts.py" not in code  # restyling a chart never reruns the model
    assert set(sinks_build.GROUP.files) == {"data/prose/article.txt", "data/wsc285/WSCollection.xml",
                                            "build_scripts/groups/sinks/settings.toml"}
