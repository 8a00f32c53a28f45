"""The KV-cache group: its facts on a small config whose answers are known by hand, the formula against
the cache buffers the decoder allocates (shapes traced, no weights needed), the committed benchmark
results it reads, its chart with the layout for phones, and the build from a cached measurement."""

import json

import jax
import jax.numpy as jnp
import pytest

from attn_jax.gguf_weights import LlamaConfig
from build_scripts.groups.kv_cache import charts as kc
from build_scripts.groups.kv_cache import group as kv_build
from build_scripts.groups.kv_cache import measure as kv
from build_scripts.pipeline import cache
from build_scripts.pipeline.artifacts import ROOT, rounded
from build_scripts.pipeline.config import ConfigError
from build_scripts.pipeline.registry import Context, code_files
from tests.helpers import font_sizes

# L 2, H 3 query heads over G 1 key/value head, D 10: 2 x 2 x 1 x 10 x 4 = 160 bytes per token
TINY = LlamaConfig(vocab_size=11, hidden_size=30, num_layers=2, num_heads=3, num_kv_heads=1, intermediate_size=14,
                   context_length=64, rope_theta=10000.0, rms_norm_eps=2.0**-17, tied_embeddings=True)  # fmt: skip
SETTINGS = {"long_text": 16, "chart_step": 16}


def bench(cached=2.0, uncached=6.0, cpu=(1.5, 6.0), same=True) -> dict:
    def row(name, t, c):
        return {"variant": name, "median_s": t, "median_cpu_s": c, "times_s": [t] * 3, "cpu_times_s": [c] * 3,
                "tokens_per_s": 8 / t, "tokens_per_cpu_s": 8 / c, "ms_per_token": 1e3 * t / 8, "note": ""}

    return {"header": {"backend": "cpu", "device_kind": "cpu", "cpu_count": 2, "date": "2026-01-02T03:04:05+00:00"},
            "new_tokens": 8, "prompt_tokens": 5, "same_tokens": same,
            "rows": [row("kv cache", cached, cpu[0]), row("no cache", uncached, cpu[1])],
            "speedup": uncached / cached, "speedup_cpu": cpu[1] / cpu[0]}


def params_shapes(cfg):
    """The decoder's parameter layout as shapes only (jax.ShapeDtypeStruct): enough to trace."""
    m, f, n = cfg.hidden_size, cfg.intermediate_size, cfg.num_layers
    hd, gd = cfg.num_heads * cfg.head_dim, cfg.num_kv_heads * cfg.head_dim

    def s(*shape):
        return jax.ShapeDtypeStruct(shape, jnp.float32)

    return {"embed": s(cfg.vocab_size, m), "final_norm": s(m),
            "layers": {"attention_norm": s(n, m), "mlp_norm": s(n, m),
                       "attention": {"query": s(n, m, hd), "key": s(n, m, gd), "value": s(n, m, gd), "output": s(n, hd, m)},
                       "mlp": {"gate": s(n, m, f), "up": s(n, m, f), "down": s(n, f, m)}}}  # fmt: skip


class FakeDecoder:
    def __init__(self, cfg):
        self.config, self.params = cfg, params_shapes(cfg)


def test_the_formula_matches_the_buffers_the_decoder_allocates():
    assert kv.cache_bytes_per_slot(FakeDecoder(TINY), size=16) == 160
    smol = LlamaConfig(vocab_size=64, hidden_size=576, num_layers=30, num_heads=9, num_kv_heads=3, intermediate_size=8,
                       context_length=8192, rope_theta=1e5, rms_norm_eps=1e-5, tied_embeddings=True)  # fmt: skip
    assert kv.cache_bytes_per_slot(FakeDecoder(smol)) == 46080  # SmolLM2's sizes, a tiny vocabulary and MLP


