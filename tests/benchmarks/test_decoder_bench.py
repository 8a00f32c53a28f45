"""``make bench``'s decoder rows (benchmarks/decoder.py) end to end on the real model, --quick (4 new
tokens, one round): the JSON it writes and the table it prints. No timing is asserted, only that both
contenders are measured, write the same tokens, and the header says where they ran."""

import json

import pytest

from benchmarks import decoder as bench


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "decoder-quick.json"
    return bench.main(["--quick", "--out", str(out)]), out


def test_both_variants_measured_side_by_side_and_write_the_same_tokens(run):
    results, out = run
    text = out.read_text()
    assert text == json.dumps(json.loads(text), indent=1, sort_keys=True) + "\n"  # deterministic order
    assert [r["variant"] for r in results["rows"]] == ["kv cache", "no cache"]
    for r in results["rows"]:
        assert r["median_s"] > 0 and r["median_cpu_s"] > 0 and len(r["times_s"]) == len(r["cpu_times_s"]) >= 1
        assert r["tokens_per_s"] == pytest.approx(results["new_tokens"] / r["median_s"])
    assert results["new_tokens"] == bench.QUICK["new_tokens"] and results["prompt_tokens"] == 25
    assert results["same_tokens"] is True  # the cache changes the speed, not the text
    assert results["speedup"] == pytest.approx(results["rows"][1]["median_s"] / results["rows"][0]["median_s"])


def test_header_records_machine_versions_and_settings(run):
    head = run[0]["header"]
    assert head["backend"] in {"cpu", "gpu", "tpu"} and head["device_kind"] and head["cpu_count"] >= 1
    assert set(head["versions"]) >= {"jax", "jaxlib", "numpy", "python", "attn_jax"} and head["date"]
    assert head["quick"] is True and head["settings"]["new_tokens"] == 4 and "flops" not in head


def test_the_table_names_both_variants_and_the_ratio(run):
    text = bench.table(run[0])
    assert "kv cache" in text and "no cache" in text and "faster (wall clock)" in text and "same tokens: True" in text
