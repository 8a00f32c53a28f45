/* The shared core of the attention widgets: lazy mounting, fetching with errors shown inside the
 * widget, option lists, the choice between a spec and its layout for phones, and the 8-bit weight
 * codec. Every widget kind is its own ES module (attn/<kind>.js) exporting `mount(el)`; this module
 * loads it when a widget of that kind comes near the viewport. The kind is the element's
 * data-attn-widget, written by the site from the spec's own `usermeta.widget`
 * (build_scripts/site/widgets.py). Modules import each other by bare names ("attn/core.js"), which
 * the page's import map resolves (overrides/main.html; the standalone export maps them to inline
 * data). Nothing is put on `window` or on DOM elements; Vega (the vendored classic script) is the
 * one global read. Widgets talk through events ("attn:rendered", "attn:ready") and exported
 * functions; viewOf(el) gives a widget's Vega view to tests and tools.
 */

/** Draw a compiled Vega spec into `el` (its previous drawing removed); resolves with the view.
 *  SVG by default, so words are real text; tooltips use Vega's own handler (the title attribute). */
export async function embed(el, spec, { renderer = "svg" } = {}) {
  el.replaceChildren(); // the <noscript> fallback, or a drawing the caller has finalized
  const view = new vega.View(vega.parse(spec), { renderer, container: el, hover: true });
  await view.runAsync();
  return view;
}

// Every widget kind and its module.
const MODULES = {
  chart: () => import("attn/chart.js"),
  "head-view": () => import("attn/head-view.js"),
  "qkv-steps": () => import("attn/qkv-steps.js"),
  "head-grid": () => import("attn/head-grid.js"),
  training: () => import("attn/training.js"),
};
const moduleOf = (kind) => MODULES[kind] || (() => Promise.reject(new Error(`unknown widget kind "${kind}"`)));

const cache = new Map();
const views = new WeakMap(); // widget element -> its Vega view
const mounted = new WeakMap(); // widget element -> the promise of its mounting

/** Record the Vega view a widget drew (one per widget). */
export function setView(el, view) {
  views.set(el, view);
}

/** The Vega view of a widget element, once drawn (for tests and tools: its data and signals). */
export function viewOf(el) {
  return views.get(el);
}

/** The width a widget may take: its container's content box (a figure is only as wide as its content). */
function room(el) {
  const box = el.parentElement;
  if (!box) return Infinity;
  const style = getComputedStyle(box);
  return box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
}

/** The spec a widget draws: data-spec, or its layout for phones (data-spec-narrow) where the
 *  column is narrower than data-narrow-below px. The one phone-layout rule of every widget. */
export function pickSpec(el) {
  const narrow = Boolean(el.dataset.specNarrow) && room(el) < Number(el.dataset.narrowBelow);
  return { url: narrow ? el.dataset.specNarrow : el.dataset.spec, narrow };
}

/** Fetch JSON once per URL; a failure names the file and the HTTP status. */
export function getJSON(relative) {
  const url = new URL(relative, document.baseURI).href;
  if (!cache.has(url)) {
    cache.set(url, fetch(url).then((r) => {
      if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
      return r.json();
    }));
    cache.get(url).catch(() => cache.delete(url)); // a later try fetches again
  }
  return cache.get(url);
}

/** Give getJSON the data of a URL without fetching it (a standalone page carries its data inline). */
export function preload(url, data) {
  cache.set(new URL(url, document.baseURI).href, Promise.resolve(data));
}

/** Show an error inside the widget (the text around it still describes the chart). */
export function fail(el, err) {
  console.warn(err);
  const p = document.createElement("p");
  p.className = "attn-error";
  p.setAttribute("role", "status");
  p.textContent = `This chart could not be loaded (${err.message}). The text around it describes it.`;
  el.querySelector(".attn-error")?.remove();
  el.appendChild(p);
}

export function option(value, text, selected) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  o.selected = selected;
  return o;
}

