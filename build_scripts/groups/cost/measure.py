"""The cost of attention against sequence length, from the benchmark results (``make bench``), and
the side-by-side comparison with PyTorch (``make bench-peers``).

- :func:`cost_table` - ``benchmarks/results/<backend>.json`` -> rows of (path, N, seconds,
  peak_bytes, backend) for the plain path (weights formed: N^2 memory) and the memory-efficient
  path (blocked online softmax: O(N) memory), at one batch size;
- :func:`fit_exponent` - the growth exponent k in ``cost ~ N^k``: the least-squares slope of
  log(cost) against log(N) over the larger N;
- :func:`facts`, :func:`peers_facts` - the numbers the prose quotes.

The results files are named in ``results.toml`` next to this module: one per backend that ran
``make bench`` (``cpu.json``, ``gpu.json``, ...). The chart shows all that exist; the prose quotes
the first, so the article's figures are measured by this project, not quoted from elsewhere.

Axis legend: N sequence length (T = S = N), B batch, H heads, D head dim.
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

from build_scripts.pipeline.artifacts import ROOT
from build_scripts.pipeline.config import ConfigError

PATHS = {"weights": "plain", "fast": "memory-efficient"}  # benchmark impl -> path name in the chart


def cost_table(results: dict, *, batch: int = 1) -> list[dict]:
    """Tidy rows ``{path, N, B, H, D, dtype, seconds, peak_bytes, backend, device}`` of the plain and the
    memory-efficient path at batch size ``batch``, sorted by path then N; contenders the
    benchmark skipped (no time) are left out."""
    head = results["header"]
    rows = []
    for r in results["rows"]:
        if r["impl"] in PATHS and r["B"] == batch and r["median_s"] is not None:
            rows.append(
                {
                    "path": PATHS[r["impl"]],
                    "N": r["N"],
                    "B": r["B"],
                    "H": r["H"],
                    "D": r["D"],
                    "dtype": r["dtype"],
                    "seconds": r["median_s"],
                    "peak_bytes": r["peak_extra_bytes"],
                    "backend": head["backend"],
                    "device": head["device_kind"],
                }
            )
    return sorted(rows, key=lambda r: (list(PATHS.values()).index(r["path"]), r["N"]))


def fit_exponent(rows: list[dict], path: str, field: str, *, min_n: int = 1024) -> float:
    """Slope k of the least-squares line through (log N, log field) for ``path``'s rows with
    N >= ``min_n`` (where fixed overheads no longer dominate): ``field ~ N^k``.

    Raises ``ValueError`` with fewer than two such points.
    """
    pts = [(math.log(r["N"]), math.log(r[field])) for r in rows
           if r["path"] == path and r["N"] >= min_n and r.get(field)]
    if len(pts) < 2:
        raise ValueError(f"need at least two rows of path {path!r} with N >= {min_n} and a {field!r}; got {len(pts)}")
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)


RESULTS_CONFIG = "build_scripts/groups/cost/results.toml"


def results_paths(root: Path = ROOT) -> list[str]:
    """The results files named in ``results.toml``, relative to the root (existing or not)."""
    path = root / RESULTS_CONFIG
    try:
        paths = tomllib.loads(path.read_text(encoding="utf-8"))["cost"]["results"]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: cannot read [cost] results ({e}); list the benchmark JSON files there") from None
    if not (isinstance(paths, list) and paths and all(isinstance(p, str) for p in paths)):
        raise ConfigError(f"{path}: [cost] results must be a list of paths, e.g. [\"benchmarks/results/cpu.json\"]")
    return paths


def peers_path(root: Path = ROOT) -> str | None:
    """The `make bench-peers` results file named in ``results.toml`` (``[cost] peers``), if any."""
    try:
        return tomllib.loads((root / RESULTS_CONFIG).read_text(encoding="utf-8"))["cost"].get("peers")
    except (OSError, tomllib.TOMLDecodeError, KeyError, AttributeError):
        return None


def peers_facts(peers: dict) -> dict:
    """attn_jax's CPU time over PyTorch's, side by side in one run: per attention size (weights-free
    path against ``scaled_dot_product_attention``) and per encoder batch (against transformers).

    CPU seconds, not wall clock: on a shared machine they are the steadier of the two; the range
    of the wall-clock ratios is given too. ``matmul``: the same dense matmul in both, CPU time
    ratio: whether the two libraries' matrix products run at the same speed on this machine.
    """
    head = peers["header"]
    fast = [r for r in peers["attention"] if r["work"] == "fast" and not r.get("skipped")]
    cpu = {r["N"]: r["ratio_cpu"] for r in fast}
    wall = [r["ratio"] for r in fast]
    out = {
        "torch": head["versions"]["torch"], "transformers": head["versions"]["transformers"],
        "cpu_count": head.get("cpu_count"),
        "attention": {str(n): round(x, 2) for n, x in cpu.items()},
        "attention_range": {"min": round(min(cpu.values()), 2), "max": round(max(cpu.values()), 2),
                            "n_min": min(cpu, key=cpu.get), "n_max": max(cpu, key=cpu.get),
                            "wall_min": round(min(wall), 2), "wall_max": round(max(wall), 2),
                            "sizes": len(cpu)},
        "encoder": {str(r["batch"]): round(r["ratio_cpu"], 2) for r in peers["encoder"]},
        "exact": all(r["exact"] for r in peers["attention"] + peers["encoder"] if not r.get("skipped")),
    }
    largest = max(peers["encoder"], key=lambda r: r["batch"]) if peers["encoder"] else None
    out["verdicts"] = {"torch_attention_faster_at_every_size": min(cpu.values()) > 1,
                       "attn_jax_encoder_faster_at_largest_batch": bool(largest) and largest["ratio_cpu"] < 1}
    if m := peers.get("matmul"):
        ratio = m["jax"]["median_cpu_s"] / m["torch"]["median_cpu_s"]
        # "the same speed": CPU times within 5% (medians of three interleaved rounds)
        out["matmul"] = {"n": m["n"], "ratio_cpu": round(ratio, 2), "same_speed": abs(ratio - 1) <= 0.05}
    return out


def load_results(root: Path = ROOT) -> list[dict]:
    """Every existing results file of the list, in list order; at least one must exist."""
    found = [json.loads((root / p).read_text()) for p in results_paths(root) if (root / p).is_file()]
    if not found:
        raise ConfigError(f"none of the results files in {root / RESULTS_CONFIG} exists: run `make bench` "
                          f"(it writes benchmarks/results/<backend>.json)")
    return found


def _row(results: dict, impl: str, b: int, n: int) -> dict | None:
    return next((r for r in results["rows"] if r["impl"] == impl and r["B"] == b and r["N"] == n), None)


def facts(results: dict, table: list[dict]) -> dict:
    head = results["header"]
    facts: dict = {"backend": head["backend"], "device": head["device_kind"], "cpu_count": head.get("cpu_count"),
                   "date": head["date"][:10], "exponents": {},
                   "chart": {k: table[0][k] for k in ("B", "H", "D")}}  # the settings the chart shows
    for path in PATHS.values():
        facts["exponents"][path.replace("-", "_")] = {
            field: round(fit_exponent(table, path, field), 2) for field in ("seconds", "peak_bytes")}
    longest = max((r for r in table if r["path"] == "memory-efficient"), key=lambda r: r["N"])
    facts["longest"] = {"T": longest["N"], "seconds": round(longest["seconds"], 3),
                        "peak_mb": round(longest["peak_bytes"] / 2**20, 1),
                        "scores_gb": round(longest["N"] ** 2 * longest["H"] * 4 / 2**30, 1)}
    speedups = {}
    for n in (1024, 2048, 4096):
        fast, ref = _row(results, "fast", 8, n), _row(results, "jax.nn", 8, n)
        if fast and ref and fast["median_s"] and ref["median_s"]:
            speedups[str(n)] = round(ref["median_s"] / fast["median_s"], 1)
    facts["fast_vs_jax_nn_b8"] = speedups
    return facts


