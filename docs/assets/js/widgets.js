/* Attention widgets: mount every element with data-attn-widget="<kind>".
 *
 * Charts are precomputed Vega specs (compiled from Vega-Lite at build time) rendered with
 * Vega's SVG renderer, so words are real text. Mounting runs on every page view, including
 * Material's instant navigation (document$), and never contacts another host.
 *
 * The head view recomputes its tables from the per-sentence JSON with the same rules as
 * build_scripts/headview.py (view_tables, positions, readout); the browser tests compare both.
 */
(function () {
  "use strict";

  const EMBED = { renderer: "svg", actions: false, mode: "vega" };
  const cache = new Map();

  function getJSON(url) {
    if (!cache.has(url)) {
      cache.set(url, fetch(url).then((r) => {
        if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
        return r.json();
      }));
    }
    return cache.get(url);
  }

  function fail(el, err) {
    const p = document.createElement("p");
    p.className = "attn-error";
    p.textContent = `This chart could not be loaded (${err.message}). The text above describes it.`;
    el.appendChild(p);
  }

  /* ---- generic chart: a compiled Vega spec ------------------------------------------------ */

  async function mountChart(el) {
    const target = el.querySelector(".attn-chart") || el;
    const spec = await getJSON(el.dataset.spec);
    const result = await vegaEmbed(target, spec, EMBED);
    el.attnView = result.view;
    el.dispatchEvent(new CustomEvent("attn:ready", { bubbles: true }));
    return result.view;
  }

  /* ---- a chart with a training-step slider, plus a play button ------------------------------ */

  async function mountTraining(el) {
    const view = await mountChart(el);
    const input = el.querySelector('input[type="range"]');
    const report = () => {
      el.dataset.step = String(view.signal("step"));
      el.dispatchEvent(new CustomEvent("attn:rendered", { bubbles: true }));
    };
    view.addSignalListener("step", report);
    report();
    if (!input) return view;
    const [min, max, step] = ["min", "max", "step"].map((a) => Number(input.getAttribute(a)));
    const button = document.createElement("button");
    button.type = "button";
    button.className = "md-button attn-play";
    let timer = null;
    const label = () => { button.textContent = timer ? "Pause" : "Play training"; };
    const stop = () => { clearInterval(timer); timer = null; label(); };
    button.addEventListener("click", () => {
      if (timer) return stop();
      if (Number(view.signal("step")) >= max) view.signal("step", min).runAsync();
      timer = setInterval(() => {
        const next = Number(view.signal("step")) + step;
        if (next > max || !el.isConnected) return stop();  // the end, or the reader navigated away
        view.signal("step", next).runAsync();
      }, 300);
      label();
    });
    label();
    el.querySelector(".attn-chart").after(button);
    return view;
  }

  /* ---- the head view ---------------------------------------------------------------------- */

  const round = (x, d) => Math.round(x * 10 ** d) / 10 ** d;

  function positions(labels, layout) {
    const xs = [];
    let x = 0;
    for (const lab of labels) {
      const w = lab.length * layout.char_w;
      xs.push(round(x + w / 2, 1));
      x += w + layout.gap;
    }
    return { xs, width: round(x - layout.gap, 1) };
  }

  /* Mirror of headview.view_tables: words and links of one view. */
  function viewTables(payload, state, layout) {
    const data = (state.level === "token" && payload.token) || payload.word;
    const labels = data.labels;
    const special = data.special;
    const att = data.attention[state.layer];
    let q = state.query;
    if (!state.special && special[q]) q = special.findIndex((s) => !s);
    const keep = labels.map((_, i) => i).filter((i) => state.special || !special[i]);
    const pos = positions(keep.map((i) => labels[i]), layout);
    const xOf = new Map(keep.map((i, j) => [i, pos.xs[j]]));
    const words = [];
    for (const [row, y] of [["query", layout.top], ["key", layout.bottom]]) {
      for (const i of keep) {
        words.push({ index: i, label: labels[i], row, x: xOf.get(i), y,
          selected: i === q && row === "query", special: special[i] });
      }
    }
    const links = [];
    const removed = {};
    state.heads.forEach((h, j) => {
      const dx = (j - (state.heads.length - 1) / 2) * layout.head_offset;
      let r = att[h][q].slice();
      if (!state.special) {
        const total = r.reduce((a, b) => a + b, 0);
        const kept = keep.reduce((a, i) => a + r[i], 0);
        removed[h] = round(Math.min(Math.max(total - kept, 0), 1), 3);
        r = r.map((w, i) => (special[i] || kept <= 0 ? 0 : w / kept));
      }
      for (const i of keep) {
        links.push({ head: `head ${h + 1}`, key: labels[i], key_index: i, x: xOf.get(q),
          y: layout.top + 10, x2: round(xOf.get(i) + dx, 1), y2: layout.bottom - 12, weight: round(r[i], 3) });
      }
    });
    return { words, links, width: pos.width, removed, query: q };
  }

  /* Mirror of headview.readout. */
  function readout(words, links, removed, top = 5) {
    const q = words.find((w) => w.selected);
    const heads = [...new Set(links.map((l) => l.head))];
    return heads.map((head) => {
      const ranked = links.filter((l) => l.head === head)
        .sort((a, b) => b.weight - a.weight || a.key_index - b.key_index);
      const parts = ranked.slice(0, top).map((l) => `${l.key} ${l.weight.toFixed(2)}`).join(", ");
      const h = Number(head.split(" ")[1]) - 1;
      const note = h in removed
        ? ` ([CLS]/[SEP] hidden: ${removed[h].toFixed(2)} of the attention removed, the rest rescaled)` : "";
      return `${head}: '${q.label}' → ${parts}${ranked.length > top ? ", …" : ""}${note}`;
    }).join("\n");
  }

  function option(value, text, selected) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    o.selected = selected;
    return o;
  }

  async function mountHeadView(el) {
    const src = el.dataset.src;
    const index = await getJSON(src + "index.json");
    const spec = await getJSON(src + "spec.json");
    const form = el.querySelector(".attn-controls");
    const chartEl = el.querySelector(".attn-chart");
    const out = el.querySelector(".attn-readout");
    const layout = index.layout;
    const d = index.default;
    const state = { sentence: d.sentence, level: "word", layer: d.layer, mode: "single", head: d.head,
      multi: d.multi_heads.slice(), query: null, special: true };
    let payload = await getJSON(`${src}${state.sentence}.json`);
    state.query = payload.query;

    const { view } = await vegaEmbed(chartEl, spec, EMBED);
    el.attnView = view;

    // Controls (they stay hidden for readers without JavaScript).
    const f = form.elements;
    for (let l = 0; l < index.layers; l++) f.layer.appendChild(option(l, `layer ${l + 1}`, l === state.layer));
    for (let h = 0; h < index.heads; h++) f.head.appendChild(option(h, `head ${h + 1}`, h === state.head));
    const headsBox = form.querySelector(".attn-heads");
    for (let h = 0; h < index.heads; h++) {
      const lab = document.createElement("label");
      lab.innerHTML = `<input type="checkbox" name="heads" value="${h}"><span class="attn-swatch" ` +
        `style="background:${index.palette[h]}"></span> ${h + 1}`;
      headsBox.appendChild(lab);
    }
    form.hidden = false;

    function fillQueries(labels, special) {
      f.query.replaceChildren(...labels.map((lab, i) => option(i, lab, i === state.query)));
      [...f.query.options].forEach((o, i) => { o.hidden = !state.special && special[i]; });
    }

    function syncHeadBoxes() {
      for (const box of form.querySelectorAll('input[name="heads"]')) box.checked = state.multi.includes(Number(box.value));
    }

    async function render() {
      const t = viewTables(payload, { ...state, heads: state.mode === "multi" ? state.multi : [state.head] }, layout);
      state.query = t.query;
      const data = (state.level === "token" && payload.token) || payload.word;
      fillQueries(data.labels, data.special);
      form.querySelector(".attn-single").hidden = state.mode !== "single";
      form.querySelector(".attn-multi").hidden = state.mode !== "multi";
      view.data("words", t.words).data("links", t.links).width(t.width);
      await view.runAsync();
      out.textContent = t.links.length ? readout(t.words, t.links, t.removed) : "No head selected: tick at least one head.";
      el.dataset.query = data.labels[state.query];
      el.dispatchEvent(new CustomEvent("attn:rendered", { bubbles: true }));
    }

    function wordIndexToLevel(level) {
      // keep the same word selected when switching between words and WordPiece tokens
      if (!payload.token) return state.query;
      if (level === "token") return payload.token.token_word.indexOf(state.query);
      return payload.token.token_word[state.query];
    }

    form.addEventListener("change", async (ev) => {
      const name = ev.target.name;
      if (name === "sentence") {
        state.sentence = f.sentence.value;
        payload = await getJSON(`${src}${state.sentence}.json`);
        state.query = payload.query;
        if (state.level === "token" && payload.token) state.query = payload.token.token_word.indexOf(payload.query);
        state.multi = payload.multi_heads[state.layer].slice();
        syncHeadBoxes();
      } else if (name === "mode") {
        state.mode = form.querySelector('input[name="mode"]:checked').value;
      } else if (name === "layer") {
        state.layer = Number(f.layer.value);
        state.multi = payload.multi_heads[state.layer].slice();
        syncHeadBoxes();
      } else if (name === "head") {
        state.head = Number(f.head.value);
      } else if (name === "heads") {
        state.multi = [...form.querySelectorAll('input[name="heads"]:checked')].map((b) => Number(b.value));
      } else if (name === "query") {
        state.query = Number(f.query.value);
      } else if (name === "tokens") {
        const level = f.tokens.checked ? "token" : "word";
        state.query = wordIndexToLevel(level);
        state.level = level;
      } else if (name === "special") {
        state.special = f.special.checked;
      }
      await render();
    });
    form.addEventListener("submit", (ev) => ev.preventDefault());

    view.addEventListener("click", (_, item) => {
      const datum = item && item.datum;
      if (datum && datum.row && typeof datum.index === "number") {
        state.query = datum.index;
        render();
      }
    });
    chartEl.addEventListener("keydown", (ev) => {
      if (ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") return;
      ev.preventDefault();
      const data = (state.level === "token" && payload.token) || payload.word;
      const order = data.labels.map((_, i) => i).filter((i) => state.special || !data.special[i]);
      const at = order.indexOf(state.query) + (ev.key === "ArrowRight" ? 1 : -1);
      state.query = order[Math.max(0, Math.min(order.length - 1, at))];
      render();
    });

    syncHeadBoxes();
    await render();
  }

  /* ---- mounting --------------------------------------------------------------------------- */

  // Other scripts, loaded before this one, add kinds as window.attnWidgetKinds[kind] = mount(el).
  const KINDS = Object.assign({ "head-view": mountHeadView, training: mountTraining }, window.attnWidgetKinds || {});

  // One widget renders at a time, the one nearest the middle of the screen first, so a heavy chart half in view does not
  // hold up the one the reader is looking at.
  let queue = Promise.resolve();
  function mount(el) {
    if (el.dataset.mounted) return queue;
    el.dataset.mounted = "1";
    queue = queue.then(() => (KINDS[el.dataset.attnWidget] || mountChart)(el).catch((err) => fail(el, err)));
    return queue;
  }

  // Widgets load their data when they come near the viewport, so a long article's first load
  // fetches only what the reader sees.
  const observer = "IntersectionObserver" in window
    ? new IntersectionObserver((entries) => {
      const mid = window.innerHeight / 2;
      const off = (e) => Math.abs(e.boundingClientRect.top + e.boundingClientRect.height / 2 - mid);
      const visible = entries.filter((e) => e.isIntersecting).sort((a, b) => off(a) - off(b));
      for (const e of visible) { observer.unobserve(e.target); mount(e.target); }
    }, { rootMargin: "50px 0px" })
    : null;

  function mountAll() {
    for (const el of document.querySelectorAll("[data-attn-widget]")) {
      if (observer) observer.observe(el);
      else mount(el);
    }
  }

  window.attnWidgets = { mountChart, getJSON, EMBED, mount, option };

  if (window.document$) window.document$.subscribe(mountAll);
  else if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
  else mountAll();
})();
