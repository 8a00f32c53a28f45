"""What the KV cache holds, what grouped-query attention saves, and what the cache buys, measured.

A decoder writes one token at a time. The new token's output needs its own query against every
earlier key and value; the earlier tokens' queries were used when they were written and are never
needed again, but their keys and values are, at every later step. So a decoder keeps them: the KV
cache. This module states its size from the config with the measures of :mod:`attn_jax.analysis`
(*KV cache bytes per token*, *dot products of a decode step*), checks the formula against the
cache buffers the decoder itself allocates (their shapes traced with :func:`jax.eval_shape`, no model
run), and reads the decode speeds with and without the cache from ``make bench``
(:mod:`benchmarks.decoder`'s results file). It knows nothing of charts.

Axis legend: L layers, H query heads, G key/value heads, D head dim, T tokens.

- *Bytes*: per token, for a text of ``long_text`` tokens and for the model's whole context, with
  the G = 3 key/value heads of SmolLM2 (grouped-query attention: 3 query heads share each) against
  full multi-head attention (G = H = 9); the weights in float32 (as attn_jax holds them) for scale,
  and the length at which the cache outgrows them.
- *Work per step*: the query-key dot products of the decode step after ``long_text`` tokens, with
  and without the cache.
- *Speed*: tokens per second of the same greedy continuation with and without the cache, wall
  clock and CPU time, on the machine that ran ``make bench`` (its header says which).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from attn_jax import analysis as A
from build_scripts.pipeline.artifacts import ROOT, rounded
from build_scripts.pipeline.config import ConfigError, read_toml

CONFIG = Path(__file__).with_name("settings.toml")
SETTINGS_FILE = str(CONFIG.relative_to(ROOT))
SETTINGS = ("long_text", "chart_step")
RESULTS_FILE = "benchmarks/results/decoder-cpu.json"  # written by `make bench` (benchmarks/decoder.py)
PRECISION = 4
MB = 1e6  # bytes in a megabyte, as the prose writes sizes


def load_settings(path: Path = CONFIG) -> dict:
    """The ``[settings]`` table of ``settings.toml``; ConfigError names any problem."""
    raw = read_toml(path)
    s = raw.get("settings", {})
    bad = [k for k in SETTINGS if not isinstance(s.get(k), int) or s[k] < 1]
    if bad:
        raise ConfigError(f"{path}: [settings] lacks a positive integer for {bad}; see the comments there")
    return s


def load_bench(root: Path = ROOT) -> dict:
    """The decoder benchmark's results; ConfigError with the fix when ``make bench`` has not written them."""
    path = root / RESULTS_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} not found: run `make bench` (or `python -m benchmarks.decoder`)") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e}); run `python -m benchmarks.decoder` again") from None


def cache_bytes_per_slot(dec, size: int = 64) -> float:
    """Bytes per slot of the cache the decoder allocates for generation (keys and values of every
    layer, :func:`attn_jax.llama.fill_cache` after a prompt's :func:`~attn_jax.llama.forward`),
    from the traced shapes alone: nothing is computed."""
    import jax
    import jax.numpy as jnp

    from attn_jax.llama import NO_WINDOW, fill_cache, forward

    cfg = dec.config
    ids = jnp.zeros((1, 8), jnp.int32)
    gates = jnp.ones((cfg.num_layers, cfg.num_heads), jnp.float32)

    def cache(params):
        out = forward(params, ids, gates, jnp.int32(NO_WINDOW), jnp.int32(0), cfg=cfg, weights=False, kv=True)
        return fill_cache(out.cache, size)

    shapes = jax.eval_shape(cache, dec.params)
    if any(s.shape[2] != size for s in shapes):
        raise RuntimeError(f"the cache buffers {[s.shape for s in shapes]} do not have {size} slots on axis 2")
    return float(sum(np.prod(s.shape) * s.dtype.itemsize for s in shapes)) / size


def speeds(bench: dict) -> dict:
    """The decode speeds of :mod:`benchmarks.decoder`'s results (rows ``kv cache`` and ``no cache``)."""
    rows = {r["variant"]: r for r in bench["rows"]}
    head = bench["header"]

    def one(r: dict) -> dict:
        return {"tokens_per_s": r["tokens_per_s"], "tokens_per_cpu_s": r["tokens_per_cpu_s"],
                "ms_per_token": r["ms_per_token"], "seconds": r["median_s"], "cpu_seconds": r["median_cpu_s"],
                "rounds": len(r["times_s"])}

    return {"backend": head["backend"], "device": head["device_kind"], "cpu_count": head["cpu_count"],
            "date": head["date"][:10], "quick": head.get("quick", False), "new_tokens": bench["new_tokens"],
            "prompt_tokens": bench["prompt_tokens"], "same_tokens": bench["same_tokens"],
            "cached": one(rows["kv cache"]), "uncached": one(rows["no cache"]),
            "speedup": bench["speedup"], "speedup_cpu": bench["speedup_cpu"]}


