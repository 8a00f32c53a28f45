"""``make bench``: greedy decoding with and without the KV cache, measured side by side in one process.

Contenders, SmolLM2-135M (:class:`attn_jax.Decoder`) writing the same N new tokens greedily after
the same prompt (end-of-text not stopping it):

- ``kv cache``: :meth:`attn_jax.Decoder.generate`: the prompt once, then one cached decode step per
  new token (the new token's query against the cached keys; its key and value added to the cache);
- ``no cache``: every new token recomputes the whole text so far: one forward pass per step over
  all its tokens (:func:`attn_jax.llama.forward` without attention weights, logits only at the last
  position, padded to the decoder's length bucket as :meth:`attn_jax.Decoder.run` pads), then the
  argmax. What a decoder without a cache must do.

Both write the same tokens (checked: ``same_tokens``). Method as :mod:`benchmarks.attention`: one
warm-up call of each (every shape compiled), then interleaved rounds (each contender once per round,
the order alternating), medians; wall clock and this process's CPU time (the steadier of the two on
a shared machine). Tokens per second count the N new tokens over the whole call, the prompt's
forward pass included (the same one in both).

Writes ``benchmarks/results/decoder-<backend>.json`` (a header with backend, device, versions, CPU
count and date; one row per contender; the ratios) and prints a table. ``--quick``: 4 new tokens,
one round (for tests).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.attention import RESULTS, Contender, header, interleaved

PROMPT = ("Attention lets every token of a sentence look at the tokens before it and decide how much each of "
          "them matters. A decoder reads")  # 25 tokens (make bench-peers' decode prompt)
FULL = {"new_tokens": 64, "rounds": 5, "round_budget_s": 120.0}
QUICK = {"new_tokens": 4, "rounds": 1, "round_budget_s": 1.0}


def uncached_generate(dec, prompt: str, new_tokens: int) -> np.ndarray:
    """Greedy decoding without a cache: one full forward pass per new token -> ids ``[n + new]``."""
    import jax.numpy as jnp

    from attn_jax.decoder import DECODER_BUCKETS, gate_array, window_args
    from attn_jax.llama import forward
    from attn_jax.tokenize import bucket

    cfg = dec.config
    ids = list(dec.tokenize([prompt])[0].ids)
    gates, (win, sinks) = gate_array(cfg, None), window_args(None, 0)
    for _ in range(new_tokens):
        n = len(ids)
        batch = np.zeros((1, bucket(n, DECODER_BUCKETS)), np.int32)
        batch[0, :n] = ids
        out = forward(dec.params, jnp.asarray(batch), gates, win, sinks, jnp.full((1, 1), n - 1, jnp.int32), cfg=cfg,
                      weights=False)  # fmt: skip
        ids.append(int(np.argmax(np.asarray(out.logits[0, 0]))))
    return np.asarray(ids, np.int32)


def _stats(c: Contender, new_tokens: int) -> dict:
    med, cpu = statistics.median(c.times), statistics.median(c.cpu_times)
    return {"variant": c.impl, "median_s": med, "median_cpu_s": cpu, "times_s": c.times, "cpu_times_s": c.cpu_times,
            "tokens_per_s": new_tokens / med, "tokens_per_cpu_s": new_tokens / cpu,
            "ms_per_token": 1e3 * med / new_tokens, "note": c.note}


def bench(dec, settings: dict, log=print) -> dict:
    """Both contenders, interleaved (module doc) -> the results' body (rows, ratios, check)."""
    n_new = settings["new_tokens"]
    prompt_ids = dec.tokenize([PROMPT])[0].ids
    cached = Contender("kv cache", lambda: dec.generate(PROMPT, n_new, stop_at_eos=False).ids, 0, 0,
                       note="Decoder.generate: prompt once, then one cached decode step per token")
    uncached = Contender("no cache", lambda: uncached_generate(dec, PROMPT, n_new), 0, 0,
                         note="one full forward pass (no weights, last logits) over the text so far per token")
    a, b = cached.call(), uncached.call()  # compiled and warm before the timed rounds; their tokens compared
    log(f"decode {n_new} new tokens after {len(prompt_ids)}: warm; timing {settings['rounds']} round(s) ...")
    interleaved([cached, uncached], settings["rounds"], settings["round_budget_s"])
    rows = [_stats(c, n_new) for c in (cached, uncached)]
    return {"prompt": PROMPT, "prompt_tokens": int(len(prompt_ids)), "new_tokens": n_new,
            "text": dec.tokenizer.decode(a[len(prompt_ids):].tolist(), skip_special_tokens=False),
            "same_tokens": bool(np.array_equal(a, b)), "rows": rows,
            "speedup": rows[1]["median_s"] / rows[0]["median_s"],
            "speedup_cpu": rows[1]["median_cpu_s"] / rows[0]["median_cpu_s"]}


def table(results: dict) -> str:
    h = results["header"]
    lines = [f"decoder SmolLM2-135M on {h['backend']} ({h['device_kind']}), {h['cpu_count']} CPUs: greedy, "
             f"{results['new_tokens']} new tokens after {results['prompt_tokens']}; medians of interleaved rounds",
             f"{'variant':>9} {'median s':>9} {'CPU s':>8} {'tokens/s':>9} {'ms/token':>9}"]
    for r in results["rows"]:
        lines.append(f"{r['variant']:>9} {r['median_s']:>9.3f} {r['median_cpu_s']:>8.3f} {r['tokens_per_s']:>9.1f} "
                     f"{r['ms_per_token']:>9.1f}")
    lines.append(f"the KV cache is {results['speedup']:.2f}x faster (wall clock), {results['speedup_cpu']:.2f}x "
                 f"(CPU time); same tokens: {results['same_tokens']}")
    return "\n".join(lines)


def main(argv=None, decoder=None) -> dict:
    """Run, write the JSON, print the table; ``decoder``: an already loaded one (tests)."""
    import jax

    from attn_jax import Decoder

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="4 new tokens, one round (seconds, after the model loads)")
    p.add_argument("--out", type=Path, default=None, help="JSON path (default benchmarks/results/decoder-<backend>.json)")
    p.add_argument("--new-tokens", type=int, default=None, help="new tokens per call (default 64; --quick: 4)")
    p.add_argument("--rounds", type=int, default=None, help="at most this many timed rounds (default 5)")
    args = p.parse_args(argv)
    settings = dict(QUICK if args.quick else FULL)
    if args.new_tokens is not None:
        settings["new_tokens"] = args.new_tokens
    if args.rounds is not None:
        settings["rounds"] = args.rounds
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731 - progress, not results
    t0 = time.perf_counter()
    dec = decoder if decoder is not None else Decoder.load()
    head = {k: v for k, v in header().items() if k not in ("flops", "memory_method")}  # the attention rows' notes
    head["timing"] = ("medians of interleaved rounds after one untimed call each (every shape compiled) and one "
                      "warm-up call; results read back to NumPy (blocking)")
    results = {"header": {**head, "quick": args.quick, "settings": settings, "total_s": None},
               **bench(dec, settings, log)}
    results["header"]["total_s"] = round(time.perf_counter() - t0, 1)
    out = args.out or RESULTS / f"decoder-{jax.default_backend()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(table(results))
    log(f"wrote {out} ({results['header']['total_s']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
    sys.exit(0)
