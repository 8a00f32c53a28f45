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


def test_view_tables_single_and_hidden_specials(payloads):
    (cat, _), (r, _) = payloads
    tokens = list(r.tokens)
    q = tokens.index("it")
    words, links, extra = hv.view_tables(cat, layer=5, heads=[11], query=q)
    assert [w["label"] for w in words if w["selected"]] == ["it"]
    row = {lk["key_index"]: lk["weight"] for lk in links}
    np.testing.assert_allclose([row[i] for i in range(len(tokens))], r.attentions[5, 11, q], atol=6e-4)

    words, links, extra = hv.view_tables(cat, layer=5, heads=[11], query=q, show_special=False)
    assert "[CLS]" not in {w["label"] for w in words}
    raw = r.attentions[5, 11, q]
    removed = raw[0] + raw[-1]
    assert extra["removed"][11] == pytest.approx(removed, abs=2e-3)
    cat_weight = next(lk["weight"] for lk in links if lk["key"] == "cat")
    assert cat_weight == pytest.approx(raw[tokens.index("cat")] / (1 - removed), abs=2e-3)
    assert sum(lk["weight"] for lk in links) == pytest.approx(1.0, abs=5e-3)


def test_multi_head_links_and_readout(payloads):
    (cat, _), _ = payloads
    heads = hv.default_heads(cat, 5)
    assert 2 <= len(heads) <= 4 and len(set(heads)) == len(heads)
    words, links, extra = hv.view_tables(cat, layer=5, heads=heads)
    assert {lk["head"] for lk in links} == {f"head {h + 1}" for h in heads}
    text = hv.readout(cat, words, links, extra)
    assert len(text.splitlines()) == len(heads)
    assert text.splitlines()[0].startswith(f"head {heads[0] + 1}: 'it' → ")


def test_positions_do_not_overlap():
    xs, width = hv.positions(["[CLS]", "a", "longer", "word"])
    assert xs == sorted(xs) and width > 0
    half = [len(w) * hv.CHAR_W / 2 for w in ("[CLS]", "a", "longer", "word")]
    assert all(xs[i] + half[i] < xs[i + 1] - half[i + 1] for i in range(3))


def test_chart_is_valid_vega_lite_with_expected_fields(payloads):
    (cat, _), _ = payloads
    words, links, extra = hv.view_tables(cat, layer=5, heads=[11])
    spec = hv.head_view_chart(words, links, extra["width"]).to_dict()
    assert set(spec["datasets"]) == {"words", "links"}
    fields = json.dumps(spec)
    for f in ('"field": "weight"', '"field": "head"', '"field": "label"', '"field": "x2"'):
        assert f in fields
    vega = vlc.vegalite_to_vega(spec)
    names = [d["name"] for d in vega["data"]]
    assert "words" in names and "links" in names  # the widget swaps these by name
    svg = vlc.vegalite_to_svg(spec)
    assert svg.count("<line") == len(links) and ">cat<" in svg


def test_html_in_labels_is_escaped_in_svg():
    words = [{"index": 0, "label": "<b>x</b>", "row": "query", "x": 10, "y": 20, "selected": True, "special": False}]
    svg = vlc.vegalite_to_svg(hv.head_view_chart(words, [], 50).to_dict())
    assert "<b>" not in svg and "&lt;b&gt;" in svg
