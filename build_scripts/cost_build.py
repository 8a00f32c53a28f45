"""Generated files of the cost chart (``docs/generated/cost/``) from the benchmark JSON.

The chart shows the machine that ran ``make bench`` last: ``benchmarks/results/<backend>.json``
for the backend JAX uses here (``cpu.json`` on a laptop, ``gpu.json`` on a GPU machine), so the
article's figures are measured by this project, not quoted from elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import cost
from .build import ROOT, code_version, dumps, versions
from .config import ConfigError

RESULTS = ROOT / "benchmarks" / "results"
SOURCES = [ROOT / "build_scripts" / f"{n}.py" for n in ("cost", "cost_build", "build")]


def results_file() -> Path:
    import jax

    path = RESULTS / f"{jax.default_backend()}.json"
    if not path.is_file():
        raise ConfigError(f"{path} is missing: run `make bench` on this machine first (it writes that file)")
    return path


def inputs() -> dict:
    path = results_file()
    return {
        "results": {"path": str(path.relative_to(ROOT)), "sha256": code_version([path])},
        "code_version": code_version(SOURCES),
        "versions": versions("altair", "vl-convert-python"),
    }


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


def build(out_dir: Path, log) -> dict[str, bytes]:
    from .qkv_build import stable_svg
    import vl_convert as vlc

    path = results_file()
    log(f"reading {path.relative_to(ROOT)}")
    results = json.loads(path.read_text())
    table = cost.cost_table(results)
    spec = cost.cost_chart(table).to_dict()
    return {
        "spec.json": dumps(vlc.vegalite_to_vega(spec)).encode(),
        "default.svg": stable_svg(spec).encode(),
        "facts.json": dumps(_facts(results, table)).encode(),
    }