def compute(cfg, parameters: int, buffer_bytes_per_token: float, bench: dict, settings: dict) -> tuple[dict, dict]:
    """Everything in the module doc: ``(facts, tables)``. ``parameters``: the model's number of
    weights; ``buffer_bytes_per_token``: :func:`cache_bytes_per_slot`."""
    L, H, G, D = cfg.num_layers, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
    gqa, mha = A.kv_cache_bytes(L, G, D), A.kv_cache_bytes(L, H, D)
    if buffer_bytes_per_token != gqa:
        raise RuntimeError(f"the decoder's cache takes {buffer_bytes_per_token} bytes per token; the formula "
                           f"2 x L x G x D x 4 gives {gqa}")
    long, context = settings["long_text"], cfg.context_length
    weights = parameters * 4  # float32

    def sizes(tokens: int) -> dict:
        return {"tokens": tokens, "gqa_mb": A.kv_cache_bytes(L, G, D, tokens) / MB,
                "mha_mb": A.kv_cache_bytes(L, H, D, tokens) / MB}

    cached, uncached = A.decode_dot_products(long, L, H), A.decode_dot_products(long, L, H, cached=False)
    speed = speeds(bench)
    facts = {
        "model": {"layers": L, "heads": H, "kv_heads": G, "head_dim": D, "heads_per_kv": H // G,
                  "context": context, "parameters": parameters},
        "bytes_per_token": {"gqa": gqa, "mha": mha, "ratio": mha / gqa, "gqa_kb": gqa / 1e3, "mha_kb": mha / 1e3,
                            "numbers": 2 * L * G * D, "checked_against_buffers": True},
        "long_text": sizes(long),
        "context": sizes(context),
        "weights": {"mb": weights / MB, "gqa_tokens_to_match": weights / gqa, "mha_tokens_to_match": weights / mha,
                    "gqa_share_at_context": A.kv_cache_bytes(L, G, D, context) / weights,
                    "mha_share_at_context": A.kv_cache_bytes(L, H, D, context) / weights},
        "dot_products": {"tokens": long, "cached": cached, "uncached": uncached, "ratio": uncached / cached,
                         "per_head_cached": long, "per_head_uncached": long * (long + 1) // 2,
                         "projected_tokens_cached": 1, "projected_tokens_uncached": long},
        "speed": speed,
        "verdicts": {
            "cache_faster": bool(speed["speedup"] > 1 and speed["speedup_cpu"] > 1),
            "same_tokens": bool(speed["same_tokens"]),
            # at the full context: does the cache of one text outgrow the weights themselves?
            "gqa_cache_exceeds_weights_at_context": bool(A.kv_cache_bytes(L, G, D, context) > weights),
            "mha_cache_exceeds_weights_at_context": bool(A.kv_cache_bytes(L, H, D, context) > weights),
        },
    }
    lengths = np.arange(0, context + 1, settings["chart_step"])
    tables = {"tokens": lengths, "gqa_mb": A.kv_cache_bytes(L, G, D, lengths) / MB,
              "mha_mb": A.kv_cache_bytes(L, H, D, lengths) / MB}
    return facts, tables


def measure(ctx) -> dict:
    """``{"facts", "tables"}``: computed, or from the cache when nothing that shapes them changed."""
    import time

    from build_scripts.pipeline.cache import cached
    from build_scripts.pipeline.models import decoder, decoder_extra

    def run() -> dict:
        dec = decoder(ctx)
        t0 = time.perf_counter()
        import jax

        parameters = int(sum(np.size(x) for x in jax.tree.leaves(dec.params)))
        facts, tables = compute(dec.config, parameters, cache_bytes_per_slot(dec), load_bench(ctx.root),
                                load_settings(ctx.root / SETTINGS_FILE))
        ctx.log(f"measured in {time.perf_counter() - t0:.1f} s")
        return rounded({"facts": facts, "tables": tables}, PRECISION)

    return cached(ctx, "kv-cache", run, module=__name__, files=[RESULTS_FILE, SETTINGS_FILE], extra=decoder_extra())
