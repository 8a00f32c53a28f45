/* Two attention widgets, registered for widgets.js (which is loaded after this file and mounts them):
 *
 * - "qkv-steps": one head's q, every k, q·k, ÷ √D, softmax and Σ weight × v = output, for a chosen
 *   sentence, layer, head and query token. Every number was computed by build_scripts/qkv.py from
 *   the encoder's Q/K/V; this file only PICKS numbers out of the per-(sentence, layer) JSON, with
 *   the same rules as qkv.view_tables and qkv.readout (the browser tests compare both).
 * - "head-grid": every layer x head of one sentence as a small map. Choosing a map selects that
 *   head in the head view on the same page (through its own form controls and change events).
 */
(function () {
  "use strict";

  const kinds = (window.attnWidgetKinds = window.attnWidgetKinds || {});

  // shared with the head view (widgets.js, loaded after this file; called only at mount time)
  const option = (value, text, selected) => window.attnWidgets.option(value, text, selected);

  /* Run async tasks one after another (a change while a file is loading waits for it). */
  function serial(onError) {
    let chain = Promise.resolve();
    return (task) => (chain = chain.then(task).catch(onError));
  }

  function fail(el, err) {
    const p = document.createElement("p");
    p.className = "attn-error";
    p.textContent = `This chart could not be updated (${err.message}). The text above describes it.`;
    el.appendChild(p);
  }

  /* ---- the Q/K/V steps ------------------------------------------------------------------- */

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

  kinds["qkv-steps"] = async function mountQkv(el) {
    const { getJSON, EMBED } = window.attnWidgets;
    const src = el.dataset.src;
    const index = await getJSON(src + "index.json");
    const spec = await getJSON(src + "spec.json");
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

    for (let l = 0; l < index.layers; l++) f.layer.appendChild(option(l, `layer ${l + 1}`, l === state.layer));
    for (let h = 0; h < index.heads; h++) f.head.appendChild(option(h, `head ${h + 1}`, h === state.head));
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
      el.dispatchEvent(new CustomEvent("attn:rendered", { bubbles: true }));
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
  };

  /* ---- the all-heads grid ---------------------------------------------------------------- */

  const REDUCED_MOTION = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function once(target, type, ms = 10000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} within ${ms} ms`)), ms);
      target.addEventListener(type, () => { clearTimeout(timer); resolve(); }, { once: true });
    });
  }

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
    if (hv.dataset.query === undefined) { // not drawn yet: widgets.js mounts widgets only near the viewport
      const drawn = once(hv, "attn:rendered");
      const mount = window.attnWidgets.mount;
      if (mount && !hv.dataset.mounted) mount(hv);
      else hv.scrollIntoView();
      await drawn;
    }
    const form = hv.querySelector(".attn-controls");
    const f = form.elements;
    await setControl(hv, f.sentence, sentence);
    await setControl(hv, form.querySelector('input[name="mode"][value="single"]'));
    await setControl(hv, f.layer, layer);
    await setControl(hv, f.head, head);
    hv.scrollIntoView({ behavior: REDUCED_MOTION ? "auto" : "smooth", block: "start" });
    const chart = hv.querySelector(".attn-chart");
    if (chart) chart.focus({ preventScroll: true });
    return true;
  }

  kinds["head-grid"] = async function mountGrid(el) {
    const { getJSON, EMBED } = window.attnWidgets;
    const src = el.dataset.src;
    const index = await getJSON(src + "index.json");
    const spec = await getJSON(src + "spec.json");
    const form = el.querySelector(".attn-controls");
    const f = form.elements;
    const chartEl = el.querySelector(".attn-chart");
    const out = el.querySelector(".attn-readout");
    const { view } = await vegaEmbed(chartEl, spec, EMBED);
    el.attnView = view;
    const cells = view.data("cells"); // one row per (layer, head), with its scores
    const state = { layer: index.default.layer, head: index.default.head };

    for (let l = 0; l < index.layers; l++) f.layer.appendChild(option(l, `layer ${l + 1}`, l === state.layer));
    for (let h = 0; h < index.heads; h++) f.head.appendChild(option(h, `head ${h + 1}`, h === state.head));
    if (!document.querySelector('[data-attn-widget="head-view"]')) form.querySelector("button").hidden = true;
    form.hidden = false;

    async function select(layer, head) {
      state.layer = Math.max(0, Math.min(index.layers - 1, layer));
      state.head = Math.max(0, Math.min(index.heads - 1, head));
      const row = cells.find((c) => c.layer === state.layer && c.head === state.head);
      view.data("selected", [{ layer: row.layer, head: row.head, n: row.n }]);
      await view.runAsync();
      f.layer.value = String(state.layer);
      f.head.value = String(state.head);
      // Mirror of headgrid.cell_readout.
      out.textContent = `Selected: layer ${row.layer + 1}, head ${row.head + 1}: ` +
        `[CLS] share ${row.cls.toFixed(3)}, focus ${row.focus.toFixed(3)}.`;
      Object.assign(el.dataset, { layer: state.layer, head: state.head });
      el.dispatchEvent(new CustomEvent("attn:rendered", { bubbles: true }));
    }

    const run = serial((err) => fail(el, err));
    const show = () => showInHeadView(index.sentence, state.layer, state.head);
    form.addEventListener("change", () => run(() => select(Number(f.layer.value), Number(f.head.value))));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      run(show);
    });
    view.addEventListener("click", (_, item) => {
      const datum = item && item.datum;
      if (datum && "weight" in datum && typeof datum.layer === "number") {
        run(async () => {
          await select(datum.layer, datum.head);
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
  };
})();
