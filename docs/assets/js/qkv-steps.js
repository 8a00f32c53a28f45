/* The Q/K/V steps widget: one head's q, every k, q·k, ÷ √D, softmax and Σ weight × v = output,
 * for a chosen sentence, layer, head and query token. Every number was computed by
 * build_scripts/groups/qkv_steps/measure.py from the encoder's Q/K/V, and the spec picks the chosen head and query out
 * of the per-(sentence, layer) file by its own transforms (build_scripts/groups/qkv_steps/charts.py, with_picking): this
 * module routes the file in, sets the signals, and shows the readout signal and the `scores` rows
 * the spec computed. On a narrow screen it draws the stacked variant (spec-narrow.json; core.js's pickSpec).
 */
import { announce, embed, fail, getJSON, numbered, option, pickSpec, serial, setView } from "attn/core.js";

/** The spec's `layer` data set: one row per head with that head's arrays (build_scripts/groups/qkv_steps/charts.py, layer_rows). */
const layerRows = (p) => p.q.map((q, head) => ({ head, q, k: p.k[head], v: p.v[head], out: p.out[head],
  raw: p.raw[head], scaled: p.scaled[head], weights: p.weights[head] }));

function tableRows(scores) {
  return scores.map((r) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = r.word;
    tr.appendChild(th);
    for (const x of [r.raw, r.scaled, r.weight]) {
      const td = document.createElement("td");
      td.textContent = x.toFixed(3);
      tr.appendChild(td);
    }
    return tr;
  });
}

export async function mount(el) {
  const src = el.dataset.src;
  const index = await getJSON(src + "index.json");
  const spec = await getJSON(pickSpec(el).url);
  const form = el.querySelector(".attn-controls");
  const f = form.elements;
  const chartEl = el.querySelector(".attn-chart");
  const out = el.querySelector(".attn-readout");
  const tbody = el.querySelector(".attn-numbers tbody");
  const d = index.default;
  const state = { sentence: d.sentence, layer: d.layer, head: d.head, query: d.query };
  const load = () => getJSON(src + index.files[state.sentence][state.layer]);
  let payload = await load();
  // the first file goes into the spec itself, so the first drawing is already the right one
  const signals = { head: state.head, query: state.query, tokens: payload.tokens, layer_index: payload.layer,
    head_dim: payload.head_dim };
  const view = await embed(chartEl, {
    ...spec,
    data: spec.data.map((d) => (d.name === "layer" ? { ...d, values: layerRows(payload) } : d)),
    signals: spec.signals.map((s) => (s.name in signals ? { ...s, value: signals[s.name] } : s)),
  });
  let routed = payload;
  setView(el, view);

  numbered(f.layer, index.layers, "layer", state.layer);
  numbered(f.head, index.heads, "head", state.head);
  form.hidden = false;

  async function render() {
    f.query.replaceChildren(...payload.tokens.map((t, i) => option(i, t, i === state.query)));
    if (routed !== payload) { // a new (sentence, layer) file
      view.data("layer", layerRows(payload)).signal("tokens", payload.tokens)
        .signal("layer_index", payload.layer).signal("head_dim", payload.head_dim);
      routed = payload;
    }
    view.signal("head", state.head).signal("query", state.query);
    await view.runAsync();
    out.textContent = view.signal("readout");
    tbody.replaceChildren(...tableRows(view.data("scores").slice().sort((a, b) => a.index - b.index)));
    Object.assign(el.dataset, { sentence: state.sentence, layer: state.layer, head: state.head,
      queryIndex: state.query, query: payload.tokens[state.query] });
    announce(el);
  }

  const run = serial((err) => fail(el, err));
  form.addEventListener("change", (ev) => run(async () => {
    const name = ev.target.name;
    if (name === "sentence") {
      state.sentence = f.sentence.value;
      state.query = index.sentences.find((s) => s.id === state.sentence).query;
    } else if (name === "layer") {
      state.layer = Number(f.layer.value);
    } else if (name === "head") {
      state.head = Number(f.head.value);
    } else if (name === "query") {
      state.query = Number(f.query.value);
    }
    payload = await load();
    await render();
  }));
  form.addEventListener("submit", (ev) => ev.preventDefault());
  // A click on a token's bar makes it the query (the query <select> does the same from the keyboard).
  view.addEventListener("click", (_, item) => {
    const datum = item && item.datum;
    if (datum && typeof datum.index === "number" && "raw" in datum) {
      run(async () => {
        state.query = datum.index;
        await render();
      });
    }
  });
  await render();
}
