"""The all-heads grid: every map in one chart, the cells at their rows and columns, the scores
defined in attn_jax.analysis (through the head view's pattern scores), the readout computed by the spec."""

import re

import numpy as np
import pytest
import vl_convert as vlc

from attn_jax.words import align_words, word_attention
from build_scripts.groups.head_grid import charts as hg
from build_scripts.groups.head_grid.measure import scores as grid_scores
from build_scripts.pipeline import payloads as hv
from build_scripts.pipeline.config import load_config


@pytest.fixture(scope="module")
def runs(encoder):
    config = load_config()
    [sid] = config.role_ids("head-grid")
    s = config.by_id(sid)
    return list(zip([s], encoder.run([s.text])))


@pytest.fixture(scope="module")
def grid(runs):
    _, r = runs[0]
    al = align_words(r.tokenized)
    att = word_attention(r.attentions, al)
    return al, att, hg.grid_rows(att, grid_scores(att, al.special))


def test_grid_rows_hold_every_map(grid):
    al, att, rows = grid
    n = len(al.words)
    assert len(rows) == 72 and {(x["layer"], x["head"]) for x in rows} == {(l, h) for l in range(6) for h in range(12)}
    for x in rows[::7]:
        np.testing.assert_allclose(np.reshape(x["w"], (n, n)), att[x["layer"], x["head"]], atol=0.5 * 10 ** -hg.MAP_PRECISION)


def test_pattern_scores_on_synthetic_heads():
    """Known answers, one head per pattern, over the ordinary query words a..d of "[CLS] a b c d [SEP]".

    Edge rule (attn_jax.analysis): a neighbour that is a special token is not a word, so the
    previous-token head counts 3/3 (a, whose token before is [CLS], is left out), and the [CLS] and
    [SEP] heads score 0 as previous / next word (not 1/4 from a -> [CLS] or d -> [SEP]).
    The grid's per-layer summary and the head view's pattern picks both read these scores.
    """
    w = 6
    special = np.array([True, False, False, False, False, True])  # [CLS] a b c d [SEP]
    att = np.zeros((1, 5, w, w))
    for i in range(w):
        att[0, 0, i, max(i - 1, 0)] = 1.0  # the token before (a -> [CLS])
        att[0, 1, i, 0] = 1.0  # [CLS]
        att[0, 2, i, 4 if i < 3 else 1] = 1.0  # a, b -> d; c, d -> a: always a far word
        att[0, 3, i, min(i + 1, w - 1)] = 1.0  # the token after (d -> [SEP])
        att[0, 4, i, w - 1] = 1.0  # [SEP]
    scores = hv.pattern_scores(att, special)
    np.testing.assert_allclose(scores["previous word"][0], [1, 0, 0, 0, 0])  # b, c, d; a's previous is [CLS]
    np.testing.assert_allclose(scores["next word"][0], [0, 0, 0, 1, 0])  # a, b, c; d's next is [SEP]
    np.testing.assert_allclose(scores["[CLS] sink"][0], [0.25, 1, 0, 0, 0])  # all of a..d; head 0 only from a
    np.testing.assert_allclose(scores["focused"][0], [0, 0, 1, 0, 0])  # neighbours and specials never count
    picks = hv.classify_heads(att, special)[0]
    want = {"previous word": 0, "[CLS] sink": 1, "focused": 2, "next word": 3}
    assert {p: picks[p]["head"] for p in hv.PATTERNS} == want
    assert picks["focused"]["order"][0] == 2
    rows = hg.grid_rows(att, grid_scores(att, special))
    [summary] = hg.layer_summary(rows)
    assert (summary["sink_head"], summary["focused_head"]) == (1, 2)
    assert [r["cls"] for r in rows] == [0.25, 1, 0, 0, 0]


def test_grid_chart_places_each_weight_at_its_row_and_column():
    """One-hot maps: the single bright cell must land at (query i, key j) of its (layer, head)."""
    n, rows = 3, []
    for layer in range(2):
        for head in range(2):
            w = np.zeros((n, n))
            w[layer, 2 - head] = 1.0  # a different (i, j) in every map
            rows.append({"layer": layer, "head": head, "n": n, "w": w.reshape(-1).tolist(), "cls": 0, "focus": 0})
    spec = hg.head_grid_chart(rows, ["a", "b", "c"], {"layer": 0, "head": 0, "n": n}, 2, 2).to_dict()
    svg = vlc.vegalite_to_svg(spec)
    bright = re.findall(r'<path d="M([\d.]+),([\d.]+)h[\d.]+v[\d.]+h-[\d.]+Z" fill="rgb\(253, 231, 37\)"', svg)
    step = n * hg.CELL + hg.GAP
    expected = {(hg.LEFT + h * step + (2 - h) * hg.CELL, hg.TOP + l * step + l * hg.CELL)
                for l in range(2) for h in range(2)}
    assert {(float(x), float(y)) for x, y in bright} == expected
    assert ">head 2<" in svg and ">layer 2<" in svg


def test_grid_chart_datasets(grid):
    al, _, rows = grid
    spec = hg.head_grid_chart(rows, list(al.words), {"layer": 5, "head": 11, "n": len(al.words)}, 6, 12).to_dict()
    assert set(spec["datasets"]) == {"cells", "words", "selected"}
    assert {"cells", "words", "selected"} <= {d["name"] for d in vlc.vegalite_to_vega(spec)["data"]}


def test_grid_readout_is_computed_by_the_spec(grid):
    al, _, rows = grid
    row = next(r for r in rows if (r["layer"], r["head"]) == (2, 7))
    spec = hg.head_grid_chart(rows, list(al.words), hg.selected_row(row), 6, 12).to_dict()
    assert hg.evaluate_readout(vlc.vegalite_to_vega(spec)) == (
        f"Selected: layer 3, head 8: [CLS] share {row['cls']:.3f}, focus {row['focus']:.3f}.")


