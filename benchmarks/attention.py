"""``make bench``: attention at scale and encoder speed, measured side by side in one process.

Contenders, for q, k, v ``[B, N, H, D]`` float32 (self-attention, S = T = N):

- ``weights``: :func:`attn_jax.multi_head_attention` returning the weights (the plain path:
  the ``[B, H, N, N]`` scores and weights are formed, so memory grows as N^2);
- ``fast``: :func:`attn_jax.efficient_attention`, the same output without the weights (exact,
  O(N) memory: blocked online softmax, or cuDNN's fused kernel on a GPU where it applies);
- ``jax.nn``: :func:`jax.nn.dot_product_attention` (its default implementation choice);
- ``numpy``: naive NumPy float32 attention, one example at a time (full score matrix);
- ``matmul``: a dense square float32 matmul of the same flop count (at most 3072 x 3072), the
  machine's practical ceiling: "of matmul" is a contender's GFLOP/s divided by this one's,
  measured in the same rounds.

Method: every program is compiled ahead of time (compile seconds are recorded apart); per
(B, N) one warm-up call of each contender, then interleaved rounds (each contender once per
round, so a slow spell of a shared machine hits all alike), as many as fit a time budget,
``block_until_ready``, medians. A warm-up call of 5 s or more counts as a sample too.
GFLOP/s counts attention as 4*B*H*N^2*D flops. Peak extra memory (beyond the inputs): for JAX,
XLA's compiled ``memory_analysis()`` (temp + output bytes: what the program allocates; the
weights path's output includes its N^2 weights); for NumPy, ``tracemalloc``'s peak over one call
(NumPy reports its buffers to it). A quadratic contender is skipped, with the reason in the
JSON, when it would need more than 70% of the memory available (the accelerator's for JAX, the
host's for NumPy), and beyond N = 4096 (there only the fast path runs).

Writes ``benchmarks/results/<backend>.json`` (rows per (impl, B, N), a header with backend,
device, versions, CPU count and date) and prints a table. ``--quick`` runs tiny sizes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np

import attn_jax
from attn_jax import efficient_attention, multi_head_attention
from attn_jax.attention import flops
from attn_jax.efficient import cudnn_available

RESULTS = Path(__file__).resolve().parent / "results"
IMPLS = ("weights", "fast", "jax.nn", "numpy", "matmul")
QUADRATIC = ("weights", "jax.nn", "numpy")  # contenders that hold [B, H, N, N]
H, D = 12, 64
FULL = {"batches": (1, 8), "sizes": (128, 512, 1024, 2048, 4096), "long": (8192, 16384)}
QUICK = {"batches": (1, 2), "sizes": (32, 64), "long": (128,)}
MEMORY_FRACTION = 0.7
MATMUL_MAX = 3072  # a dense matmul's GFLOP/s is flat beyond this size; larger ones only cost time
SLOW_CALL_S = 5.0  # a first call this long counts as a round (see interleaved)
MEMORY_METHOD = {
    "jax": "XLA compiled memory_analysis(): temp_size + output_size bytes",
    "numpy": "tracemalloc peak over one call (NumPy reports its buffers)",
}


def numpy_attention(q, k, v):
    """Naive NumPy float32 attention over ``[B, N, H, D]``, one example at a time: BLAS matmuls
    and the full ``[H, N, N]`` score matrix of each example."""
    out = np.empty(q.shape[:3] + v.shape[-1:], np.float32)
    scale = np.float32(1 / np.sqrt(q.shape[-1]))
    for b in range(q.shape[0]):
        qh, kh, vh = (np.ascontiguousarray(a[b].transpose(1, 0, 2)) for a in (q, k, v))  # [H, N, D]
        s = qh @ kh.transpose(0, 2, 1)
        s *= scale
        s -= s.max(-1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(-1, keepdims=True)
        out[b] = (s @ vh).transpose(1, 0, 2)
    return out


def available_memory(device=None) -> int:
    """Bytes free now: on an accelerator its memory (``memory_stats``), else the host's (Linux
    MemAvailable; elsewhere half the physical memory)."""
    stats = device.memory_stats() if device is not None and device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2


# --- contenders --------------------------------------------------------------------------------


class Contender:
    """One implementation at one (B, N): a call that blocks until done, its memory, its flops."""

    def __init__(self, impl, call, flop, peak_bytes, compile_s=None, note=None):
        self.impl, self.call, self.flops, self.peak_bytes = impl, call, flop, peak_bytes
        self.compile_s, self.note = compile_s, note
        self.times: list[float] = []
        self.cpu_times: list[float] = []  # this process's CPU seconds (all threads) per timed call

    def warm_up(self):
        """The first call; a NumPy contender's peak memory is traced here (tracemalloc)."""
        if self.peak_bytes is not None:
            return self.call()
        tracemalloc.start()
        try:
            return self.call()
        finally:
            self.peak_bytes = int(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()


def _compiled(impl, fn, args, flop, note=None):
    t0 = time.perf_counter()
    exe = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - t0
    mem = exe.memory_analysis()
    peak = None if mem is None else int(mem.temp_size_in_bytes + mem.output_size_in_bytes - mem.alias_size_in_bytes)
    return Contender(impl, lambda: jax.block_until_ready(exe(*args)), flop, peak, compile_s, note)


def make_contenders(b, n, long_only=False):
    """The contenders at (B, N), and a reason for each one skipped."""
    device_budget = int(MEMORY_FRACTION * available_memory(jax.devices()[0]))
    host_budget = int(MEMORY_FRACTION * available_memory())
    keys = jax.random.split(jax.random.PRNGKey(n * 10 + b), 3)
    q, k, v = (jax.random.normal(kk, (b, n, H, D), jnp.float32) for kk in keys)
    f = flops(b, H, n, n, D)
    m = min(MATMUL_MAX, max(8, int(round((f / 2) ** (1 / 3)))))  # square, about the same flops
    a = jax.random.normal(keys[0], (m, m), jnp.float32)
    fast_impl = "cudnn" if cudnn_available(q.shape, k.shape, v.shape, "float32", None, False, False) else "blocked"
    out, skipped = [], {}
    out.append(_compiled("fast", lambda q, k, v: efficient_attention(q, k, v), (q, k, v), f,
                         note=f"efficient_attention ({fast_impl})"))
    out.append(_compiled("matmul", lambda x: x @ x, (a,), 2.0 * m**3, note=f"[{m}, {m}] @ [{m}, {m}]"))
    if long_only:
        for impl in QUADRATIC:
            skipped[impl] = f"not run beyond N = 4096: only the O(N)-memory path runs at these lengths"
        return out, skipped
    quad = [
        ("weights", lambda q, k, v: multi_head_attention(q, k, v), (q, k, v), None),
        ("jax.nn", lambda q, k, v: jax.nn.dot_product_attention(q, k, v), (q, k, v), "implementation=None (JAX picks)"),
    ]
    for impl, fn, args, note in quad:
        c = _compiled(impl, fn, args, f, note)
        if c.peak_bytes is not None and c.peak_bytes > device_budget:
            skipped[impl] = f"needs {c.peak_bytes / 2**30:.1f} GiB, over {MEMORY_FRACTION:.0%} of available memory"
        else:
            out.append(c)
    need = 4 * H * n * n + 16 * b * n * H * D  # one example's scores, plus copies of q, k, v, out
    if need > host_budget:
        skipped["numpy"] = f"needs about {need / 2**30:.1f} GiB, over {MEMORY_FRACTION:.0%} of available memory"
    else:
        qn, kn, vn = (np.asarray(x) for x in (q, k, v))
        out.append(Contender("numpy", lambda: numpy_attention(qn, kn, vn), f, None, note="one example at a time"))
    return out, skipped


def interleaved(contenders, max_rounds, round_budget_s):
    """One warm-up call each, then rounds of one call each, as many as fit ``round_budget_s``
    (at least one, at most ``max_rounds``). Records every round's seconds on the contenders,
    wall clock (``times``) and this process's CPU time (``cpu_times``: the work done, which other
    processes on a shared machine disturb far less than the wall clock).

    A warm-up call of ``SLOW_CALL_S`` or more also counts as a measurement: the program is
    compiled ahead of time and such a call's buffers are fresh on every call anyway, so its
    first call is like the others, and the largest sizes get two samples instead of one.
    """
    warm = 0.0
    for c in contenders:
        t0, cpu0 = time.perf_counter(), time.process_time()
        c.warm_up()
        first = time.perf_counter() - t0
        warm += first
        if first >= SLOW_CALL_S:
            c.times.append(first)
            c.cpu_times.append(time.process_time() - cpu0)
    rounds = max(1, min(max_rounds, int(round_budget_s / max(warm, 1e-9))))
    for r in range(rounds):
        order = contenders if r % 2 == 0 else contenders[::-1]  # no contender always goes first
        for c in order:
            t0, cpu0 = time.perf_counter(), time.process_time()
            c.call()
            c.times.append(time.perf_counter() - t0)
            c.cpu_times.append(time.process_time() - cpu0)
    return rounds


def bench_attention(cfg, max_rounds, round_budget_s, log=print):
    rows = []
    runs = [(b, n, False) for b in cfg["batches"] for n in cfg["sizes"]]
    runs += [(1, n, True) for n in cfg["long"]]
    for b, n, long_only in runs:
        contenders, skipped = make_contenders(b, n, long_only)
        t0 = time.perf_counter()
        rounds = interleaved(contenders, max_rounds, round_budget_s)
        log(f"  B={b} N={n}: {rounds} round(s) in {time.perf_counter() - t0:.1f} s")
        by = {c.impl: c for c in contenders}
        mm = by["matmul"]
        mm_gflops = mm.flops / statistics.median(mm.times) / 1e9
        for impl in IMPLS:
            row = {"impl": impl, "B": b, "N": n, "H": H, "D": D, "dtype": "float32"}
            if impl in skipped:
                row.update(median_s=None, times_s=None, gflops=None, frac_matmul=None, peak_extra_bytes=None,
                           compile_s=None, note=None, skipped=skipped[impl])
            else:
                c = by[impl]
                med = statistics.median(c.times)
                gf = c.flops / med / 1e9
                row.update(
                    median_s=med,
                    times_s=c.times,
                    gflops=gf,
                    frac_matmul=gf / mm_gflops,
                    peak_extra_bytes=c.peak_bytes,
                    compile_s=c.compile_s,
                    note=c.note,
                    skipped=None,
                )
            rows.append(row)
        del contenders, by, mm
    return rows


ENCODER_SENTENCES = (
    "The cat sat on the mat because it was tired.",
    "The bank by the river was steep.",
    "She deposited the money at the bank.",
    "The animal didn't cross the street because it was too tired.",
    "The animal didn't cross the street because it was too wide.",
    "Attention lets every word look at every other word.",
    "Heads in the same layer learn different patterns.",
    "A recurrent network reads one word at a time.",
)


def encoder_texts(batch: int) -> list[str]:
    """``batch`` distinct short sentences (13 to 19 tokens each): the encoder benchmarks' input."""
    return [f"{ENCODER_SENTENCES[i % len(ENCODER_SENTENCES)]} ({i})" for i in range(batch)]


def bench_encoder(batch=32, max_rounds=5):
    """Sentences per second of the pretrained encoder (weights and all), batches of ``batch``."""
    try:
        from attn_jax import Encoder

        enc = Encoder.load()
    except Exception as e:  # noqa: BLE001 - the model package may be missing where only jax is
        return {"skipped": f"encoder not available: {e}"}
    texts = encoder_texts(batch)
    t0 = time.perf_counter()
    enc.run(texts)
    first = time.perf_counter() - t0
    c = Contender("encoder", lambda: enc.run(texts), 0.0, None)
    interleaved([c], max_rounds, 10.0)
    steady = statistics.median(c.times)
    return {"batch": batch, "first_call_s": first, "median_s": steady, "sentences_per_s": batch / steady,
            "times_s": c.times, "skipped": None}


# --- report --------------------------------------------------------------------------------------


def header():
    dev = jax.devices()[0]
    return {
        "backend": jax.default_backend(),
        "device_kind": dev.device_kind,
        "device_count": jax.device_count(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "versions": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "jaxlib": jaxlib.__version__,
            "numpy": np.__version__,
            "attn_jax": attn_jax.__version__,
        },
        "date": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "flops": "4*B*H*N^2*D per attention call (two matmuls); matmul: 2*m^3",
        "memory_method": MEMORY_METHOD,
        "timing": "medians of interleaved rounds after one warm-up call each; ahead-of-time compiled; "
                  "block_until_ready",
    }


def ratio(rows, b, n, num, den, field="median_s"):
    get = {(r["impl"], r["B"], r["N"]): r for r in rows}
    a, c = get.get((num, b, n)), get.get((den, b, n))
    if not a or not c or a[field] is None or c[field] is None:
        return None
    return a[field] / c[field]


def targets(rows):
    """The issue's targets (B=8 unless stated), each as the ratio measured in this run and met or not."""
    get = {(r["impl"], r["B"], r["N"]): r for r in rows}

    def field(impl, b, n, name):
        r = get.get((impl, b, n))
        return None if r is None else r[name]

    def target(value, ok, **extra):
        return {"value": value, "met": None if value is None else bool(ok(value)), **extra}

    out = {}
    for n in (1024, 2048, 4096):
        out[f"fast vs jax.nn speed-up, N={n} (>= 2)"] = target(ratio(rows, 8, n, "jax.nn", "fast"), lambda x: x >= 2)
    per_n = {n: ratio(rows, 8, n, "numpy", "fast") for n in sorted({r["N"] for r in rows if r["B"] == 8}) if n >= 512}
    measured = [x for x in per_n.values() if x is not None]
    out["fast vs numpy speed-up, every N >= 512 (> 1)"] = target(
        min(measured, default=None), lambda x: x > 1, per_N=per_n)
    out["fast GFLOP/s as a fraction of matmul's, N=2048 (>= 0.30)"] = target(
        field("fast", 8, 2048, "frac_matmul"), lambda x: x >= 0.30)
    out["fast peak extra memory in MB, B=1 N=16384 (<= 256)"] = target(
        field("fast", 1, 16384, "peak_extra_bytes"), lambda x: x <= 256e6)
    per_n = {n: ratio(rows, 8, n, "weights", "jax.nn") for n in sorted({r["N"] for r in rows if r["B"] == 8})}
    measured = [x for x in per_n.values() if x is not None]
    out["weights path time / jax.nn time, every N (<= 1)"] = target(
        max(measured, default=None), lambda x: x <= 1, per_N=per_n)
    return out


def table(results) -> str:
    rows = results["rows"]
    h = results["header"]
    lines = [
        f"backend {h['backend']} ({h['device_kind']}), {h['cpu_count']} CPUs, jax {h['versions']['jax']}, "
        f"numpy {h['versions']['numpy']}; H={H} D={D} float32; median seconds of interleaved rounds",
        f"{'B':>2} {'N':>6} {'weights':>9} {'fast':>9} {'jax.nn':>9} {'numpy':>9} {'matmul':>9} "
        f"{'fast GF/s':>9} {'of mm':>6} {'nn/fast':>7} {'np/fast':>7} {'w/nn':>5} {'fast MiB':>8} {'wts MiB':>8}",
    ]
    get = {(r["impl"], r["B"], r["N"]): r for r in rows}

    def fmt(x, spec, width):
        return f"{'-':>{width}}" if x is None else format(x, f">{width}{spec}")

    for b, n in sorted({(r["B"], r["N"]) for r in rows}):
        t = {i: get[(i, b, n)]["median_s"] for i in IMPLS}
        fast = get[("fast", b, n)]
        mib = lambda r: None if r["peak_extra_bytes"] is None else r["peak_extra_bytes"] / 2**20  # noqa: E731
        lines.append(
            f"{b:>2} {n:>6} " + " ".join(fmt(t[i], ".4f", 9) for i in IMPLS) + " "
            + fmt(fast["gflops"], ".1f", 9) + " " + fmt(fast["frac_matmul"], ".0%", 6) + " "
            + fmt(ratio(rows, b, n, "jax.nn", "fast"), ".2f", 7) + " "
            + fmt(ratio(rows, b, n, "numpy", "fast"), ".2f", 7) + " "
            + fmt(ratio(rows, b, n, "weights", "jax.nn"), ".2f", 5) + " "
            + fmt(mib(fast), ".1f", 8) + " " + fmt(mib(get[("weights", b, n)]), ".1f", 8)
        )
    lines.append("nn/fast, np/fast: jax.nn and NumPy time over the fast path's (speed-up); w/nn: weights path "
                 "time over jax.nn's; MiB: peak extra memory ('-': not run, see the JSON's 'skipped')")
    enc = results.get("encoder") or {}
    if enc.get("skipped"):
        lines.append(f"encoder: {enc['skipped']}")
    elif enc:
        lines.append(f"encoder: batches of {enc['batch']} sentences, {enc['median_s']:.3f} s median "
                     f"({enc['sentences_per_s']:.0f} sentences/s); first call incl. compile "
                     f"{enc['first_call_s']:.2f} s")
    verdict = {True: "met", False: "NOT met", None: "not measured"}
    for name, t in results.get("targets", {}).items():
        v = t["value"]
        v = "-" if v is None else f"{v / 1e6:.0f}" if "memory" in name else f"{v:.2f}"
        lines.append(f"target: {name}: {v} -> {verdict[t['met']]}")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes (seconds): for tests")
    p.add_argument("--out", type=Path, default=None, help="JSON path (default benchmarks/results/<backend>.json)")
    p.add_argument("--rounds", type=int, default=5, help="at most this many timed rounds per (B, N)")
    p.add_argument("--round-budget", type=float, default=60.0,
                   help="seconds of timed rounds per (B, N), from the warm-up's duration (at least one round)")
    p.add_argument("--no-encoder", action="store_true", help="skip the encoder sentences/s measurement")
    args = p.parse_args(argv)

    cfg = QUICK if args.quick else FULL
    t0 = time.perf_counter()
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731 - progress, not results
    log(f"benchmarking attention on {jax.default_backend()} ({jax.devices()[0].device_kind}) ...")
    max_rounds = 2 if args.quick else args.rounds
    rows = bench_attention(cfg, max_rounds, args.round_budget, log)
    encoder = None if args.no_encoder else bench_encoder(batch=8 if args.quick else 32,
                                                          max_rounds=2 if args.quick else 5)
    results = {
        "header": {**header(), "quick": args.quick, "total_s": None,
                   "settings": {**cfg, "H": H, "D": D, "max_rounds": max_rounds, "round_budget_s": args.round_budget,
                                "memory_fraction": MEMORY_FRACTION}},
        "rows": sorted(rows, key=lambda r: (r["B"], r["N"], IMPLS.index(r["impl"]))),
        "encoder": encoder,
    }
    if not args.quick:
        results["targets"] = targets(rows)
    results["header"]["total_s"] = round(time.perf_counter() - t0, 1)
    out = args.out or RESULTS / f"{jax.default_backend()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(table(results))
    print(f"wrote {out} ({results['header']['total_s']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
