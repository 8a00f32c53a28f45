"""Generated files of the corpus evidence (``docs/generated/evidence/``).

- ``winograd-heads/``, ``head-roles/``, ``pruning/``, ``contribution/``: the four charts (compiled
  Vega, its layout for phones ``spec-narrow.json``, fallback SVG);
- ``facts.json``: every number the article quotes from them.

The model runs and the measurements (:func:`build_scripts.evidence.compute`) are cached in
``.build-cache/evidence/``, keyed by a hash of everything that shapes them (their code, the collection,
the sentence config and settings, the model checksum, library versions), so a change to a chart
alone redraws it without running the model.
"""

from __future__ import annotations

import json
import time
from functools import partial

import numpy as np

from . import evidence, evidence_charts as ec
from .artifacts import ROOT, Group, chart_files, code_files, dumps, sha256_bytes, versions, write_atomic
from .config import CONFIG, load_config
from .winograd import COLLECTION, drop_report, load_collection

FILES = [str(p.relative_to(ROOT)) for p in (COLLECTION, CONFIG, evidence.CONFIG)]
PRECISION = 4  # decimals kept in facts.json (the prose shows 2)


def extra() -> dict:
    from attn_jax.model import PRETRAINED_SHA256

    return {"model_sha256": PRETRAINED_SHA256["model.safetensors"],
            "versions": versions("jax", "jaxlib", "numpy", "tokenizers", "altair", "vl-convert-python")}


def cache_key() -> str:
    """sha256 of what shapes the measurements: their code, data and config files, model, versions."""
    code = set(code_files("build_scripts.evidence")) | set(code_files("attn_jax.corpus"))
    parts = {str(p.relative_to(ROOT)): sha256_bytes(p.read_bytes()) for p in sorted(code)}
    parts |= {rel: sha256_bytes((ROOT / rel).read_bytes()) for rel in FILES}
    return sha256_bytes(dumps({"files": parts, "extra": extra()}).encode())


def _plain(x):
    """Arrays and NumPy scalars to JSON-able lists and numbers, floats rounded to PRECISION."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, (float, np.floating)):
        return round(float(x), PRECISION) + 0.0
    if isinstance(x, np.integer):
        return int(x)
    return x


def measure(ctx) -> dict:
    """``{"facts", "tables"}`` from the cache when its key matches, else computed and cached."""
    path = ctx.cache_dir / f"evidence-{cache_key()[:16]}.json"
    if path.is_file():
        ctx.log(f"measurements from the cache ({path.name})")
        return json.loads(path.read_text())
    from attn_jax import Encoder
    from attn_jax.corpus import CorpusRunner

    t0 = time.perf_counter()
    runner = CorpusRunner(Encoder.load())
    schemas = load_collection()
    facts, tables = evidence.compute(runner, schemas, load_config(), ctx.log)
    facts["winograd"]["corpus"] = drop_report(schemas)
    facts["devices"] = runner.devices
    result = _plain({"facts": facts, "tables": tables})
    write_atomic(path, dumps(result).encode())
    ctx.log(f"measured in {time.perf_counter() - t0:.1f} s on {runner.devices} device(s)")
    return result


def model_facts() -> dict:
    """The encoder's sizes from its ``config.json``: the feed-forward width against the model's, and
    each part's share of a layer's parameters (weights and biases; LayerNorms counted apart)."""
    from attn_jax.model import BertConfig, default_model_dir

    cfg = BertConfig.from_json(default_model_dir() / "config.json")
    m, f = cfg.hidden_size, cfg.intermediate_size
    attention = 4 * (m * m + m)  # query, key, value, output projection
    ffn = m * f + f + f * m + m
    norms = 2 * 2 * m
    layer = attention + ffn + norms
    return {"hidden": m, "ffn_width": f, "ffn_ratio": f / m, "layer_parameters": layer,
            "attention_share": attention / layer, "ffn_share": ffn / layer, "layers": cfg.num_hidden_layers,
            "heads": cfg.num_attention_heads}


def build(ctx) -> dict[str, bytes]:
    result = measure(ctx)
    facts, t = result["facts"], result["tables"]
    facts["model"] = _plain(model_facts())
    layers = facts["contribution"]
    busiest = max(layers, key=lambda r: r["cls_weight"])
    facts["sinks"] = {"cls_busiest": busiest, "sep_weight_max": max(r["sep_weight"] for r in layers),
                      "sep_busiest_layer": max(layers, key=lambda r: r["sep_weight"])["layer_1based"]}
    w, p = t["winograd"], t["pruning"]
    charts = {  # each drawn twice: for the article column, and (narrow=True) for phones
        "winograd-heads/": partial(ec.winograd_chart, np.array(w["accuracy"]), np.array(w["share"]),
                                   facts["winograd"]["n"], facts["winograd"]["null"]["p95"], facts["winograd"]["chance"]),
        "head-roles/": partial(ec.roles_chart, np.array(t["roles"]), facts["roles"]["n"]),
        "pruning/": partial(ec.pruning_chart, ec.pruning_rows(np.array(p["share"]), np.array(p["cosine"]),
                                                              np.array(p["neighbours"]))),
        "contribution/": partial(ec.contribution_chart, ec.contribution_rows(t["contribution"])),
    }
    files = {"facts.json": dumps(facts).encode()}
    for prefix, chart in charts.items():
        files |= chart_files(chart(), prefix, narrow=chart(narrow=True), narrow_below=ec.NARROW_BELOW)
    return files


GROUPS = [Group("evidence", module=__name__, build=build, files=FILES, extra=extra)]
