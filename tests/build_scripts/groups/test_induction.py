"""The induction heads of SmolLM2: the sequences and their targets, the scores, nulls and verdicts on
constructed heads whose answers are known by hand (no model), a fake ablation whose effects are
known, the charts with their layout for phones, and the group's build from a cached measurement."""

import json

import numpy as np
import pytest

from attn_jax import analysis as A
from build_scripts.groups.induction import charts as ic
from build_scripts.groups.induction import group as induction_build
from build_scripts.groups.induction import measure as im
from build_scripts.pipeline import cache
from build_scripts.pipeline.artifacts import rounded
from build_scripts.pipeline.config import ConfigError
from build_scripts.pipeline.registry import Context, code_files
from tests.helpers import font_sizes

N = 3  # tokens per copy in the constructed sequences (each 2N = 6)
R = 6  # sequences: enough for the sign-flip null to reject at 5% (all signs + has p = 1/64)

# --- the sequences --------------------------------------------------------------------------------


def test_the_pool_keeps_ordinary_words_below_the_id_limit():
    vocab = {"\u0120the": 5, "\u0120a": 6, "the": 7, "\u0120The": 8, "\u0120cat": 25000, "\u0120dog": 9,
             "\u0120do3": 10, "\u0120garden": 11, "\u0120\u0120dog": 12}
    assert im.token_pool(vocab, 20000, 3).tolist() == [5, 9, 11]
    assert im.token_pool(vocab, 30000, 4).tolist() == [11]


def test_draws_repeat_the_first_half_and_keep_tokens_distinct():
    pool = np.arange(100, 140)
    d = im.draw(pool, [0, 1, 2], 5)
    assert d.repeat.shape == d.twin.shape == d.shuffled.shape == (3, 10) and d.tokens == 5
    assert (d.repeat[:, :5] == d.repeat[:, 5:]).all() and (d.twin[:, :5] == d.repeat[:, :5]).all()
    assert all(len(set(row)) == 10 for row in d.twin)  # the twin's second half is fresh
    assert (np.sort(d.shuffled[:, 5:], 1) == np.sort(d.repeat[:, :5], 1)).all()
    assert (np.take_along_axis(d.repeat[:, :5], d.order, 1) == d.shuffled[:, 5:]).all()
    again = im.draw(pool, [0, 1, 2], 5)
    assert (again.twin == d.twin).all() and (again.order == d.order).all()  # a seed is its sequence
    assert (im.draw(pool, [1], 5).twin[0] == d.twin[1]).all()  # seed s alone gives the same draw
    with pytest.raises(ConfigError, match="fewer than the 2N = 100"):
        im.draw(pool, [0], 50)


def test_targets_by_hand():
    repeat = np.array([[7, 8, 9, 7, 8, 9]])
    assert im.repeat_targets(repeat).tolist() == [[-1, -1, -1, 1, 2, 3]]  # the task's rule, offset N
    # second copy in the order x2 x0 x1: query 3 (x2) -> 3 is itself (not scored), 4 (x0) -> 1, 5 (x1) -> 2
    assert im.shuffled_targets(np.array([[2, 0, 1]])).tolist() == [[-1, -1, -1, -1, 1, 2]]


def test_copy_losses_leave_out_the_prediction_of_the_repeats_first_token():
    losses = np.array([[10.0, 12.0, 99.0, 2.0, 4.0]])  # t = 2 predicts the repeat's first token
    first, second = im.copy_losses(losses, N)
    assert first.tolist() == [11.0] and second.tolist() == [3.0]


# --- constructed heads ------------------------------------------------------------------------------


def pointer(targets: np.ndarray) -> np.ndarray:
    """[R, n, n] attention on each query's target (key 0 where it has none)."""
    r, n = targets.shape
    att = np.zeros((r, n, n))
    for i, t in np.ndindex(r, n):
        att[i, t, targets[i, t] if targets[i, t] >= 0 else 0] = 1.0
    return att


def uniform(r: int, n: int) -> np.ndarray:
    return np.broadcast_to(np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None], (r, n, n))