/** Fill a <select> with `count` options "prefix 1".."prefix count" (values 0-based). */
export function numbered(select, count, prefix, selected) {
  select.replaceChildren(...Array.from({ length: count }, (_, i) => option(i, `${prefix} ${i + 1}`, i === selected)));
}

/** Run async tasks one after another (a change while a file is loading waits for it). */
export function serial(onError) {
  let chain = Promise.resolve();
  return (task) => (chain = chain.then(task).catch(onError));
}

/** Resolve on the next `type` event of `target`; reject after `ms`. */
export function once(target, type, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type} within ${ms} ms`)), ms);
    target.addEventListener(type, () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

export function announce(el, type = "attn:rendered") {
  el.dispatchEvent(new CustomEvent(type, { bubbles: true }));
}

/** Decode weights written by build_scripts.pipeline.payloads.quantise: {q8: base64 bytes, shape} -> nested
 *  arrays of byte / 255 (each within 0.5 / 255 of the model's weight). With `causal`, the bytes hold
 *  each query row's keys 0..query only (the last two axes); the rest of a row is zero. */
export function dequantise(packed) {
  const bytes = Uint8Array.from(atob(packed.q8), (c) => c.charCodeAt(0));
  const shape = packed.shape;
  const n = shape[shape.length - 1];
  const rows = shape.length - 2; // the query axis
  // bytes per block of the query axis: n * n, or n * (n + 1) / 2 when causal
  const block = packed.causal ? (n * (n + 1)) / 2 : n * n;
  const build = (offset, dim) => {
    if (dim === rows) {
      return Array.from({ length: shape[dim] }, (_, q) => {
        const start = offset + (packed.causal ? (q * (q + 1)) / 2 : q * n);
        const seen = packed.causal ? q + 1 : n;
        return Array.from({ length: n }, (_, k) => (k < seen ? bytes[start + k] / 255 : 0));
      });
    }
    const stride = shape.slice(dim + 1, rows).reduce((a, b) => a * b, 1) * block;
    return Array.from({ length: shape[dim] }, (_, i) => build(offset + i * stride, dim + 1));
  };
  return build(0, 0);
}

/* ---- mounting ------------------------------------------------------------------------------- */

// One widget renders at a time, the one nearest the middle of the screen first, so a heavy chart
// half in view does not hold up the one the reader is looking at.
let queue = Promise.resolve();

/** Mount one widget (idempotent); resolves when it has drawn (or shown its error). */
export function mount(el) {
  if (mounted.has(el)) return mounted.get(el);
  el.dataset.mounted = "1";
  const load = moduleOf(el.dataset.attnWidget);
  queue = queue.then(async () => {
    try {
      const mod = await load();
      await mod.mount(el);
    } catch (err) {
      fail(el, err);
    }
  });
  mounted.set(el, queue);
  return queue;
}

// Widgets load their code and data when they come near the viewport, so a long article's first
// load fetches only what the reader sees.
let observer = null;
function mountAll() {
  observer?.disconnect();
  observer = "IntersectionObserver" in window
    ? new IntersectionObserver((entries) => {
      const mid = window.innerHeight / 2;
      const off = (e) => Math.abs(e.boundingClientRect.top + e.boundingClientRect.height / 2 - mid);
      const visible = entries.filter((e) => e.isIntersecting).sort((a, b) => off(a) - off(b));
      for (const e of visible) { observer.unobserve(e.target); mount(e.target); }
    }, { rootMargin: "50px 0px" })
    : null;
  const widgets = [...document.querySelectorAll("[data-attn-widget]")];
  // the code of every kind on the page (a few KB each) starts loading now; data waits for the viewport
  for (const kind of new Set(widgets.map((el) => el.dataset.attnWidget))) moduleOf(kind)().catch(() => {});
  for (const el of widgets) {
    if (observer) observer.observe(el);
    else mount(el);
  }
}

/** Mount on every page view: Material's instant navigation (document$) or a plain page load. */
export function start() {
  if (window.document$) window.document$.subscribe(mountAll);
  else if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
  else mountAll();
}
