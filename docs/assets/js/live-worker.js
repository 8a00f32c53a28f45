/* Web Worker (module) of the live head view: tokenizer and exported encoder, off the page's thread.
 *
 * Messages in:  {type: "load", live, runtime}  live = URL of docs/generated/live/, runtime = URL of
 *                                                the vendored onnxruntime-web folder
 *               {type: "run", id, text}
 * Messages out: {type: "progress", loaded}      bytes downloaded so far (model + runtime + tokenizer)
 *               {type: "ready"}
 *               {type: "result", id, tokens, shape, attentions}   attentions: Float32Array
 *                                                [L, H, n, n] (row = query, column = key)
 *               {type: "error", id, message}    one line naming the problem and the fix
 * The graph is build_scripts/live_build.py's model.onnx: attn_jax's forward, exported.
 */
let session = null;
let tokenizer = null;
let ort = null;
let maxTokens = 512;

/** Fetch a file as bytes, reporting each chunk to `onChunk(bytes)`. */
async function fetchBytes(url, onChunk) {
  const r = await fetch(url);
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
  return out;
}

async function load(live, runtime) {
  let loaded = 0;
  const tick = (n) => { loaded += n; postMessage({ type: "progress", loaded }); };
  const text = async (url) => new TextDecoder().decode(await fetchBytes(url, tick));
  const [ortModule, tokModule, info, tokJson, tokConfig, wasm, model] = await Promise.all([
    import(new URL("ort.wasm.min.mjs", runtime).href),
    import(new URL("../tokenizers/tokenizers.min.mjs", runtime).href),
    text(new URL("model.json", live)).then(JSON.parse),
    text(new URL("tokenizer.json", live)).then(JSON.parse),
    text(new URL("tokenizer_config.json", live)).then(JSON.parse),
    fetchBytes(new URL("ort-wasm-simd-threaded.wasm", runtime), tick),
    fetchBytes(new URL("model.onnx", live), tick),
  ]);
  ort = ortModule;
  maxTokens = info.max_tokens;
  tokenizer = new tokModule.Tokenizer(tokJson, tokConfig);
  ort.env.wasm.numThreads = 1; // threads need cross-origin isolation, which a static host does not give
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmBinary = wasm.buffer;
  ort.env.wasm.wasmPaths = runtime.href; // where it imports ort-wasm-simd-threaded.mjs from
  ort.env.logLevel = "error"; // not the notes about constants the exporter left unused
  session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"], logSeverityLevel: 3 });
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
