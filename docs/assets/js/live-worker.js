/* Web Worker (module) of the live head view: tokenizer and exported encoder, off the page's thread.
 *
 * Messages in:  {type: "load", live, runtime}  live = URL of docs/generated/live/, runtime = URL of
 *                                                the vendored onnxruntime-web folder
 *               {type: "run", id, text}
 * Messages out: {type: "progress", loaded}      bytes loaded so far (model + runtime + tokenizer)
 *               {type: "ready"}
 *               {type: "result", id, tokens, shape, attentions}   attentions: Float32Array
 *                                                [L, H, n, n] (row = query, column = key)
 *               {type: "error", id, message}    one line naming the problem and the fix
 * The graph is the live group's model.onnx (build_scripts/groups/live): attn_jax's forward, exported.
 * Every file is kept in Cache Storage (named after model.json's version) once downloaded, so the
 * next load reads them from disk, with or without a network.
 */
let session = null;
let tokenizer = null;
let ort = null;
let maxTokens = 512;

const CACHE = "attn-live-"; // + model.json's version, a hash of every file below: new files, new cache

/** The bytes behind `url`: from `cache` when an earlier visit kept them (then nothing is fetched and
 * the model works offline), else downloaded and kept there. Reports each chunk to `onChunk(bytes)`. */
async function fetchBytes(url, onChunk, cache) {
  const hit = cache && await cache.match(url.href);
  if (hit) {
    const out = new Uint8Array(await hit.arrayBuffer());
    onChunk(out.length);
    return out;
  }
  const r = await fetch(url, { cache: "no-store" }); // kept below, not by the browser or docs/sw.js
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  const reader = r.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
    onChunk(value.length);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  await cache?.put(url.href, new Response(out)).catch(() => {}); // a full disk only costs the offline copy
  return out;
}

/** model.json: from the network, else (offline) as an earlier visit kept it. */
async function index(url) {
  try {
    const r = await fetch(url, { cache: "no-cache" });
    if (r.ok) return await r.json();
  } catch { /* offline: the kept copy below */ }
  const kept = await self.caches?.match(url.href);
  if (kept) return kept.json();
  throw new Error(`cannot reach ${url}, and no earlier visit kept a copy`);
}

/** A module from its bytes, imported under a blob: address (so a kept copy serves offline). */
const blobUrl = (bytes) => URL.createObjectURL(new Blob([bytes], { type: "text/javascript" }));

async function load(live, runtime) {
  const info = await index(new URL("model.json", live));
  // Cache Storage exists on https:// and localhost only; elsewhere every visit downloads again
  const cache = self.caches ? await caches.open(CACHE + info.version) : null;
  let loaded = 0;
  const tick = (n) => { loaded += n; postMessage({ type: "progress", loaded }); };
  const get = (url) => fetchBytes(url, tick, cache);
  const text = async (url) => new TextDecoder().decode(await get(url));
  const [ortCode, ortWasmCode, tokCode, tokJson, tokConfig, wasm, model] = await Promise.all([
    get(new URL("ort.wasm.min.mjs", runtime)),
    get(new URL("ort-wasm-simd-threaded.mjs", runtime)),
    get(new URL("../tokenizers/tokenizers.min.mjs", runtime)),
    text(new URL("tokenizer.json", live)).then(JSON.parse),
    text(new URL("tokenizer_config.json", live)).then(JSON.parse),
    get(new URL("ort-wasm-simd-threaded.wasm", runtime)),
    get(new URL("model.onnx", live)),
  ]);
  ort = await import(blobUrl(ortCode));
  const tokModule = await import(blobUrl(tokCode));
  maxTokens = info.max_tokens;
  tokenizer = new tokModule.Tokenizer(tokJson, tokConfig);
  ort.env.wasm.numThreads = 1; // threads need cross-origin isolation, which a static host does not give
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmBinary = wasm.buffer;
  ort.env.wasm.wasmPaths = { mjs: blobUrl(ortWasmCode) }; // the runtime's loader, from the bytes above
  ort.env.logLevel = "error"; // not the notes about constants the exporter left unused
  session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"], logSeverityLevel: 3 });
  if (cache) { // keep model.json for an offline visit; drop what older versions kept
    await cache.put(new URL("model.json", live).href, new Response(JSON.stringify(info))).catch(() => {});
    for (const name of await caches.keys()) if (name.startsWith(CACHE) && name !== CACHE + info.version) await caches.delete(name);
  }
}

async function run(text) {
  if (!text.trim()) throw new Error("the text is empty or only whitespace; give a sentence with words in it");
  const enc = tokenizer.encode(text);
  const n = enc.ids.length;
  if (n > maxTokens) {
    // the same limit and words as `python -m attn_jax dump`
    throw new Error(`the text is ${n} tokens long (with [CLS] and [SEP]) but the model accepts at most ` +
      `${maxTokens}; shorten it or split it into sentences`);
  }
  const ids = new ort.Tensor("int32", Int32Array.from(enc.ids), [1, n]);
  const mask = new ort.Tensor("int32", new Int32Array(n).fill(1), [1, n]);
  const out = await session.run({ input_ids: ids, attention_mask: mask });
  const att = out.attentions; // [L, 1, H, n, n]: B = 1, so the data is [L, H, n, n]
  return { tokens: enc.tokens, shape: [att.dims[0], att.dims[2], n, n], attentions: att.data.slice() };
}

let chain = Promise.resolve();
self.onmessage = (ev) => {
  const msg = ev.data;
  chain = chain.then(async () => {
    try {
      if (msg.type === "load") {
        if (!session) await load(new URL(msg.live), new URL(msg.runtime));
        postMessage({ type: "ready" });
      } else if (msg.type === "run") {
        const r = await run(msg.text);
        postMessage({ type: "result", id: msg.id, ...r }, [r.attentions.buffer]);
      }
    } catch (err) {
      postMessage({ type: "error", id: msg.id, message: String(err.message || err) });
    }
  });
};
