"""The mechanics figures: masks, scaling and layer parameters, on inputs with a known answer and
against the model's own numbers."""

import json
import math

import numpy as np
import pytest
import vl_convert as vlc

from build_scripts.groups.mechanics import charts
from build_scripts.groups.mechanics import measure as mx
from build_scripts.pipeline.artifacts import ROOT

from tests.helpers import reference_attention

FACTS = ROOT / "docs" / "generated" / "mechanics" / "facts.json"


def test_equal_scores_give_even_rows_and_a_causal_mask_renormalises_them():
    n, d = 5, 3
    demo = mx.mask_demo(np.zeros((n, d)), np.zeros((n, d)))
    np.testing.assert_allclose(demo["full"], np.full((n, n), 1 / n), atol=1e-7)
    expected = np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None]  # row t: 1/(t+1) on keys <= t
    np.testing.assert_allclose(demo["causal_weights"], expected, atol=1e-7)
    assert demo["causal"].sum() == n * (n + 1) // 2


def test_masked_weights_match_a_float64_reference():
    rng = np.random.default_rng(7)
    q, k = rng.normal(size=(7, 11)), rng.normal(size=(7, 11))
    demo = mx.mask_demo(q, k)
    _, full = reference_attention(q, k, np.eye(7))
    _, causal = reference_attention(q, k, np.eye(7), mask=np.tril(np.ones((7, 7), bool)))
    np.testing.assert_allclose(demo["full"], full, atol=1e-5)
    np.testing.assert_allclose(demo["causal_weights"], causal, atol=1e-5)


def test_scaling_demo_against_numpy():
    rng = np.random.default_rng(3)
    q, k = rng.normal(size=(5, 16)) * 3, rng.normal(size=(6, 16)) * 3
    demo = mx.scaling_demo(q, k)
    raw = q @ k.T
    without = np.exp(raw - raw.max(1, keepdims=True))
    np.testing.assert_allclose(demo["without"], without / without.sum(1, keepdims=True), atol=1e-5)
    _, with_ = reference_attention(q, k, np.eye(6))
    np.testing.assert_allclose(demo["with"], with_, atol=1e-5)
    assert demo["without"].max(1).mean() > demo["with"].max(1).mean()  # unscaled rows are peakier


def test_entropy_bits():
    assert mx.entropy_bits(np.full(8, 1 / 8)) == pytest.approx(3.0)
    assert mx.entropy_bits(np.eye(4)[2]) == 0.0


def test_layer_parameters_follow_the_config(encoder):
    m, ffn = encoder.config.hidden_size, encoder.config.intermediate_size
    params = mx.layer_parameters(encoder.params["layers"])
    assert params == {"attention": 4 * (m * m + m), "feed_forward": m * ffn + ffn + ffn * m + m, "layer_norms": 4 * m}


def test_mask_rows_and_chart():
    tokens = ["[CLS]", "a", "b", "[SEP]"]
    demo = mx.mask_demo(np.eye(4, 3), np.eye(4, 3))
    rows = charts.mask_rows(tokens, demo)
    assert len(rows) == 2 * 16 and sum(r["masked"] for r in rows) == 6
    assert all(r["weight"] is None for r in rows if r["masked"])
    vega = vlc.vegalite_to_vega(charts.mask_chart(rows, 4).to_dict())
    assert vega["$schema"].startswith("https://vega.github.io/schema/vega/")


def test_committed_facts_agree_with_the_head_view():
    facts = json.loads(FACTS.read_text())
    head_view = json.loads((ROOT / "docs/generated/head-view/facts.json").read_text())["featured"]
    # Two routes to the same number: the head view from the encoder's weights, merged into words;
    # here softmax(q k^T / sqrt(D)) from the encoder's q and k.
    assert facts["masks"]["full"] == pytest.approx(head_view["weight"], abs=1e-3)
    assert facts["scaling"]["with"] == facts["masks"]["full"]
    assert facts["scaling"]["sqrt_d"] == pytest.approx(math.sqrt(facts["shapes"]["D"]), abs=1e-3)
    assert facts["scaling"]["without"] > facts["scaling"]["with"]
    assert facts["masks"]["visible_keys"] < facts["shapes"]["T"]
    assert facts["block"]["attention_share"] + facts["block"]["feed_forward_share"] <= 1.0
