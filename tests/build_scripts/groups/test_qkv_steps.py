"""Q/K/V steps and the all-heads grid: payload numbers against the encoder and an independent NumPy
recomputation, the tidy tables, the charts (Vega with named data sets), and the generated
files (fresh, byte-identical on rebuild, small enough)."""

import dataclasses
import gzip
import json

import numpy as np
import pytest
import vl_convert as vlc

from build_scripts.groups.qkv_steps import charts as qkv
from build_scripts.groups.qkv_steps.measure import layer_payload, outputs, steps
from build_scripts.pipeline.artifacts import ROOT
from build_scripts.pipeline.config import load_config
from build_scripts.pipeline.render import stable_svg

from tests.helpers import reference_attention

GENERATED = ROOT / "docs" / "generated"


@pytest.fixture(scope="module")
def runs(encoder):
    config = load_config()
    sentences = [config.by_id(i) for i in config.role_ids("qkv-steps")]
    return list(zip(sentences, encoder.run([s.text for s in sentences])))


@pytest.fixture(scope="module")
def cat(runs):
    s, r = runs[0]
    return s, r, layer_payload(s, r, 5)


# --- payload --------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("layer", [0, 3, 5])
def test_payload_matches_encoder_and_numpy_reference(runs, which, layer):
    s, r = runs[which]
    p = layer_payload(s, r, layer)
    n, heads, d = len(r.tokens), r.q.shape[2], r.q.shape[3]
    assert np.shape(p["q"]) == np.shape(p["k"]) == np.shape(p["v"]) == np.shape(p["out"]) == (heads, n, d)
    assert np.shape(p["raw"]) == np.shape(p["scaled"]) == np.shape(p["weights"]) == (heads, n, n)
    assert p["tokens"] == list(r.tokens) and p["head_dim"] == d == 32
    for h in (0, 7, heads - 1):
        q, k, v = (np.asarray(a[layer][:, h], np.float64) for a in (r.q, r.k, r.v))  # [n, D]
        out, w = reference_attention(q, k, v)  # float64, shares no code with attn_jax
        np.testing.assert_allclose(p["raw"][h], q @ k.T, atol=6e-4)
        np.testing.assert_allclose(p["scaled"][h], q @ k.T / np.sqrt(32), atol=6e-4)
        np.testing.assert_allclose(p["weights"][h], w, atol=6e-4)
        np.testing.assert_allclose(p["weights"][h], r.attentions[layer, h], atol=5e-4)  # the model's own
        np.testing.assert_allclose(p["out"][h], out, atol=1e-3)
        np.testing.assert_allclose(p["q"][h], q, atol=5e-4)


def test_shipped_weights_are_softmax_of_shipped_scaled(cat):
    _, _, p = cat
    scaled = np.asarray(p["scaled"])
    e = np.exp(scaled - scaled.max(-1, keepdims=True))  # NumPy softmax of what is shipped
    np.testing.assert_allclose(e / e.sum(-1, keepdims=True), p["weights"], atol=2e-3)
    np.testing.assert_allclose(np.asarray(p["weights"]).sum(-1), 1.0, atol=7e-3)


def test_payload_refuses_weights_that_do_not_follow_from_q_and_k(runs):
    s, r = runs[0]
    wrong = r.attentions.copy()
    wrong[2, 4] = wrong[2, 4][:, ::-1]  # keys reversed: rows still sum to 1, but not softmax(q·k/√D)
    with pytest.raises(AssertionError, match="layer 3: softmax"):
        layer_payload(s, dataclasses.replace(r, attentions=wrong), 2)


def test_steps_by_hand():
    """attn_jax's own steps, one head at a time, on numbers checked by hand: q [n=3, H=1, D=4]."""
    q = np.array([[[2.0, 0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0, 0.0]], [[0.0, 2.0, 0.0, 0.0]]])
    k = np.array([[[1.0, 0.0, 0.0, 0.0]], [[0.0, 1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0, 0.0]]])
    s = steps(q, k, k)
    np.testing.assert_allclose(s["raw"][0, 0], [2.0, 0.0, 2.0])  # q0 · k for every key
    np.testing.assert_allclose(s["scaled"][0, 0], [1.0, 0.0, 1.0])  # ÷ √4
    np.testing.assert_allclose(s["weights"][0, 1], [1 / 3] * 3, rtol=1e-6)  # a zero query: even weights
    w = np.array([[[0.25, 0.75, 0.0]] * 3])  # [H=1, n=3, n=3]
    v = np.array([[[4.0]], [[8.0]], [[100.0]]])  # [n=3, H=1, Dv=1]
    np.testing.assert_allclose(outputs(w, v)[0, :, 0], [7.0, 7.0, 7.0])


# --- tables, readout, chart -----------------------------------------------------------------------


def _filled(p, head, query, narrow=False):
    vega = vlc.vegalite_to_vega(qkv.qkv_chart(32, 3.5, 2.0, narrow=narrow).to_dict())
    return qkv.with_picking(vega, p, head, query)


