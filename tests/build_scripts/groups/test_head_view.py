"""The head view's chart: the Vega spec computes every view, checked against the encoder's own
attention with NumPy through vl-convert's Vega."""

import numpy as np
import pytest
import vl_convert as vlc

from build_scripts.groups.head_view import charts as hv
from build_scripts.pipeline import payloads as pl


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
    heads = pl.default_heads(cat, 5)
    assert 2 <= len(heads) <= 4 and len(set(heads)) == len(heads)
    marks = _scene(_spec(cat, 5, heads, cat["query"]))
    assert {it["stroke"] for it in marks["line"]} == {pl.PALETTE[h] for h in heads}


def test_html_in_labels_is_escaped_in_svg():
    spec = hv.head_view_spec([{"i": 0, "label": "<b>x</b>", "special": False}], [{"head": 0, "m": [[1.0]]}],
                             query=0, heads=[0])
    svg = vlc.vega_to_svg(spec)
    assert "<b>" not in svg and "&lt;b&gt;" in svg


def _readout(spec) -> str:
    """The spec's ``readout`` signal as vl-convert's Vega computes it (the widget shows the same)."""
    spec = {**spec, "marks": [{"type": "text", "name": "probe", "encode": {"update": {"text": {"signal": "readout"}}}}]}
    return _scene(spec)["probe"][0]["text"]


def test_readout_names_each_heads_strongest_words_like_numpy(payloads):
    (cat, _), _ = payloads
    labels = cat["word"]["labels"]
    q = labels.index("it")
    att = np.asarray(cat["word"]["attention"], np.float64)[5]
    lines = _readout(_spec(cat, 5, [3, 11], q)).split("\n")
    assert len(lines) == 2
    for line, head in zip(lines, (3, 11)):
        order = np.argsort(-att[head, q], kind="stable")[:5]  # NumPy reference: the five largest weights
        parts = ", ".join(f"{labels[k]} {att[head, q, k]:.2f}" for k in order)
        assert line == f"head {head + 1}: 'it' → {parts}, …"
    hidden = _readout(_spec(cat, 5, [11], q, show_special=False))
    removed = att[11, q][np.asarray(cat["word"]["special"])].sum()
    assert hidden.endswith(f"([CLS]/[SEP] hidden: {removed:.2f} of the attention removed, the rest rescaled)")
    assert _readout(_spec(cat, 5, [], q)) == "No head selected: tick at least one head."


def test_a_decoders_text_draws_no_line_to_a_later_or_unwritten_token(payloads):
    """causal: lines only to earlier keys; upto: later tokens are not shown at all; writing: the
    readout names the token being written."""
    (cat, _), _ = payloads
    labels = cat["word"]["labels"]
    q = labels.index("it")
    spec = _spec(cat, 5, [11], q)
    for s in spec["signals"]:
        if s["name"] == "causal":
            s["value"] = True
    marks = _scene(spec)
    ends = {min(marks["key"], key=lambda t: abs(t["x"] - line["x2"]))["text"] for line in marks["line"]}
    assert len(marks["line"]) == q + 1 and ends == set(labels[: q + 1])  # the query itself and every earlier key
    for s in spec["signals"]:
        if s["name"] == "upto":
            s["value"] = q
        if s["name"] == "writing":
            s["value"] = "was"
    marks = _scene(spec)
    assert [t["text"] for t in marks["key"]] == labels[: q + 1]  # nothing after the query is written yet
    assert _readout(spec).startswith(f"Writing 'was': head 12: 'it' → ")