def test_facts_by_hand_on_a_small_config():
    facts, tables = kv.compute(TINY, 1000, 160, bench(), SETTINGS)
    b = facts["bytes_per_token"]
    assert (b["gqa"], b["mha"], b["ratio"], b["numbers"]) == (160, 480, 3.0, 40)
    assert facts["long_text"] == {"tokens": 16, "gqa_mb": 16 * 160 / 1e6, "mha_mb": 16 * 480 / 1e6}
    assert facts["context"]["tokens"] == 64 and facts["context"]["gqa_mb"] == 64 * 160 / 1e6
    w = facts["weights"]
    assert w["mb"] == 4000 / 1e6 and w["gqa_tokens_to_match"] == 25.0 and w["mha_tokens_to_match"] == 4000 / 480
    # 64 tokens: 10,240 bytes (GQA) and 30,720 (MHA), against 4,000 bytes of weights
    assert facts["verdicts"]["gqa_cache_exceeds_weights_at_context"] and facts["verdicts"]["mha_cache_exceeds_weights_at_context"]
    d = facts["dot_products"]
    assert (d["cached"], d["uncached"]) == (2 * 3 * 16, 2 * 3 * 16 * 17 // 2) and d["ratio"] == 17 / 2
    s = facts["speed"]
    assert s["cached"]["tokens_per_s"] == 4.0 and s["uncached"]["tokens_per_s"] == 8 / 6 and s["speedup"] == 3.0
    assert facts["verdicts"]["cache_faster"] and facts["verdicts"]["same_tokens"] and s["date"] == "2026-01-02"
    assert tables["tokens"].tolist() == [0, 16, 32, 48, 64] and tables["mha_mb"][-1] == pytest.approx(3 * tables["gqa_mb"][-1])
    # a slower cache (on either clock) is not "faster"; different tokens are reported as such
    facts, _ = kv.compute(TINY, 10**9, 160, bench(cpu=(7.0, 6.0), same=False), SETTINGS)
    assert not facts["verdicts"]["cache_faster"] and not facts["verdicts"]["same_tokens"]
    assert not facts["verdicts"]["gqa_cache_exceeds_weights_at_context"]
    with pytest.raises(RuntimeError, match="takes 200 bytes per token; the formula 2 x L x G x D x 4 gives 160"):
        kv.compute(TINY, 1000, 200, bench(), SETTINGS)


def test_the_committed_benchmark_results_hold_what_the_group_reads():
    results = kv.load_bench()
    s = kv.speeds(results)
    assert s["cached"]["tokens_per_s"] > 0 and s["uncached"]["tokens_per_s"] > 0 and not s["quick"]
    assert results["header"]["cpu_count"] >= 1 and results["header"]["versions"]["jax"]
    assert s["new_tokens"] >= 16 and s["same_tokens"] is True


def test_settings_and_missing_results_name_the_fix(tmp_path):
    assert kv.load_settings() == {"long_text": 2048, "chart_step": 256}
    bad = tmp_path / "s.toml"
    bad.write_text("[settings]\nlong_text = 0\n")
    with pytest.raises(ConfigError, match=r"lacks a positive integer for \['long_text', 'chart_step'\]"):
        kv.load_settings(bad)
    with pytest.raises(ConfigError, match=r"decoder-cpu.json not found: run `make bench`"):
        kv.load_bench(tmp_path)


def fake_measurement() -> dict:
    facts, tables = kv.compute(TINY, 1000, 160, bench(), SETTINGS)
    return rounded({"facts": facts, "tables": tables}, 4)



def test_the_chart_fits_a_phone_with_readable_text():
    m = fake_measurement()
    f = m["facts"]
    rows = kc.size_rows(m["tables"], 1, 3)
    assert {r["attention"] for r in rows} == {"grouped-query: 1 key/value heads (SmolLM2)", "multi-head: 3 key/value heads"}
    wide, narrow = (kc.size_chart(rows, f["weights"]["mb"], 64, 2, f["bytes_per_token"], narrow=n).to_dict()
                    for n in (False, True))
    assert narrow["width"] == kc.NARROW_WIDTH <= 280 < wide["width"]
    assert min(font_sizes(narrow)) >= 10 and min(font_sizes(wide)) >= 10
    for spec in (wide, narrow):
        assert spec["config"]["background"] == "transparent" and spec["config"]["axis"]["gridColor"] == "#888"
    assert isinstance(narrow["title"]["text"], list) and " ".join(narrow["title"]["text"]) == wide["title"]["text"]


def test_build_from_cache_renders_the_chart_and_facts(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "cache_key", lambda *a, **k: "a" * 64)
    (tmp_path / f"kv-cache-{'a' * 16}.json").write_text(json.dumps(fake_measurement()))
    logs = []
    files = kv_build.build(Context(log=logs.append, cache_dir=tmp_path))
    assert "kv-cache: from the cache" in logs[0] and "tokens/s with the cache" in logs[1]
    assert sorted(files) == ["facts.json", "size/default.svg", "size/spec-narrow.json", "size/spec.json"]
    assert json.loads(files["size/spec-narrow.json"])["usermeta"] == {"narrow_below": kc.NARROW_BELOW}
    assert "160 bytes per token against 480" in files["size/default.svg"].decode()
    assert json.loads(files["facts.json"])["bytes_per_token"]["ratio"] == 3.0
    assert files == kv_build.build(Context(log=logs.append, cache_dir=tmp_path))


def test_cache_key_covers_the_measuring_code_results_and_settings_but_not_the_chart():
    code = {str(p.relative_to(ROOT)) for p in code_files(kv.__name__)}
    assert {"build_scripts/groups/kv_cache/measure.py", "attn_jax/analysis.py", "attn_jax/llama.py"} <= code
    assert "build_scripts/groups/kv_cache/charts.py" not in code
    assert set(kv_build.GROUP.files) == {"benchmarks/results/decoder-cpu.json", "build_scripts/groups/kv_cache/settings.toml"}
