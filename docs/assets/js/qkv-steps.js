/* The Q/K/V steps widget: one head's q, every k, q·k, ÷ √D, softmax and Σ weight × v = output,
 * for a chosen sentence, layer, head and query token. Every number was computed by
 * build_scripts/qkv.py from the encoder's Q/K/V; this module only PICKS numbers out of the
 * per-(sentence, layer) JSON into the spec's named data sets. On a narrow screen it draws the
 * stacked variant of the chart (spec-narrow.json), so no step is cut off.
 */
import { EMBED, announce, fail, getJSON, numbered, option, serial } from "./core.js";

const rowKey = (i, label, query) => `${String(i).padStart(2, "0")}|${label}${query ? "|q" : ""}`;

/* Mirror of qkv.view_tables: the rows of each named data set, picked from the payload. */
function qkvTables(p, head, query) {
  const tokens = p.tokens;
  const n = tokens.length;
  const keys = tokens.map((t, i) => rowKey(i, t, i === query));
  const weights = p.weights[head][query];
  const k = [];
  const v = [];
  for (let i = 0; i < n; i++) {
    p.k[head][i].forEach((value, dim) => k.push({ row: keys[i], word: tokens[i], dim, value }));
    p.v[head][i].forEach((value, dim) => v.push({ row: keys[i], word: tokens[i], dim, value, weight: weights[i] }));
  }
  return {
    q: p.q[head][query].map((value, dim) => ({ row: `q|q (${tokens[query]})`, word: tokens[query], dim, value })),
    k,
    scores: tokens.map((word, i) => ({ row: keys[i], word, index: i, query: i === query,
      raw: p.raw[head][query][i], scaled: p.scaled[head][query][i], weight: weights[i] })),
    v,
    out: p.out[head][query].map((value, dim) => ({ row: rowKey(n, "= output"), word: "output", dim, value })),
  };
}

/* Mirror of qkv.readout. */
function qkvReadout(scores, layer, head, headDim) {
  const q = scores.find((r) => r.query);
  const top = scores.reduce((a, b) => (b.weight > a.weight ? b : a)); // ties: the first token
  return `Layer ${layer + 1}, head ${head + 1}, query '${q.word}': the largest weight goes to ` +
    `'${top.word}': q · k = ${top.raw.toFixed(3)}, ÷ √${headDim} = ${top.scaled.toFixed(3)}, ` +
    `softmax = ${top.weight.toFixed(3)}.`;
}

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
  const narrow = index.narrow_below && el.clientWidth < index.narrow_below;
  const spec = await getJSON(src + (narrow ? "spec-narrow.json" : "spec.json"));
  const form = el.querySelector(".attn-controls");
  const f = form.elements;
  const chartEl = el.querySelector(".attn-chart");
  const out = el.querySelector(".attn-readout");
  const tbody = el.querySelector(".attn-numbers tbody");
  const d = index.default;
  const state = { sentence: d.sentence, layer: d.layer, head: d.head, query: d.query };
  const load = () => getJSON(src + index.files[state.sentence][state.layer]);
  let payload = await load();

  const { view } = await vegaEmbed(chartEl, spec, EMBED);
  el.attnView = view;

  numbered(f.layer, index.layers, "layer", state.layer);
  numbered(f.head, index.heads, "head", state.head);
  form.hidden = false;

  async function render() {
    f.query.replaceChildren(...payload.tokens.map((t, i) => option(i, t, i === state.query)));
    const t = qkvTables(payload, state.head, state.query);
    for (const [name, rows] of Object.entries(t)) view.data(name, rows);
    await view.runAsync();
    out.textContent = qkvReadout(t.scores, state.layer, state.head, payload.head_dim);
    tbody.replaceChildren(...tableRows(t.scores));
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
