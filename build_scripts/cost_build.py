"""Generated files of the cost chart (``docs/generated/cost/``) from the benchmark JSON.

The results files are named in ``build_scripts/charts.toml`` (``[cost] results``): one per
backend that ran ``make bench`` (``cpu.json``, ``gpu.json``, ...). The chart shows all that exist;
the prose quotes the first, so the article's figures are measured by this project, not quoted
from elsewhere. Which backend builds the charts plays no part.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from . import cost
from .artifacts import ROOT, Group, chart_files, dumps, versions
from .config import ConfigError

CHARTS_CONFIG = "build_scripts/charts.toml"


def results_paths(root: Path = ROOT) -> list[str]:
    """The results files named in ``charts.toml``, relative to the root (existing or not)."""
    path = root / CHARTS_CONFIG
    try:
        paths = tomllib.loads(path.read_text(encoding="utf-8"))["cost"]["results"]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: cannot read [cost] results ({e}); list the benchmark JSON files there") from None
    if not (isinstance(paths, list) and paths and all(isinstance(p, str) for p in paths)):
        raise ConfigError(f"{path}: [cost] results must be a list of paths, e.g. [\"benchmarks/results/cpu.json\"]")
    return paths


def peers_path(root: Path = ROOT) -> str | None:
    """The `make bench-peers` results file named in ``charts.toml`` (``[cost] peers``), if any."""
    try:
        return tomllib.loads((root / CHARTS_CONFIG).read_text(encoding="utf-8"))["cost"].get("peers")
    except (OSError, tomllib.TOMLDecodeError, KeyError, AttributeError):
        return None


def peers_facts(peers: dict) -> dict:
    """attn_jax's CPU time over PyTorch's, side by side in one run: per attention size (weights-free
    path against ``scaled_dot_product_attention``) and per encoder batch (against transformers).

    CPU seconds, not wall clock: on a shared machine they are the steadier of the two.
    """
    head = peers["header"]
    return {
        "torch": head["versions"]["torch"], "transformers": head["versions"]["transformers"],
        "cpu_count": head.get("cpu_count"),
        "attention": {str(r["N"]): round(r["ratio_cpu"], 2) for r in peers["attention"]
                      if r["work"] == "fast" and not r.get("skipped")},
        "encoder": {str(r["batch"]): round(r["ratio_cpu"], 2) for r in peers["encoder"]},
        "exact": all(r["exact"] for r in peers["attention"] + peers["encoder"] if not r.get("skipped")),
    }


def load_results(root: Path = ROOT) -> list[dict]:
    """Every existing results file of the list, in list order; at least one must exist."""
    found = [json.loads((root / p).read_text()) for p in results_paths(root) if (root / p).is_file()]
    if not found:
        raise ConfigError(f"none of the results files in {root / CHARTS_CONFIG} exists: run `make bench` "
                          f"(it writes benchmarks/results/<backend>.json)")
    return found


def _row(results: dict, impl: str, b: int, n: int) -> dict | None:
    return next((r for r in results["rows"] if r["impl"] == impl and r["B"] == b and r["N"] == n), None)


def _facts(results: dict, table: list[dict]) -> dict:
    head = results["header"]
    facts: dict = {"backend": head["backend"], "device": head["device_kind"], "cpu_count": head.get("cpu_count"),
                   "date": head["date"][:10], "exponents": {},
                   "chart": {k: table[0][k] for k in ("B", "H", "D")}}  # the settings the chart shows
    for path in cost.COLOURS:
        facts["exponents"][path.replace("-", "_")] = {
            field: round(cost.fit_exponent(table, path, field), 2) for field in ("seconds", "peak_bytes")}
    longest = max((r for r in table if r["path"] == "memory-efficient"), key=lambda r: r["N"])
    facts["longest"] = {"N": longest["N"], "seconds": round(longest["seconds"], 3),
                        "peak_mb": round(longest["peak_bytes"] / 2**20, 1),
                        "scores_gb": round(longest["N"] ** 2 * longest["H"] * 4 / 2**30, 1)}
    speedups = {}
    for n in (1024, 2048, 4096):
        fast, ref = _row(results, "fast", 8, n), _row(results, "jax.nn", 8, n)
        if fast and ref and fast["median_s"] and ref["median_s"]:
            speedups[str(n)] = round(ref["median_s"] / fast["median_s"], 1)
    facts["fast_vs_jax_nn_b8"] = speedups
    return facts


def build(ctx) -> dict[str, bytes]:
    every = load_results(ctx.root)
    ctx.log(f"results of {', '.join(r['header']['backend'] for r in every)}")
    tables = [cost.cost_table(r) for r in every]
    rows = [row for t in tables for row in t]
    facts = _facts(every[0], tables[0])
    if (rel := peers_path(ctx.root)) and (ctx.root / rel).is_file():
        facts["peers"] = peers_facts(json.loads((ctx.root / rel).read_text()))
    charts = chart_files(cost.cost_chart(rows), narrow=cost.cost_chart(rows, narrow=True),
                         narrow_below=cost.NARROW_BELOW)
    return charts | {"facts.json": dumps(facts).encode()}


GROUPS = [Group("cost", module=__name__, build=build,
                files=[CHARTS_CONFIG, *results_paths(), *filter(None, [peers_path()])],
                extra=lambda: {"versions": versions("altair", "vl-convert-python")})]
