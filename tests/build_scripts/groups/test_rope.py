"""The rotary-positions group: attention against distance on constructed heads whose answers are known
by hand, the model's own rotation on synthetic vectors (the score depends on the offset alone, and
equals its closed form), the charts with their layout for phones, and the build from a cached
measurement. No model is loaded."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from attn_jax import analysis as A
from build_scripts.groups.rope import charts as rc
from build_scripts.groups.rope import group as rope_build
from build_scripts.groups.rope import measure as rope
from build_scripts.pipeline import cache
from build_scripts.pipeline.artifacts import rounded
from build_scripts.pipeline.config import ConfigError
from build_scripts.pipeline.registry import Context, code_files
from tests.helpers import font_sizes, reference_attention

SETTINGS = {"max_offset": 4, "far_offset": 3, "bootstrap_repeats": 200, "seed": 0, "early_layers": 1, "sentence": 0,
            "max_distance": 16, "base_positions": [0, 50, 900], "random_pairs": 100}


def even(n: int) -> np.ndarray:
    return np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None]


def recent(n: int, sink: float = 0.0) -> np.ndarray:
    """Each query t >= 1 gives ``sink`` to the first token, 0.9 of the rest to the key before it and
    spreads what is left over its other keys (the query itself included); query 0 gives all to itself."""
    att = np.zeros((n, n))
    att[0, 0] = 1.0
    for t in range(1, n):
        rest = 1.0 - sink
        att[t, 0] = sink
        others = [s for s in range(1, t + 1) if s != t - 1]
        if t - 1 == 0:  # the key before it is the first token
            att[t, 0] += 0.9 * rest
        else:
            att[t, t - 1] = 0.9 * rest
        share = (0.1 * rest) / max(len(others), 1)
        for s in others:
            att[t, s] += share
        if not others:
            att[t, t - 1] += 0.1 * rest
    return att


def corpus(make, lengths=(6, 7, 8, 9, 10, 11, 12, 13)) -> list:
    return [make(n)[None, None] for n in lengths]  # [L=1, H=1, n, n] each


PAIRS = [0, 0, 1, 1, 2, 2, -1, 3]


# --- settings ----------------------------------------------------------------------------------


def test_the_settings_file_is_valid_and_errors_name_the_fix(tmp_path):
    s = rope.load_settings()
    assert s["far_offset"] <= s["max_offset"] and len(s["base_positions"]) >= 2
    bad = tmp_path / "s.toml"
    bad.write_text("[settings]\nmax_offset = 4\n")
    with pytest.raises(ConfigError, match=r"lacks a valid value for \['far_offset'.*see the comments there"):
        rope.load_settings(bad)
    body = "\n".join(f"{k} = {json.dumps(v)}" for k, v in {**SETTINGS, "far_offset": 9}.items())
    bad.write_text("[settings]\n" + body + "\n")
    with pytest.raises(ConfigError, match=r"far_offset \(9\) must be at most max_offset \(4\)"):
        rope.load_settings(bad)


# --- attention against distance ----------------------------------------------------------------


def test_an_even_spread_sits_on_its_null_and_passes_no_verdict():
    facts, tables = rope.distance(corpus(even), PAIRS, SETTINGS)
    for key in ("all_keys", "without_first"):
        np.testing.assert_allclose(tables[key]["mean"][0, 0], tables[key]["null"], atol=1e-12)
        assert facts[key]["d1"]["ratio"] == pytest.approx(1.0)
    assert facts["verdicts"] == {"recent_above_null": False, "distant_below_null": False, "far_rise_is_the_sink": False}
    assert facts["all_keys"]["d0"]["queries"] == sum(range(6, 14))  # every query has itself at d = 0


def test_a_previous_token_head_is_recent_and_a_sink_raises_the_far_end():
    facts, _ = rope.distance(corpus(recent), PAIRS, SETTINGS)
    v = facts["verdicts"]
    assert v["recent_above_null"] and v["distant_below_null"] and not v["far_rise_is_the_sink"]
    assert facts["without_first"]["d1"]["mean"] > 0.8 and facts["first_token_share"] < 0.2
    # half of every row on the first token, short sentences: at the far offset most keys are the first
    # token, so with it kept the far end rises above the even spread; with it left out the far end
    # stays below: the rise is the sink's
    facts, _ = rope.distance(corpus(lambda n: recent(n, sink=0.5), (5, 6) * 4), PAIRS, {**SETTINGS, "far_offset": 4})
    assert facts["verdicts"]["far_rise_is_the_sink"] and facts["verdicts"]["distant_below_null"]
    assert facts["first_token_share"] > 0.5
    d1 = facts["without_first"]["d1"]
    assert d1["low"] <= d1["mean"] <= d1["high"]


def test_the_pronoun_token_is_found_by_characters():
    tokens = ("The", " cat", " said", " it", " was", ".")
    text = "".join(tokens)
    assert rope.token_at(tokens, text, text.index("it")) == 3
    assert rope.token_at(tokens, text, 0) == 0
    assert rope.token_at(("a", "\ufffd"), "aé", 1) is None  # a character cut between byte-level tokens


# --- the model's rotation on synthetic vectors -------------------------------------------------


CFG = SimpleNamespace(head_dim=8, rope_theta=100.0)


def test_the_models_rotation_gives_a_score_that_depends_on_the_offset_alone():
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(2, 8)).astype(np.float32)
    offsets = np.arange(40)
    closed = A.rotary_scores(q, k, offsets, CFG.rope_theta)
    curves = [rope.rotated_scores(q, k, p, offsets, CFG) for p in (0, 7, 5000)]
    for p, curve in zip((0, 7, 5000), curves):
        assert (np.abs(curve - closed) <= A.rotary_rounding_bound(q, k, p, offsets)).all(), p
        np.testing.assert_allclose(curve, curves[0], atol=1e-2)  # the same curve wherever the key sits
    # the bound has teeth: the curve read one offset off is far outside it
    assert (np.abs(curves[0][1:] - closed[:-1]) > A.rotary_rounding_bound(q, k, 0, offsets[1:])).any()
    # a query turned by p + d against a key at p: by hand for D = 2, one pair turning 1 radian per token
    hand = rope.rotated_scores(np.array([1.0, 0.0]), np.array([1.0, 0.0]), 3, np.arange(4),
                               SimpleNamespace(head_dim=2, rope_theta=5.0))
    np.testing.assert_allclose(hand, np.cos(np.arange(4)) / np.sqrt(2), atol=1e-6)


def test_model_weights_are_the_causal_softmax_of_the_rotated_scores():
    rng = np.random.default_rng(2)
    q, k = rng.normal(size=(2, 1, 5, 8)).astype(np.float32)
    w = rope.model_weights(q, k, CFG)[0]
    theta = CFG.rope_theta ** (-np.arange(4) * 2 / 8)

    def turn(x):  # an independent rotation in float64, position by position
        pos = np.arange(len(x))[:, None] * theta
        return np.concatenate([x[:, :4] * np.cos(pos) - x[:, 4:] * np.sin(pos),
                               x[:, 4:] * np.cos(pos) + x[:, :4] * np.sin(pos)], axis=1)

    _, ref = reference_attention(turn(q[0]), turn(k[0]), turn(k[0]), np.tril(np.ones((5, 5), bool)))
    np.testing.assert_allclose(w, ref, atol=1e-5)


def test_wavelength_facts_of_smollm2s_config():
    cfg = SimpleNamespace(head_dim=64, rope_theta=100000.0, context_length=8192)
    w = rope.wavelengths(cfg)
    assert w["pairs"] == 32 and w["shortest"] == pytest.approx(2 * np.pi)
    assert w["longest"] == pytest.approx(2 * np.pi * 100000 ** (62 / 64))  # about 438,000 tokens
    assert w["turn_within_context"] + w["slower_than_context"] == 32 and w["turn_within_context"] == 20
    assert w["longest_turn_degrees_at_context"] < 10  # the slowest pair turns a few degrees over the context


# --- charts and the build ------------------------------------------------------------------------


def fake_measurement() -> dict:
    facts, tables = rope.distance(corpus(lambda n: recent(n, sink=0.5), (5, 6) * 4), PAIRS, {**SETTINGS, "far_offset": 4})
    offsets = np.arange(17)
    q, k = np.random.default_rng(0).normal(size=(2, 8))
    closed = A.rotary_scores(q, k, offsets, 100.0)
    out = {"facts": {"n_sentences": 8, "distance": {k: v for k, v in facts.items() if k != "verdicts"},
                     "head": {"layer_1based": 2, "head_1based": 3}, "example": {"query": "they", "key": "because"},
                     "curve": {"base_positions": [0, 50, 900], "max_distance": 16},
                     "verdicts": facts["verdicts"]},
           "tables": {"distance": tables, "rotary": {"offsets": offsets, "closed": closed,
                                                     "curves": np.stack([closed] * 3)}}}
    return rounded(out, 4)



def widths(spec) -> list:
    if isinstance(spec, dict):
        return ([spec["width"]] if isinstance(spec.get("width"), int) else []) + [w for v in spec.values()
                                                                                  for w in widths(v)]
    if isinstance(spec, list):
        return [w for v in spec for w in widths(v)]
    return []


def test_distance_rows_number_layers_from_one_and_carry_the_interval():
    m = fake_measurement()
    rows = rc.distance_rows(m["tables"]["distance"])
    assert {r["panel"] for r in rows} == {"every key", "first token left out"}
    layer_rows = [r for r in rows if r["series"] == rc.LAYER]
    assert {r["layer"] for r in layer_rows} == {1}
    overall = [r for r in rows if r["series"] == rc.ALL]
    assert all(r["low"] <= r["weight"] <= r["high"] for r in overall if r["low"] is not None)
    assert len(overall) == 2 * (SETTINGS["max_offset"] + 1)


@pytest.mark.parametrize("which", ["distance", "offset"])
def test_both_charts_fit_a_phone_with_readable_text(which):
    m = fake_measurement()
    f, t = m["facts"], m["tables"]
    if which == "distance":
        def chart(narrow):
            return rc.distance_chart(rc.distance_rows(t["distance"]), 8, 0.3, narrow=narrow).to_dict()
    else:
        def chart(narrow):
            rows = rc.offset_rows(t["rotary"]["offsets"], t["rotary"]["curves"], [0, 50, 900])
            return rc.offset_chart(rows, f["head"], f["example"], 16, narrow=narrow).to_dict()
    wide, narrow = chart(False), chart(True)
    assert min(font_sizes(narrow)) >= 10 and min(font_sizes(wide)) >= 10
    assert max(widths(narrow)) <= 280 < max(widths(wide))
    assert isinstance(narrow["title"]["text"], list)
    for spec in (wide, narrow):
        assert spec["config"]["background"] == "transparent" and spec["config"]["axis"]["gridColor"] == "#888"
        assert spec["config"]["legend"]["orient"] == "bottom"


def test_build_from_cache_renders_both_charts_and_the_facts(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "cache_key", lambda *a, **k: "f" * 64)
    (tmp_path / f"rope-{'f' * 16}.json").write_text(json.dumps(fake_measurement()))
    logs = []
    files = rope_build.build(Context(log=logs.append, cache_dir=tmp_path))
    assert "rope: from the cache" in logs[0]
    assert sorted(files) == ["distance/default.svg", "distance/spec-narrow.json", "distance/spec.json",
                             "facts.json", "offset/default.svg", "offset/spec-narrow.json", "offset/spec.json"]
    narrow = json.loads(files["offset/spec-narrow.json"])
    assert narrow["usermeta"] == {"narrow_below": rc.NARROW_BELOW} and narrow["background"] == "transparent"
    assert "layer 2, head 3" in files["offset/default.svg"].decode()
    assert json.loads(files["facts.json"])["verdicts"]["far_rise_is_the_sink"] is True
    assert files == rope_build.build(Context(log=logs.append, cache_dir=tmp_path))  # deterministic


def test_cache_key_covers_the_measuring_code_and_settings_but_not_the_charts():
    code = {str(p.relative_to(rope.ROOT)) for p in code_files(rope.__name__)}
    assert {"build_scripts/groups/rope/measure.py", "attn_jax/analysis.py", "attn_jax/llama.py"} <= code
    assert "build_scripts/groups/rope/charts.py" not in code
    assert set(rope_build.GROUP.files) == {"data/wsc285/WSCollection.xml", "build_scripts/groups/rope/settings.toml"}
