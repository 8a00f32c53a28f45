/* The all-heads grid: every layer x head of one sentence as a small attention map, drawn on one
 * canvas (tens of thousands of cells would be as many SVG elements). The canvas scales down to
 * fit its box; the accessible click targets are the layer/head selects, the button, the arrow
 * keys and the per-layer summary in words. Choosing a map selects that head in the head view on
 * the same page, through the head view's own controls and change events.
 */
import { announce, embed, fail, getJSON, mount as mountWidget, numbered, once, serial, setView } from "attn/core.js";

const REDUCED_MOTION = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

/* Change one of the head view's own controls the way a reader would, and wait for its redraw. */
async function setControl(root, input, value) {
  if (input.type === "radio" || input.type === "checkbox") {
    if (input.checked) return;
    input.checked = true;
  } else {
    if (input.value === String(value)) return;
    input.value = String(value);
  }
  const rendered = once(root, "attn:rendered");
  input.dispatchEvent(new Event("change", { bubbles: true }));
  await rendered;
}

/* Show sentence/layer/head in the head view of this page; false when the page has none. */
async function showInHeadView(sentence, layer, head) {
  const hv = document.querySelector('[data-attn-widget="head-view"]');
  if (!hv) return false;
  if (hv.dataset.query === undefined) { // not drawn yet: widgets mount only near the viewport
    const drawn = once(hv, "attn:rendered");
    mountWidget(hv);
    await drawn;
  }
  const form = hv.querySelector(".attn-controls");
  const f = form.elements;
  if (f.filter && f.filter.value) { // the sentence may be filtered out of the picker
    f.filter.value = "";
    f.filter.dispatchEvent(new Event("input"));
  }
  await setControl(hv, f.sentence, sentence);
  await setControl(hv, form.querySelector('input[name="mode"][value="single"]'));
  await setControl(hv, f.layer, layer);
  await setControl(hv, f.head, head);
  hv.scrollIntoView({ behavior: REDUCED_MOTION ? "auto" : "smooth", block: "start" });
  // A widget above may mount while the page scrolls and push the head view down: when this
  // scroll ends, put it back at the top (a no-op when it is there). Not later: by then a scroll's
  // end is the reader's own.
  const settle = () => hv.scrollIntoView({ block: "start" });
  if ("onscrollend" in window) {
    window.addEventListener("scrollend", settle, { once: true });
    setTimeout(() => window.removeEventListener("scrollend", settle), 1500);
  }
  const chart = hv.querySelector(".attn-chart");
  if (chart) chart.focus({ preventScroll: true });
  return true;
}

/** The (layer, head) under a point of the canvas, from the grid's geometry (index.json). */
function cellAt(view, canvas, index, x, y) {
  const g = index.geometry;
  const r = canvas.getBoundingClientRect();
  const scale = r.width / parseFloat(canvas.style.width); // the canvas may be scaled down to fit its box
  const [ox, oy] = view.origin();
  const px = (x - r.left) / scale - ox - g.left;
  const py = (y - r.top) / scale - oy - g.top;
  const step = g.n * g.cell + g.gap;
  const head = Math.floor(px / step);
  const layer = Math.floor(py / step);
  const inside = px - head * step < g.n * g.cell && py - layer * step < g.n * g.cell;
  if (px < 0 || py < 0 || head >= index.heads || layer >= index.layers || !inside) return null;
  return { layer, head };
}

export async function mount(el) {
  const src = el.dataset.src;
  const index = await getJSON(src + "index.json");
  const spec = await getJSON(src + "spec.json");
  const form = el.querySelector(".attn-controls");
  const f = form.elements;
  const chartEl = el.querySelector(".attn-chart");
  const out = el.querySelector(".attn-readout");
  // A canvas does not take the page's CSS: its words get the theme's text colour from a signal,
  // updated when the reader switches between light and dark.
  const fg = () => getComputedStyle(el).color;
  const themed = {
    ...spec,
    signals: [...(spec.signals || []), { name: "fg", value: fg() }],
    marks: spec.marks.map((m) => (m.type === "text"
      ? { ...m, encode: { ...m.encode, update: { ...m.encode.update, fill: { signal: "fg" } } } } : m)),
    legends: (spec.legends || []).map((l) => ({ ...l, labelColor: { signal: "fg" }, titleColor: { signal: "fg" } })),
  };
  const view = await embed(chartEl, themed, { renderer: "canvas" });
  const theme = new MutationObserver(() => (el.isConnected ? view.signal("fg", fg()).runAsync() : theme.disconnect()));
  theme.observe(document.body, { attributes: true, attributeFilter: ["data-md-color-scheme"] });
  setView(el, view);
  const cells = view.data("cells"); // one row per (layer, head), with its scores
  const state = { layer: index.default.layer, head: index.default.head };
  const canvas = chartEl.querySelector("canvas");
  canvas.setAttribute("aria-hidden", "true"); // the summary in words and the controls speak for it

  numbered(f.layer, index.layers, "layer", state.layer);
  numbered(f.head, index.heads, "head", state.head);
  if (!document.querySelector('[data-attn-widget="head-view"]')) form.querySelector("button").hidden = true;
  form.hidden = false;

  async function select(layer, head) {
    state.layer = Math.max(0, Math.min(index.layers - 1, layer));
    state.head = Math.max(0, Math.min(index.heads - 1, head));
    const row = cells.find((c) => c.layer === state.layer && c.head === state.head);
    const { layer: l, head: h, n, cls, focus } = row; // the spec's `selected` row (headgrid.selected_row)
    view.data("selected", [{ layer: l, head: h, n, cls, focus }]);
    await view.runAsync();
    f.layer.value = String(state.layer);
    f.head.value = String(state.head);
    out.textContent = view.signal("readout");
    Object.assign(el.dataset, { layer: state.layer, head: state.head });
    announce(el);
  }

  const run = serial((err) => fail(el, err));
  const show = () => showInHeadView(index.sentence, state.layer, state.head);
  form.addEventListener("change", () => run(() => select(Number(f.layer.value), Number(f.head.value))));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    run(show);
  });
  canvas.style.cursor = "pointer";
  canvas.addEventListener("click", (ev) => {
    const cell = cellAt(view, canvas, index, ev.clientX, ev.clientY);
    if (cell) {
      run(async () => {
        await select(cell.layer, cell.head);
        await show();
      });
    }
  });
  const MOVES = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
  chartEl.addEventListener("keydown", (ev) => {
    if (ev.key in MOVES) {
      ev.preventDefault();
      const [dl, dh] = MOVES[ev.key];
      run(() => select(state.layer + dl, state.head + dh));
    } else if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      run(show);
    }
  });
  await select(state.layer, state.head);
}
