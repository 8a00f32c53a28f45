"""Head-view tables and chart: checked against the encoder's own token attention and Vega-Lite."""

import json

import numpy as np
import pytest
import vl_convert as vlc

from build_scripts import headview as hv
from build_scripts.config import Sentence


@pytest.fixture(scope="module")
def payloads(encoder):
    sentences = [
        Sentence("cat", "The cat sat on the mat because it was tired.", "cat", "it"),
        Sentence("animal", "The animal didn't cross the street because it was too wide.", "animal", "it"),
    ]
    results = encoder.run([s.text for s in sentences])
    return [hv.sentence_payload(s, r) for s, r in zip(sentences, results)], results


def test_featured_head_is_the_argmax_of_the_real_weights(payloads):
    (cat, _), (r, _) = payloads
    f = hv.featured_head(cat, "it", "cat")
    tokens = list(r.tokens)
    a = r.attentions[:, :, tokens.index("it"), tokens.index("cat")]  # every word is one token here
    layer, head = np.unravel_index(a.argmax(), a.shape)
    assert (f["layer"], f["head"]) == (layer, head)
    assert f["weight"] == pytest.approx(a.max(), abs=1e-3)
    assert f["weight"] > 3 * f["uniform"]  # a real, strong preference


def test_word_level_merges_pieces(payloads):
    (_, animal), (_, r) = payloads
    assert "didn't" in animal["word"]["labels"] and "didn" in animal["token"]["labels"]
    w = np.asarray(animal["word"]["attention"])
    assert w.shape[-1] == len(animal["word"]["labels"]) == len(r.tokens) - 2  # didn ' t -> didn't
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=0.01)  # rounded to 3 decimals


def _scene(spec):
    """Marks of the spec as vl-convert's Vega draws them: ``{name: [items]}``."""
    root = vlc.vega_to_scenegraph(spec)["scenegraph"]["items"][0]
    return {m.get("name"): m["items"] for m in root["items"]}


def _spec(payload, layer, heads, query, show_special=True, width=None):
    spec = hv.head_view_spec(hv.token_rows(payload["word"]), hv.layer_rows(payload["word"]["attention"], layer),
                             query=query, heads=heads, show_special=show_special)
    if width is not None:  # vl-convert has no container: fix the container width the spec reads
        next(s for s in spec["signals"] if s["name"] == "cw")["init"] = str(width)
    return spec


def test_spec_draws_one_line_per_word_thickest_to_the_largest_weight(payloads):
    (cat, _), _ = payloads
    labels = cat["word"]["labels"]
    q = labels.index("it")
    row = np.asarray(cat["word"]["attention"])[5, 11, q]
    marks = _scene(_spec(cat, 5, [11], q))
    assert [t["text"] for t in marks["word"]] == labels
    assert len(marks["line"]) == len(labels)
    thick = max(marks["line"], key=lambda it: it["strokeWidth"])
    end = min(marks["key"], key=lambda t: abs(t["x"] - thick["x2"]))
    assert end["text"] == labels[int(row.argmax())] == "cat"
    bold = [t["text"] for t in marks["word"] if t["fontWeight"] == "bold"]
    assert bold == ["it"]


def test_hidden_specials_rescale_the_rest_like_numpy(payloads):
    (cat, _), _ = payloads
    labels = cat["word"]["labels"]
    q = labels.index("it")
    spec = _spec(cat, 5, [11], q, show_special=False)
    # the links data set as Vega computes it: read it back through a text mark added for the test
    spec["marks"].append({"type": "text", "name": "probe", "from": {"data": "links"},
                          "encode": {"update": {"text": {"signal": "datum.label + '=' + datum.weight"}}}})
    shown = dict(t["text"].split("=") for t in _scene(spec)["probe"])
    raw = np.asarray(cat["word"]["attention"], np.float64)[5, 11, q]
    keep = ~np.asarray(cat["word"]["special"])
    expected = raw[keep] / raw[keep].sum()  # NumPy reference
    assert "[CLS]" not in shown and len(shown) == keep.sum()
    np.testing.assert_allclose([float(shown[w]) for w in np.asarray(labels)[keep]], expected, atol=1e-12)


def test_narrow_container_gives_two_columns(payloads):
    (cat, _), _ = payloads
    q = cat["word"]["labels"].index("it")
    wide = _scene(_spec(cat, 5, [11], q, width=700))
    narrow = _scene(_spec(cat, 5, [11], q, width=340))
    assert len({t["y"] for t in wide["word"]}) == 1  # one row of query words
    assert len({t["x"] for t in narrow["word"]}) == 1  # one column of query words ...
    ys = sorted(t["y"] for t in narrow["word"])
    assert min(b - a for a, b in zip(ys, ys[1:])) >= 24  # ... each a touch-sized row
    assert max(t["x"] for t in narrow["key"]) < 340


def test_multi_heads_get_their_palette_colours(payloads):
    (cat, _), _ = payloads
    heads = hv.default_heads(cat, 5)
    assert 2 <= len(heads) <= 4 and len(set(heads)) == len(heads)
    marks = _scene(_spec(cat, 5, heads, cat["query"]))
    assert {it["stroke"] for it in marks["line"]} == {hv.PALETTE[h] for h in heads}


def test_quantised_weights_within_half_a_step(payloads):
    (cat, animal), _ = payloads
    for p in (cat, animal):
        a = np.asarray(p["word"]["attention"], np.float64)
        back = hv.dequantise(hv.quantise(a))
        assert np.abs(back - a).max() <= hv.Q8_MAX_ERROR + 1e-12
    shipped = hv.shipped_payload(animal)
    assert set(shipped["token"]["attention"]) == {"q8", "shape"}
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        hv.quantise(np.array([0.5, 1.5]))


def test_html_in_labels_is_escaped_in_svg():
    spec = hv.head_view_spec([{"i": 0, "label": "<b>x</b>", "special": False}], [{"head": 0, "m": [[1.0]]}],
                             query=0, heads=[0])
    svg = vlc.vega_to_svg(spec)
    assert "<b>" not in svg and "&lt;b&gt;" in svg


def test_a_one_step_flip_of_8_bit_weights_is_not_a_change():
    from build_scripts.artifacts import dumps, equivalent

    a = np.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    near, far = a.copy(), a.copy()
    near[0, 0] += 0.6 / 255  # another CPU's last bits move the weight across a rounding boundary
    far[0, 0] += 2.0 / 255
    old = dumps({"attention": hv.quantise(a), "query": 1}).encode()
    assert equivalent(old, dumps({"attention": hv.quantise(near), "query": 1}).encode())
    assert not equivalent(old, dumps({"attention": hv.quantise(far), "query": 1}).encode())
    assert not equivalent(old, dumps({"attention": hv.quantise(a), "query": 2}).encode())