def _rows(spec, name, fields):
    """Rows of data set ``name`` as vl-convert's Vega computes them, through a probe text mark."""
    probe = dict(spec)
    expr = "[" + ", ".join(f"datum.{f}" for f in fields) + "]"
    probe["marks"] = [{"type": "text", "name": "probe", "from": {"data": name},
                       "encode": {"update": {"text": {"signal": expr}}}}]
    [mark] = vlc.vega_to_scenegraph(probe)["scenegraph"]["items"][0]["items"]
    return [json.loads(it["text"]) if isinstance(it["text"], str) else it["text"] for it in mark["items"]]


def test_spec_picks_the_payload_numbers(cat):
    """The spec's own transforms pick one head and query out of the routed layer (plain indexing here)."""
    _, r, p = cat
    query, n = list(r.tokens).index("it"), len(r.tokens)
    spec = _filled(p, 11, query)
    q = _rows(spec, "q", ["dim", "value", "row"])
    assert [x[1] for x in sorted(q)] == p["q"][11][query] and q[0][2] == "q|q (it)"
    k = _rows(spec, "k", ["row", "dim", "value"])
    assert len(k) == n * 32 and sorted(k)[32 * 3 + 5][2] == p["k"][11][3][5]
    scores = sorted(_rows(spec, "scores", ["row", "word", "index", "query", "raw", "scaled", "weight"]))
    keys = [x[0] for x in scores]
    assert len(set(keys)) == n and keys == [qkv.row_key(i, t, i == query) for i, t in enumerate(r.tokens)]
    assert [x[4] for x in scores] == p["raw"][11][query] and [x[6] for x in scores] == p["weights"][11][query]
    assert [x[2] for x in scores if x[3]] == [query]
    v = _rows(spec, "v", ["row", "dim", "value", "weight"])
    assert sorted(v)[32 * 2][3] == p["weights"][11][query][2] and sorted(v)[32 * 2][2] == p["v"][11][2][0]
    out = _rows(spec, "out", ["row", "dim", "value"])
    assert [x[2] for x in sorted(out, key=lambda x: x[1])] == p["out"][11][query] and out[0][0] > keys[-1]


def test_readout_and_table_as_the_spec_computes_them(cat):
    _, r, p = cat
    query = list(r.tokens).index("it")
    readout, table = qkv.evaluate(_filled(p, 11, query))
    w = np.asarray(p["weights"][11][query])
    top = int(w.argmax())  # NumPy: the first of the largest
    assert readout == (f"Layer 6, head 12, query 'it': the largest weight goes to '{r.tokens[top]}': "
                       f"q · k = {p['raw'][11][query][top]:.3f}, ÷ √32 = {p['scaled'][11][query][top]:.3f}, "
                       f"softmax = {w[top]:.3f}.")
    assert table == [[t, p["raw"][11][query][i], p["scaled"][11][query][i], p["weights"][11][query][i]]
                     for i, t in enumerate(r.tokens)]


@pytest.mark.parametrize("narrow", [False, True])
def test_qkv_chart_draws_every_step(cat, narrow):
    _, r, p = cat
    svg = stable_svg(_filled(p, 11, list(r.tokens).index("it"), narrow), vega=True)
    for title in ("2. q · k for every word", "3. ÷ √32", "4. softmax", "5. Σ weight × v = output"):
        assert title in svg
    assert ">because<" in svg and ">= output<" in svg and ">27.2<" in svg  # words on the axis, raw as text
    assert set(qkv.DATASETS) <= {d["name"] for d in _filled(p, 11, 1)["data"]}  # the names the widget reads


# --- generated files ------------------------------------------------------------------------------


def test_facts_agree_with_the_head_view():
    facts = json.loads((GENERATED / "qkv-steps" / "facts.json").read_text())
    featured = json.loads((GENERATED / "head-view" / "facts.json").read_text())["featured"]
    d = facts["default"]
    assert (d["layer_1based"], d["head_1based"], d["query"]) == (featured["layer"] + 1, featured["head"] + 1, "it")
    assert d["top"]["word"] == "cat" and d["top"]["weight"] == pytest.approx(featured["weight"], abs=1e-3)
    assert d["top"]["scaled"] == pytest.approx(d["top"]["raw"] / d["sqrt_d"], abs=1e-3)


def test_generated_sizes():
    for group in ("qkv-steps", "head-grid"):
        spec = (GENERATED / group / "spec.json").read_bytes()
        assert len(gzip.compress(spec)) <= 60_000, f"{group}/spec.json is over 60 KB gzipped"
    for path in (GENERATED / "qkv-steps").glob("*-layer-*.json"):
        assert len(gzip.compress(path.read_bytes())) <= 80_000, f"{path.name} is over 80 KB gzipped"


def test_fallback_svg_does_not_depend_on_what_was_rendered_before(cat):
    _, r, p = cat
    spec = qkv.qkv_chart(32, 3.5, 2.0).to_dict()
    first = stable_svg(spec)
    vlc.vegalite_to_svg(spec)  # moves vl-convert's gradient counter on
    assert stable_svg(spec) == first and 'id="gradient_0"' in first and 'id="gradient_1"' in first
