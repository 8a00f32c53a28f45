/* "Try your own sentence": the head view shows a sentence the reader types, computed in the page.
 *
 * This module loads when the reader presses the control's button (markup and note:
 * build_scripts/site/widgets.py), and starts a Web Worker (./live-worker.js) that downloads the
 * vendored onnxruntime-web runtime, the model's tokenizer and the exported encoder
 * (docs/generated/live/, built by build_scripts/groups/live from attn_jax's own forward), with a
 * progress bar. Each sentence's attention goes into the same head view (show(), from
 * attn/head-view.js) with its controls, readout and keys, in WordPiece tokens. Once loaded, nothing
 * more is fetched, and it works offline: the worker keeps its downloads in the browser's cache, and
 * the site's service worker (docs/sw.js) serves this page from there when the network fails.
 * Every text the reader types is shown as text, never as HTML.
 *
 * Addresses come from the widget's data attributes, relative to the page: `data-live` (the model's
 * folder), `data-live-sw` (the service worker; none: no offline copy of the page) and, for a
 * standalone export, `data-live-runtime` and `data-live-worker`.
 */
import { show } from "attn/head-view.js";

const MB = (b) => `${(b / 1e6).toFixed(1)} MB`;

/** Head-view payload (see attn/head-view.js) from a worker result: attentions [L, H, n, n]. */
export function payloadOf(result, heads) {
  const [layers, nh, n] = result.shape;
  const a = result.attentions;
  const row = (l, h, i) => Array.from(a.subarray(((l * nh + h) * n + i) * n, ((l * nh + h) * n + i + 1) * n));
  const att = Array.from({ length: layers }, (_, l) => Array.from({ length: nh }, (_, h) =>
    Array.from({ length: n }, (_, i) => row(l, h, i))));
  return {
    id: "live",
    query: n > 2 ? 1 : 0, // the first word after [CLS]
    multi_heads: Array.from({ length: layers }, () => heads.slice()),
    word: { labels: result.tokens, special: result.tokens.map((_, i) => i === 0 || i === n - 1) },
    token: null,
    tokens_only: true, // the WordPiece tokens, in the place of the word level (see ./head-view.js)
    decoded: { word: att, token: null },
  };
}

/** An address from the widget's data attribute (relative to the page), else `fallback` next to
 * this module (the site's layout; a standalone export sets every attribute). */
const url = (attr, fallback) => (attr ? new URL(attr, document.baseURI) : new URL(fallback, import.meta.url));

/** Keep this page and the files it loaded for offline use: register the site's service worker
 * (docs/sw.js, at the address in `data-live-sw`) and put them in the cache it serves from when the
 * network fails. Returns how many files were kept (0 where the browser or the page does not allow
 * it: the page then works online only). */
async function keepOffline(el) {
  if (!el.dataset.liveSw || !("serviceWorker" in navigator) || !window.isSecureContext) return 0;
  try {
    await navigator.serviceWorker.register(url(el.dataset.liveSw));
    const urls = [location.href.split("#")[0], url(el.dataset.liveWorker, "./live-worker.js").href,
      ...performance.getEntriesByType("resource").map((e) => e.name)]
      .filter((u) => new URL(u).origin === location.origin);
    const cache = await caches.open("attn-pages");
    const kept = await Promise.all([...new Set(urls)].map((u) => cache.add(u).then(() => 1, () => 0)));
    return kept.reduce((a, b) => a + b, 0);
  } catch {
    return 0;
  }
}

function element(tag, props = {}, children = []) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

/** Build the rest of the control under its button and start loading (the button was pressed). */
export function start(el) {
  const box = el.querySelector(".attn-live");
  const button = box.querySelector(".attn-live-load");
  const total = Number(button.dataset.bytes);
  const bar = element("progress", { max: total, value: 0 });
  const status = element("span", { className: "attn-live-status" });
  status.setAttribute("role", "status");
  const progress = element("div", { className: "attn-live-progress", hidden: true }, [bar, " ", status]);
  const input = element("input", { type: "text", name: "text", autocomplete: "off", placeholder: "Type a sentence" });
  input.setAttribute("aria-label", "Your sentence");
  const form = element("form", { className: "attn-live-form", hidden: true },
    [input, " ", element("button", { type: "submit", textContent: "Show its attention" })]);
  const message = element("p", { className: "attn-live-message" });
  message.setAttribute("aria-live", "polite");
  box.append(progress, form, message);

  let worker = null;
  let next = 0;
  const pending = new Map();
  const say = (text) => { message.textContent = text; };

  function load() {
    if (worker) return;
    button.disabled = true;
    progress.hidden = false;
    say("");
    const t0 = performance.now();
    worker = new Worker(url(el.dataset.liveWorker, "./live-worker.js"), { type: "module" });
    worker.onmessage = (ev) => {
      const msg = ev.data;
      if (msg.type === "progress") {
        bar.value = Math.min(msg.loaded, total);
        status.textContent = `Downloading ${MB(Math.min(msg.loaded, total))} of ${MB(total)}`;
      } else if (msg.type === "ready") {
        progress.hidden = true;
        button.hidden = true;
        form.hidden = false;
        el.dataset.liveLoadMs = String(Math.round(performance.now() - t0));
        el.dataset.liveReady = "1";
        input.focus();
        keepOffline(el).then((kept) => { el.dataset.liveOffline = String(kept); });
      } else if (msg.type === "result" || msg.type === "error") {
        const done = pending.get(msg.id);
        pending.delete(msg.id);
        if (done) done(msg);
        else if (msg.type === "error") fallback(msg.message); // the download failed
      }
    };
    worker.onerror = (ev) => fallback(ev.message || "the worker stopped");
    worker.postMessage({ type: "load", live: url(el.dataset.live).href,
      runtime: url(el.dataset.liveRuntime, "../vendor/onnxruntime-web/").href });
  }

  function fallback(text) {
    worker?.terminate();
    worker = null;
    progress.hidden = true;
    button.disabled = false;
    say(`The model could not be loaded (${text}). Check the connection and press the button again.`);
  }

  if (location.protocol === "file:") { // a page opened from a file may not read the files beside it
    button.disabled = true;
    say("A page opened from a file cannot load the model: browsers forbid it. Serve this folder " +
      "(python -m http.server) and open the page from http://localhost:8000/.");
    return;
  }
  button.addEventListener("click", load); // again after a failed download
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = input.value;
    const id = next++;
    const t0 = performance.now();
    say("Computing…");
    el.dataset.liveState = "busy";
    pending.set(id, async (msg) => {
      if (msg.type === "error") {
        say(`Cannot show this text: ${msg.message}.`);
        el.dataset.liveState = "error";
        return;
      }
      const heads = [...el.querySelectorAll('input[name="heads"]:checked')].map((b) => Number(b.value));
      await show(el, payloadOf(msg, heads.length ? heads : [0]));
      say(`Showing your sentence (${msg.tokens.length} tokens, computed in ${Math.round(performance.now() - t0)} ms).`);
      el.dataset.liveMs = String(Math.round(performance.now() - t0));
      el.dataset.liveState = "shown";
    });
    worker.postMessage({ type: "run", id, text });
  });
  load();
}
