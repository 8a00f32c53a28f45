"""The learning group: the chart functions give valid, small Vega specs; the committed result (what
the widget reads) has the stated structure and meets the targets; the cache is keyed by the code
that trains, not the code that draws. No training here: tests/attn_jax/test_train.py does that."""

import gzip
import json

import numpy as np
import pytest
import vl_convert as vlc

from build_scripts.groups.learning import charts as learning
from build_scripts.groups.learning import measure
from build_scripts.pipeline.artifacts import GENERATED_REL, ROOT
from build_scripts.pipeline.registry import code_files

RESULT = ROOT / GENERATED_REL / "learning" / "learning.json"
MAX_GZIP = 60_000


def fake_result(steps=(0, 10, 20), t=5, layers=2, heads=3) -> dict:
    """A small result shaped like learning.run()'s: n = 2 pairs, best head layer 2, head 3."""
    c = len(steps)
    rng = np.random.default_rng(0)
    attention = rng.dirichlet(np.ones(t), size=(c, layers, heads))  # [C, L, H, T]
    example = {
        "tokens": ["A", "3", "B", "1", "A"],
        "answer": "3",
        "answer_position": 1,
        "key_position": 0,
        "query_position": 4,
        "attention": attention.tolist(),
    }
    model = {
        "steps": list(steps),
        "loss": np.linspace(2.3, 0.1, c).tolist(),
        "accuracy": np.linspace(0.1, 1.0, c).tolist(),
        "accuracy_by_distance": [1.0, 0.98],
    }
    transformer = {
        **model,
        "best_head": {"layer": 1, "head": 2, "label": "layer 2, head 3", "start": 0.2, "end": 0.9},
        "uniform": 1 / t,
        "examples": [example],
    }
    gru = {**model, "accuracy_by_distance": [0.6, 0.3]}
    return {
        "chance": 0.25,
        "distance": {"distances": [2, 4]},
        "models": {"transformer": transformer, "gru": gru},
    }


def compile_checked(chart) -> tuple[dict, dict]:
    spec = chart.to_dict()
    vega = vlc.vegalite_to_vega(spec)
    size = len(gzip.compress(json.dumps(spec).encode()))
    assert size < MAX_GZIP, f"spec is {size} bytes gzipped"
    return spec, vega


def test_training_table_is_tidy():
    result = fake_result()
    rows = learning.training_table(result)
    assert len(rows) == 3 * 5  # one row per (checkpoint, input position)
    fields = {"step", "position", "token", "role", "answer", "attention", "loss", "accuracy", "head"}
    assert set(rows[0]) == fields
    assert rows[0]["head"] == "layer 2, head 3"
    # The head chosen in the result (layer 1, head 2 zero-based) is the one in the table.
    weights = np.asarray(result["models"]["transformer"]["examples"][0]["attention"])[:, 1, 2]
    np.testing.assert_allclose([r["attention"] for r in rows], weights.ravel())
    for step in (0, 10, 20):
        at = [r for r in rows if r["step"] == step]
        assert [r["answer"] for r in at] == [False, True, False, False, False]
        assert [r["role"] for r in at] == ["key", "value", "key", "value", "query"]
        assert len({(r["loss"], r["accuracy"]) for r in at}) == 1


def test_training_chart_has_a_step_slider_and_compiles():
    spec, vega = compile_checked(learning.training_chart(learning.training_table(fake_result())))
    [param] = [p for p in spec["params"] if p["name"] == "step"]
    assert param["bind"] == {"input": "range", "min": 0, "max": 20, "step": 10, "name": "training step "}
    assert param["value"] == 20
    signal = next(s for s in vega["signals"] if s["name"] == "step")
    assert signal["bind"]["input"] == "range"
    text = json.dumps(spec)
    for words in ("attention from the query", "layer 2, head 3", "training step", "held-out accuracy"):
        assert words in text
    axis = spec["hconcat"][0]["layer"][0]["encoding"]["x"]["axis"]
    assert axis["labelExpr"] == '["A", "3", "B", "1", "A"][datum.value]'  # tokens label the x axis


def test_narrow_training_chart_is_one_column_with_the_same_slider():
    """The layout for phones: the three panels stacked, the title on two lines, the same step param."""
    table = learning.training_table(fake_result())
    spec, vega = compile_checked(learning.training_chart(table, narrow=True))
    assert "hconcat" not in spec and len(spec["vconcat"]) == 3
    assert spec["vconcat"][0]["title"] == ["Attention from the query, layer 2, head 3", "(answer in orange, dashed: uniform)"]
    assert spec["params"] == learning.training_chart(table).to_dict()["params"]
    assert vega["layout"]["columns"] == 1  # the page does not try to stack it again
    assert all(panel["width"] <= 280 for panel in spec["vconcat"])


def test_distance_chart_compiles():
    rows = learning.distance_table(fake_result())
    assert rows[0] == {"model": "transformer", "distance": 2, "accuracy": 1.0, "chance": 0.25}
    assert {r["model"] for r in rows} == {"transformer", "GRU"}
    spec, _ = compile_checked(learning.distance_chart(rows))
    x = spec["layer"][0]["encoding"]["x"]
    assert x["scale"]["type"] == "log" and x["scale"]["base"] == 2
    assert "held-out accuracy" in json.dumps(spec) and "chance (0.25)" in json.dumps(spec)
    narrow, _ = compile_checked(learning.distance_chart(rows, narrow=True))
    assert narrow["width"] < spec["width"] and narrow["layer"][0]["encoding"]["color"]["legend"]["orient"] == "bottom"
    assert " ".join(narrow["title"]) == spec["title"]  # the same title, on two lines


def test_cache_key_is_the_training_code_not_the_charts():
    code = {str(p.relative_to(ROOT)) for p in code_files(measure.__name__)}
    assert {"build_scripts/groups/learning/measure.py", "attn_jax/train.py", "attn_jax/tasks.py"} <= code
    assert "build_scripts/groups/learning/charts.py" not in code  # restyling a chart never retrains


# --- the committed result: what the widget reads ---------------------------------------------



@pytest.fixture(scope="module")
def result():
    return json.loads(RESULT.read_text())


def test_committed_result_meets_the_targets(result):
    tf = result["models"]["transformer"]
    assert tf["final_accuracy"] >= 0.99
    best = tf["best_head"]
    assert best["end"] >= 0.6 and abs(best["start"] - tf["uniform"]) < 0.02
    share = np.asarray(tf["attention_on_answer"])  # [C, L, H]
    assert share[-1, best["layer"], best["head"]] == share[-1].max() == best["end"]
    assert len(tf["steps"]) >= 21 and tf["steps"][0] == 0
    assert "accuracy_by_distance" in result["models"]["gru"]


def test_committed_checkpoints_are_what_the_widget_reads(result):
    tf = result["models"]["transformer"]
    c, t = len(tf["steps"]), result["task"]["length"]
    layers, heads = tf["model"]["num_layers"], tf["model"]["num_heads"]
    for ex in tf["examples"]:
        rows = np.asarray(ex["attention"])
        assert rows.shape == (c, layers, heads, t)
        np.testing.assert_allclose(rows.sum(-1), 1.0, atol=1e-3)  # rounded to 4 decimals
        assert ex["tokens"][ex["answer_position"]] == ex["answer"]
        assert ex["tokens"][ex["key_position"]] == ex["tokens"][ex["query_position"]]
    rows = learning.training_table(result)
    assert len(rows) == c * t and sorted({r["step"] for r in rows}) == tf["steps"]
    compile_checked(learning.training_chart(rows))
    compile_checked(learning.distance_chart(learning.distance_table(result)))
