"""``make bench``: attention and encoder speed, measured side by side in one process.

Every contender runs once per round, rounds are interleaved (so a slow spell of the machine hits
all of them alike), and the table reports medians. GFLOP/s counts attention as 4*B*H*N^2*D flops;
"of matmul" is that rate as a fraction of a dense float32 matmul's rate measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from attn_jax import multi_head_attention
from attn_jax.attention import flops


def numpy_attention(q, k, v):
    """Naive NumPy float32 attention over [B, N, H, D] (BLAS matmuls, full score matrix)."""
    qh, kh, vh = (np.ascontiguousarray(a.transpose(0, 2, 1, 3)) for a in (q, k, v))  # [B, H, N, D]
    s = qh @ kh.transpose(0, 1, 3, 2) / np.float32(np.sqrt(q.shape[-1]))
    s -= s.max(-1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(-1, keepdims=True)
    return (s @ vh).transpose(0, 2, 1, 3)


def interleaved(fns: dict, rounds: int) -> dict[str, float]:
    """Median seconds of each callable, calling them in turn ``rounds`` times (after one warm-up)."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def bench_attention(sizes, b=8, h=12, d=64, rounds=5):
    rows = []
    mha = jax.jit(lambda q, k, v: multi_head_attention(q, k, v))
    ref = jax.jit(lambda q, k, v: jax.nn.dot_product_attention(q, k, v, implementation="xla"))
    for n in sizes:
        keys = jax.random.split(jax.random.PRNGKey(n), 3)
        q, k, v = (jax.random.normal(kk, (b, n, h, d), jnp.float32) for kk in keys)
        qn, kn, vn = (np.asarray(a) for a in (q, k, v))
        m = int(round((flops(b, h, n, n, d) / 2) ** (1 / 3)))  # a square matmul of the same flop count
        a = jax.random.normal(keys[0], (m, m), jnp.float32)
        mm = jax.jit(lambda x: x @ x)
        fns = {
            "attn_jax": lambda: jax.block_until_ready(mha(q, k, v)),
            "jax.nn": lambda: jax.block_until_ready(ref(q, k, v)),
            "numpy": lambda: numpy_attention(qn, kn, vn),
            "matmul": lambda: jax.block_until_ready(mm(a)),
        }
        t = interleaved(fns, rounds if n <= 1024 else max(3, rounds - 2))
        f = flops(b, h, n, n, d)
        matmul_gflops = 2 * m**3 / t["matmul"] / 1e9
        rows.append((n, t, f, matmul_gflops))
    return rows


def bench_encoder(batch=32, rounds=5):
    from attn_jax import Encoder

    enc = Encoder.load()
    base = [
        "The cat sat on the mat because it was tired.",
        "The bank by the river was steep.",
        "She deposited the money at the bank.",
        "The animal didn't cross the street because it was too tired.",
        "The animal didn't cross the street because it was too wide.",
        "Attention lets every word look at every other word.",
        "Heads in the same layer learn different patterns.",
        "A recurrent network reads one word at a time.",
    ]
    texts = [f"{s} ({i})" for i, s in enumerate(base * (batch // len(base)))][:batch]
    t0 = time.perf_counter()
    enc.run(texts)
    first = time.perf_counter() - t0
    steady = interleaved({"encoder": lambda: enc.run(texts)}, rounds)["encoder"]
    return first, steady, len(texts)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 512, 1024, 2048])
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)

    dev = jax.devices()[0]
    print(f"backend {jax.default_backend()} ({dev.device_kind}), jax {jax.__version__}, numpy {np.__version__}")
    print("multi-head attention, B=8 H=12 D=64 float32, median seconds (interleaved rounds)")
    head = f"{'N':>6} {'attn_jax':>10} {'jax.nn':>10} {'numpy':>10} {'ratio':>7} {'vs np':>7} {'GFLOP/s':>8} {'of mm':>6} {'mm GF/s':>8}"
    print(head)
    for n, t, f, mm in bench_attention(args.sizes, rounds=args.rounds):
        gf = f / t["attn_jax"] / 1e9
        print(
            f"{n:>6} {t['attn_jax']:>10.4f} {t['jax.nn']:>10.4f} {t['numpy']:>10.4f} "
            f"{t['attn_jax'] / t['jax.nn']:>7.2f} {t['attn_jax'] / t['numpy']:>7.2f} {gf:>8.1f} {gf / mm:>6.1%} {mm:>8.1f}"
        )
    print("ratio = attn_jax time / jax.nn time (target <= 1.25; attn_jax also returns the weights);")
    print("vs np = attn_jax time / NumPy time; of mm = attn_jax GFLOP/s as a share of the dense matmul's")
    first, steady, n = bench_encoder()
    print(f"encoder: batch of {n} sentences: {steady:.3f} s steady ({n / steady:.0f} sentences/s), "
          f"first call incl. load-free compile {first:.2f} s")


if __name__ == "__main__":
    main()
