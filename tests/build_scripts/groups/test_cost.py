"""The cost chart's pure functions on a hand-made benchmark result: exact growth exponents, and a
Vega-Lite spec that compiles to Vega with the expected fields."""

import json

import pytest
import vl_convert as vlc

from build_scripts.groups.cost.charts import N_TITLE, cost_chart
from build_scripts.groups.cost.measure import cost_table, fit_exponent

NS = [128, 512, 1024, 2048, 4096]


def results():
    """Plain path: time and memory ~ N^2; memory-efficient: time ~ N^2, memory ~ N (+ a constant
    that only matters at small N). Skipped rows and other impls and batches must be ignored."""
    rows = []
    for n in NS + [8192]:
        plain = n <= 4096
        rows += [
            {"impl": "weights", "B": 1, "N": n, "H": 12, "D": 64, "dtype": "float32",
             "median_s": 1e-9 * n**2 if plain else None, "peak_extra_bytes": 4 * 12 * n**2 if plain else None},
            {"impl": "fast", "B": 1, "N": n, "H": 12, "D": 64, "dtype": "float32",
             "median_s": 5e-10 * n**2, "peak_extra_bytes": 2 * 12 * 64 * 4 * n},
            {"impl": "jax.nn", "B": 1, "N": n, "H": 12, "D": 64, "dtype": "float32",
             "median_s": 1.0, "peak_extra_bytes": 1},
            {"impl": "fast", "B": 8, "N": n, "H": 12, "D": 64, "dtype": "float32",
             "median_s": 1.0, "peak_extra_bytes": 1},
        ]
    return {"header": {"backend": "cpu", "device_kind": "cpu"}, "rows": rows}


def test_cost_table_is_tidy():
    table = cost_table(results())
    assert {r["path"] for r in table} == {"plain", "memory-efficient"}
    assert [r["N"] for r in table if r["path"] == "plain"] == NS  # the skipped N=8192 is left out
    assert [r["N"] for r in table if r["path"] == "memory-efficient"] == NS + [8192]
    assert all(r["B"] == 1 and r["backend"] == "cpu" for r in table)
    assert set(table[0]) >= {"path", "N", "seconds", "peak_bytes", "backend"}


def test_fit_exponent_recovers_powers():
    table = cost_table(results())
    assert fit_exponent(table, "plain", "seconds") == pytest.approx(2.0)
    assert fit_exponent(table, "plain", "peak_bytes") == pytest.approx(2.0)
    assert fit_exponent(table, "memory-efficient", "seconds") == pytest.approx(2.0)
    assert fit_exponent(table, "memory-efficient", "peak_bytes") == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least two"):
        fit_exponent(table, "plain", "seconds", min_n=4096)


def test_chart_compiles_with_expected_fields():
    spec = cost_chart(cost_table(results())).to_dict()
    vega = vlc.vegalite_to_vega(spec)
    assert vega["marks"] and vega["scales"]
    panels = spec["hconcat"]
    assert len(panels) == 2
    for panel in panels:
        enc = panel["encoding"]
        assert enc["x"]["field"] == "N" and enc["x"]["title"] == N_TITLE
        assert enc["x"]["scale"]["type"] == "log" and enc["y"]["scale"]["type"] == "log"
        assert enc["color"]["field"] == "path"
        assert {t["field"] for t in enc["tooltip"]} == {"path", "N", "seconds", "peak_bytes"}
    assert [p["encoding"]["y"]["field"] for p in panels] == ["seconds", "MiB"]
    assert "cpu" in spec["title"]["text"]
    assert "memory ~ T^1.00" in spec["title"]["subtitle"] and "memory ~ T^2.00" in spec["title"]["subtitle"]
    text = json.dumps(vega)
    assert N_TITLE in text and "memory-efficient" in text


def test_narrow_chart_stacks_the_panels_and_breaks_the_titles():
    wide, narrow = (cost_chart(cost_table(results()), narrow=n).to_dict() for n in (False, True))
    assert "hconcat" not in narrow and len(narrow["vconcat"]) == 2
    assert [p["encoding"] for p in narrow["vconcat"]][0]["x"]["axis"]["labelExpr"]  # 1024 -> "1k"
    assert all(p["width"] < q["width"] for p, q in zip(narrow["vconcat"], wide["hconcat"]))
    # the same words, broken into lines
    assert " ".join(narrow["title"]["text"]) == wide["title"]["text"]
    assert narrow["title"]["subtitle"][0] + " " + "; ".join(narrow["title"]["subtitle"][1:]) == wide["title"]["subtitle"]


def test_chart_files_write_the_narrow_spec_with_its_width():
    from build_scripts.pipeline.render import chart_files

    table = cost_table(results())
    files = chart_files(cost_chart(table), "cost/", narrow=cost_chart(table, narrow=True), narrow_below=620)
    assert set(files) == {"cost/spec.json", "cost/default.svg", "cost/spec-narrow.json"}
    narrow = json.loads(files["cost/spec-narrow.json"])
    assert narrow["usermeta"] == {"narrow_below": 620} and narrow["layout"]["columns"] == 1
    assert "usermeta" not in json.loads(files["cost/spec.json"])
    assert set(chart_files(cost_chart(table))) == {"spec.json", "default.svg"}


def test_peers_facts_are_attn_jax_over_torch():
    from build_scripts.groups.cost.measure import peers_facts

    row = lambda **k: {"exact": True, "skipped": None, **k}  # noqa: E731
    peers = {"header": {"versions": {"torch": "2.13.0+cpu", "transformers": "5.24.0"}, "cpu_count": 2},
             "attention": [row(work="fast", N=2048, ratio_cpu=1.066, ratio=1.2),
                           row(work="fast", N=512, ratio_cpu=1.43, ratio=1.6), row(work="weights", N=2048, ratio_cpu=0.5),
                           {"work": "weights", "N": 4096, "exact": False, "skipped": "needs 18 GiB"}],
             "encoder": [row(batch=256, ratio_cpu=0.864)],
             "matmul": {"n": 2048, "jax": {"median_cpu_s": 0.282}, "torch": {"median_cpu_s": 0.278}}}
    facts = peers_facts(peers)
    assert facts["attention"] == {"2048": 1.07, "512": 1.43} and facts["encoder"] == {"256": 0.86}
    # the range over every size measured, CPU and wall time: the prose quotes it, not one size
    assert facts["attention_range"] == {"min": 1.07, "max": 1.43, "n_min": 2048, "n_max": 512, "wall_min": 1.2,
                                        "wall_max": 1.6, "sizes": 2}
    assert facts["matmul"] == {"n": 2048, "ratio_cpu": 1.01, "same_speed": True}
    peers["matmul"]["jax"]["median_cpu_s"] = 0.35
    assert peers_facts(peers)["matmul"]["same_speed"] is False
    assert facts["exact"] is True and facts["torch"] == "2.13.0+cpu"