def heads(induction: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """[R, L=2, H=2, n, n]: (1, 0) the given induction-like head, (0, 1) the given previous-token
    head, (0, 0) and (1, 1) uniform."""
    r, n = induction.shape[:2]
    even = uniform(r, n)
    return np.stack([np.stack([even, previous], 1), np.stack([induction, even], 1)], 1)


SETTINGS = {"sequences": R, "tokens": N, "id_below": 20000, "min_letters": 3, "shuffled_sequences": R,
            "ablation_sequences": 2, "ks": [1, 2], "random_draws": 2, "top_heads": 1, "partners": 1,
            "shuffled_null_repeats": 400, "sign_flip_repeats": 2000, "bootstrap_repeats": 500, "seed": 0,
            "pool_size": 40, "vocab_size": 64}


def constructed():
    """Scores, control and draws of R constructed sequences (module doc of this file's heads)."""
    d = im.draw(np.arange(100, 140), range(R), N)
    targets = im.repeat_targets(d.repeat)
    prev = pointer(A.previous_token_targets(R, 2 * N))
    rep_att = heads(pointer(targets), prev)
    twin_att = heads(uniform(R, 2 * N), prev)  # no repeat: the induction head has nothing to find
    s = im.scores(rep_att, twin_att, targets, SETTINGS)
    ctl = im.control(heads(pointer(im.shuffled_targets(d.order)), prev), d.order)
    return d, targets, s, ctl


def test_scores_and_nulls_of_constructed_heads():
    _, targets, s, ctl = constructed()
    ind, prev, twin = s["induction"].mean(0), s["previous"].mean(0), s["twin"].mean(0)
    even = np.mean([1 / (t + 1) for t in range(N, 2 * N)])  # the uniform null of the induction score
    assert s["uniform"] == pytest.approx(even)
    assert ind[1, 0] == 1.0 and ind[0, 1] == 0.0 and ind[0, 0] == pytest.approx(even)
    assert twin[1, 0] == pytest.approx(even)
    assert prev[0, 1] == 1.0 and prev[1, 0] == pytest.approx(1 / (2 * N - 1))  # only query 1 hits key 0
    # the nulls: the sign flips can reach the induction head's own difference only when no sign flips
    assert np.percentile(s["sign_flip_null"], 95) < ind[1, 0] - twin[1, 0]
    assert even <= np.percentile(s["shuffled_null"], 95) < 1.0
    # the shuffled-order control: the head follows content, so position finds it only by coincidence
    assert ctl["content"][1, 0] == 1.0 and ctl["position"][1, 0] < 1.0
    assert ctl["position"][0, 0] == pytest.approx(ctl["content"][0, 0], abs=0.2)


def test_partners_are_the_best_previous_token_heads_of_earlier_layers():
    previous = np.array([[0.1, 0.9, 0.5], [0.2, 0.95, 0.0], [0.99, 0.0, 0.0]])
    # top head in layer 2 (0-based 1): only layer 0 counts, best first
    assert im.partners_of(previous, np.array([4]), 2).tolist() == [1, 2]
    assert im.partners_of(previous, np.array([7, 3]), 5).tolist() == [1, 2, 0]  # earliest top layer: 1
    assert im.rank(np.array([[0.2, 0.5], [0.5, 0.1]])).tolist() == [1, 2, 0, 3]  # ties: lower layer first


def fake_losses(effect: bool):
    """``run_losses(gates)`` for 2 sequences: the second copy's loss rises by 8 without head (1, 0)
    and by 2 without (0, 1); the first copy's by 0.05 without (1, 0). ``effect=False``: no head matters."""
    def run(gates):
        g = np.asarray(gates)
        second = 1.0 + (8 * (1 - g[1, 0]) + 2 * (1 - g[0, 1]) if effect else 0.0)
        first = 10.0 + (0.05 * (1 - g[1, 0]) if effect else 0.0)
        row = [first, first, 99.0, second, second]  # t = 2 is in neither copy
        return np.array([row, row])
    return run


def facts_of(effect: bool = True):
    d, _, s, ctl = constructed()
    top = im.rank(s["induction"].mean(0))
    partners = im.partners_of(s["previous"].mean(0), top[:1], 1)
    abl = im.ablation(fake_losses(effect), N, top, partners, (2, 2), SETTINGS)
    losses = np.tile([12.0, 12.0, 99.0, 3.0, 2.0], (R, 1)) + np.arange(R)[:, None] * 0.1
    twin = np.tile([12.0, 12.0, 99.0, 11.5, 11.5], (R, 1))
    return im.compute(d, s, ctl, losses, twin, abl, SETTINGS)


def test_facts_name_the_heads_and_count_them_against_both_nulls():
    facts, tables = facts_of()
    ind = facts["induction"]
    assert (ind["best"]["layer"], ind["best"]["head"], ind["best"]["induction"]) == (2, 1, 1.0)
    assert ind["heads_above_twin_null"] == ind["heads_above_shuffled_null"] == ind["heads_above_both_nulls"] == 1
    assert ind["null"]["twin"]["p_best"] < 0.05 and ind["null"]["shuffled"]["p_best"] < 0.05
    [partner] = facts["previous_token"]["partners"]
    assert (partner["layer"], partner["head"], partner["score"], partner["above_null"]) == (1, 2, 1.0, True)
    assert facts["previous_token"]["before_layer"] == 2
    assert facts["loss"]["first"]["mean"] == pytest.approx(12.25) and facts["loss"]["second"]["mean"] == pytest.approx(2.75)
    assert facts["loss"]["drop"]["low"] <= facts["loss"]["drop"]["mean"] <= facts["loss"]["drop"]["high"]
    assert facts["sequences"]["n"] == R and facts["sequences"]["dropped"] == 0
    assert tables["top"].tolist() == [2] and tables["partners"].tolist() == [1]
    v = facts["verdicts"]
    assert v["induction_heads_beat_nulls"] and v["partners_beat_null"] and v["loss_drops_on_repeat"]
    assert v["repeat_drop_exceeds_twin"] and v["shuffled_order_follows_content"]


def test_the_ablation_by_hand_and_its_verdicts():
    facts, tables = facts_of()
    a, v = facts["ablation"], facts["verdicts"]
    assert a["intact"]["second"]["mean"] == 1.0 and a["intact"]["first"]["mean"] == 10.0
    assert a["k1"]["top"]["second"]["mean"] == 9.0 and a["k1"]["top"]["heads"] == [{"layer": 2, "head": 1}]
    # k = 2: the top two by induction score are (1, 0) and the first uniform head (0, 0); the only
    # random pair outside them is {(0, 1), (1, 1)}, which holds the partner: loss 1 + 2
    assert a["k2"]["top"]["second"]["mean"] == 9.0
    assert [d["second"] for d in a["k2"]["random"]["draws"]] == [3.0, 3.0]
    assert a["k1"]["top_beats_every_random"] and a["k2"]["top_beats_every_random"]
    assert v["top_heads_matter_more_than_random"]
    assert a["largest_k"]["drop_retained"] == pytest.approx((10.05 - 9.0) / 9.0)
    assert v["copying_collapses"] and v["first_copy_unchanged"]
    assert a["partners"]["second"]["mean"] == 3.0
    assert v["partners_matter"] == (3.0 > a["k1"]["random"]["second_max"])  # the rule, on the seeded draws
    assert [r["k"] for r in tables["ablation"]] == [1, 2]


def test_verdicts_turn_false_when_no_head_matters():
    facts, _ = facts_of(effect=False)
    v = facts["verdicts"]
    assert not v["top_heads_matter_more_than_random"] and not v["copying_collapses"] and not v["partners_matter"]
    assert facts["ablation"]["largest_k"]["drop_retained"] == 1.0
    assert v["first_copy_unchanged"]  # nothing moved: the first copy moved no more than the second


def test_settings_errors_name_the_fix(tmp_path):
    good = im.load_settings()
    assert good["partners"] in good["ks"] and good["shuffled_sequences"] <= good["sequences"]
    text = im.CONFIG.read_text()
    for old, new, message in [("ks = [1, 3, 5, 10]", "ks = [3, 1]", r"\['ks'\]"),
                              ("partners = 5 ", "partners = 4 ", "partners one of ks"),
                              ("sequences = 32 ", "sequences = 0 ", r"\['sequences'\]")]:
        assert old in text, old
        path = tmp_path / "settings.toml"
        path.write_text(text.replace(old, new))
        with pytest.raises(ConfigError, match=message):
            im.load_settings(path)


# --- charts ----------------------------------------------------------------------------------------


def test_dodge_keeps_labels_apart_and_inside():
    assert ic.dodge([10, 12, 50], 13, 0, 100) == [10, 23, 50]
    assert ic.dodge([99, 95], 13, 0, 100) == [100, 87]  # pushed apart, then back under the top


def test_head_rows_number_from_one_and_draw_the_marked_heads_last():
    ind = np.array([[0.1, 0.0], [0.9, 0.2]])
    prev = np.array([[0.0, 0.8], [0.0, 0.1]])
    rows = ic.head_rows(ind, prev, ind, ind, prev, prev, ind * 0, top=[2], partners=[1])
    assert [(r["layer"], r["head"], r["kind"]) for r in rows[-2:]] == [(1, 2, "previous-token partner"),
                                                                       (2, 1, "induction head")]
    assert rows[-1]["name"] == "layer 2, head 1" and rows[-1]["label"] == "L2 H1"
    labels = ic.label_rows(rows, 300, 300)
    assert {r["label"] for r in labels} == {"L2 H1", "L1 H2"}


def charts():
    facts, t = facts_of()
    rows = ic.head_rows(t["induction"], t["previous"], t["induction_low"], t["induction_high"], t["previous_low"],
                        t["previous_high"], t["twin"], t["top"], t["partners"])
    lines, draws = ic.ablation_rows(t["ablation"], t["intact"], t["partners_ablation"])
    return {
        "heads": lambda narrow: ic.heads_chart(rows, 0.3, 0.4, 0.2, R, N, narrow=narrow).to_dict(),
        "ablation": lambda narrow: ic.ablation_chart(lines, draws, 2, N, 2, True, True, narrow=narrow).to_dict(),
    }


@pytest.mark.parametrize("name", ["heads", "ablation"])
def test_the_narrow_layouts_fit_a_phone_with_readable_text(name):
    chart = charts()[name]
    wide, narrow = chart(False), chart(True)
    assert narrow["width"] == ic.NARROW_WIDTH < wide["width"] and narrow["width"] <= 300
    assert min(font_sizes(narrow)) >= 10 and min(font_sizes(wide)) >= 10
    for spec in (wide, narrow):
        assert spec["config"]["background"] == "transparent" and spec["config"]["axis"]["gridColor"] == "#888"
    assert isinstance(narrow["title"]["text"], list) and " ".join(narrow["title"]["text"]) == wide["title"]["text"]
    assert isinstance(narrow["title"]["subtitle"], list)
    assert "bottom" in json.dumps(narrow["layer"])  # the legend below the plot


def test_the_ablation_title_follows_the_verdicts():
    facts, t = facts_of()
    lines, draws = ic.ablation_rows(t["ablation"], t["intact"], t["partners_ablation"])
    assert lines[0] == {"k": 0, "series": ic.SERIES[0], "loss": 1.0}
    title = " ".join(ic.ablation_chart(lines, draws, 2, N, 2, False, False).to_dict()["title"]["text"].split())
    assert "weakens" in title and "may stop too" in title
    assert "stops" in ic.ablation_chart(lines, draws, 2, N, 2, True, True).to_dict()["title"]["text"]


# --- the build -------------------------------------------------------------------------------------


def test_build_from_cache_renders_the_charts_and_facts(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "cache_key", lambda *a, **k: "e" * 64)
    facts, tables = facts_of()
    (tmp_path / f"induction-{'e' * 16}.json").write_text(json.dumps(rounded({"facts": facts, "tables": tables}, 4)))
    logs = []
    files = induction_build.build(Context(log=logs.append, cache_dir=tmp_path))
    assert "induction: from the cache" in logs[0]
    assert sorted(files) == ["ablation/default.svg", "ablation/spec-narrow.json", "ablation/spec.json", "facts.json",
                             "heads/default.svg", "heads/spec-narrow.json", "heads/spec.json"]
    for prefix in ("heads/", "ablation/"):
        spec, narrow = (json.loads(files[f"{prefix}{f}"]) for f in ("spec.json", "spec-narrow.json"))
        assert narrow["usermeta"] == {"narrow_below": ic.NARROW_BELOW} and "usermeta" not in spec
    assert "L2 H1" in files["heads/default.svg"].decode() and "L1 H2" in files["heads/default.svg"].decode()
    assert json.loads(files["facts.json"])["verdicts"]["copying_collapses"] is True
    assert files == induction_build.build(Context(log=logs.append, cache_dir=tmp_path))  # deterministic


def test_cache_key_covers_the_measuring_code_and_settings_but_not_the_charts():
    code = {str(p.relative_to(im.ROOT)) for p in code_files(im.__name__)}
    assert {"build_scripts/groups/induction/measure.py", "attn_jax/analysis.py", "attn_jax/tasks.py"} <= code
    assert "build_scripts/groups/induction/charts.py" not in code  # restyling never reruns the model
    assert set(induction_build.GROUP.files) == {"build_scripts/groups/induction/settings.toml"}
