"""``make bench``: the corpus through the encoder, sentences per second, measured side by side.

Contenders, on the 285 sentences of the Winograd collection (``data/wsc285``):

- ``sharded run``: :meth:`attn_jax.corpus.CorpusRunner.run` (batches of 64 sorted by length,
  rows split over every local device: every layer's attention, Q, K, V and hidden states);
- ``plain run``: :meth:`attn_jax.Encoder.run` in batches of 64 in file order, on one device
  (the baseline the runner is measured against);
- ``embeddings``: :meth:`~attn_jax.corpus.CorpusRunner.embeddings` with 8 gate settings (the
  unit of the head-importance and pruning analyses), reported as sentence-passes per second.

Each contender is warmed up once (compiles excluded), then timed in interleaved rounds so a slow
spell of a shared machine hits all alike; medians. ``--rounds`` sets the number of rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax
import numpy as np


def main(argv=None) -> int:
    from attn_jax import Encoder
    from attn_jax.corpus import GATE_CHUNK, CorpusRunner
    from build_scripts.pipeline.winograd import load_collection

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    texts = [s.text for s in load_collection()]
    enc = Encoder.load()
    runner = CorpusRunner(enc)
    gates = np.ones((GATE_CHUNK, enc.config.num_hidden_layers, enc.config.num_attention_heads), np.float32)

    def plain():
        for i in range(0, len(texts), 64):
            enc.run(texts[i : i + 64])

    contenders = {"sharded run": (lambda: runner.run(texts), len(texts)),
                  "plain run": (plain, len(texts)),
                  "embeddings": (lambda: runner.embeddings(texts, gates), len(texts) * GATE_CHUNK)}
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for name, (fn, _) in contenders.items():  # warm-up: compile every shape once
        t0 = time.perf_counter()
        fn()
        print(f"warm-up {name}: {time.perf_counter() - t0:.1f} s (compiles included)", file=sys.stderr, flush=True)
    for _ in range(args.rounds):
        for name, (fn, _) in contenders.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    print(f"corpus: {len(texts)} sentences, {len(jax.devices())} {jax.default_backend()} device(s), "
          f"{os.cpu_count()} CPUs, median of {args.rounds} rounds")
    rate = {}
    for name, (_, count) in contenders.items():
        med = statistics.median(times[name])
        rate[name] = count / med
        print(f"  {name:12s} {med:7.2f} s  {rate[name]:8.1f} sentences/s")
    print(f"  sharded run vs plain run: {rate['sharded run'] / rate['plain run']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
