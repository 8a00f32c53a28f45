"""``make bench`` end to end on tiny sizes (--quick): the JSON it writes and the table it prints.
No timing is asserted - only that every measurement is there, well formed, and explained when
skipped."""

import json

import pytest

from benchmarks import attention as bench


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    results = bench.main(["--quick", "--out", str(out)])
    return results, out


def test_json_rows_cover_every_contender(run):
    results, out = run
    text = out.read_text()
    assert text == json.dumps(json.loads(text), indent=1, sort_keys=True) + "\n"  # deterministic order
    rows = json.loads(text)["rows"]
    cfg = bench.QUICK
    expected = {(i, b, n) for i in bench.IMPLS for b in cfg["batches"] for n in cfg["sizes"]}
    expected |= {(i, 1, n) for i in bench.IMPLS for n in cfg["long"]}
    assert {(r["impl"], r["B"], r["N"]) for r in rows} == expected
    for r in rows:
        if r["skipped"] is None:
            assert r["median_s"] > 0 and r["gflops"] > 0 and r["frac_matmul"] > 0
            assert r["peak_extra_bytes"] > 0 and len(r["times_s"]) >= 1
        else:
            assert r["median_s"] is None and isinstance(r["skipped"], str) and r["skipped"]
    # beyond the plain sizes only the fast path (and the matmul ceiling) run
    long = {r["impl"] for r in rows if r["N"] in cfg["long"] and r["skipped"] is None}
    assert long == {"fast", "matmul"}


def test_header_records_machine_and_versions(run):
    head = run[0]["header"]
    assert head["backend"] in {"cpu", "gpu", "tpu"} and head["device_kind"]
    assert head["cpu_count"] >= 1 and head["date"]
    assert set(head["versions"]) >= {"jax", "jaxlib", "numpy", "python", "attn_jax"}
    assert set(head["memory_method"]) == {"jax", "numpy"}


def test_encoder_measured_or_explained(run):
    enc = run[0]["encoder"]
    assert enc["skipped"] or enc["sentences_per_s"] > 0


def test_table_and_cost_chart_from_the_json(run):
    import vl_convert as vlc

    from build_scripts.groups.cost.charts import cost_chart
    from build_scripts.groups.cost.measure import cost_table

    results, out = run
    text = bench.table(results)
    assert "fast GF/s" in text and "backend" in text
    table = cost_table(json.loads(out.read_text()))
    assert {r["path"] for r in table} == {"plain", "memory-efficient"}
    assert vlc.vegalite_to_vega(cost_chart(table).to_dict())["marks"]


def test_targets_summary_on_full_style_rows():
    # targets() reads the rows the full run writes; feed it a hand-made set.
    rows = []
    for n in (512, 1024, 2048, 4096):
        for impl, t in (("fast", 1.0), ("jax.nn", 3.0), ("numpy", 2.0), ("weights", 2.5), ("matmul", 0.5)):
            rows.append({"impl": impl, "B": 8, "N": n, "median_s": t, "frac_matmul": 0.5 if impl == "fast" else None,
                         "peak_extra_bytes": 1})
    rows.append({"impl": "fast", "B": 1, "N": 16384, "median_s": 1.0, "frac_matmul": 0.5, "peak_extra_bytes": 100e6})
    t = bench.targets(rows)
    assert all(v["met"] for v in t.values())
    assert t["fast vs jax.nn speed-up, N=2048 (>= 2)"]["value"] == 3.0
