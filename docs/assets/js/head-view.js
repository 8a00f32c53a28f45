/* The head view widget: which words one query word attends to, in one or several heads.
 *
 * The Vega spec (build_scripts/groups/head_view/charts.py) computes every view from two data sets
 * and three signals, the readout included; this module only routes data into it and shows what
 * the spec computed:
 *   tokens  [{i, label, special}] of the chosen level (words or WordPiece tokens)
 *   att     [{head, m: [n][n]}] of the chosen layer (row = query)
 *   query, heads, show_special   (signals; a click on a word sets `query` inside the spec)
 * The sentence picker lists every precomputed sentence by group, with type-to-filter. Another
 * module shows a sentence of its own with show(el, payload) (attn/live.js does).
 */
import { announce, dequantise, embed, getJSON, numbered, option, serial, fail, setView } from "attn/core.js";

const shows = new WeakMap(); // widget element -> its show(payload)

/** Show a payload computed elsewhere (a sentence the reader typed) in the head view `el`, in
 *  WordPiece tokens (its one level sits where a word level would; the tokens box says which). */
export function show(el, payload) {
  return shows.get(el)(payload);
}

/** A payload's attention arrays decoded once. */
function decoded(payload) {
  if (!payload.decoded) {
    payload.decoded = {
      word: payload.word.attention ? dequantise(payload.word.attention) : null,
      token: payload.token ? dequantise(payload.token.attention) : null,
    };
  }
  return payload.decoded;
}

/** One layer's weights [head][query][key] of a level. A payload shipped one file per layer
 *  (build_scripts.pipeline.payloads.shipped_by_layer: `layers` names them, relative to `base`)
 *  fetches a layer when it is first shown, once. */
function layerOf(payload, levelName, layer, base) {
  const part = payload[levelName];
  if (!part.layers) return decoded(payload)[levelName][layer];
  part.loaded = part.loaded || {};
  if (!part.loaded[layer]) part.loaded[layer] = getJSON(new URL(part.layers[layer], base).href).then(dequantise);
  return part.loaded[layer];
}

/** Sentence picker: a search box that filters a grouped <select>; returns render(). */
function sentencePicker(form, index) {
  const select = form.elements.sentence;
  const box = form.elements.filter;
  const render = () => {
    const words = (box ? box.value : "").toLowerCase().split(/\s+/).filter(Boolean);
    const match = (s) => words.every((w) => `${s.title} ${s.text || ""}`.toLowerCase().includes(w));
    const byId = new Map(index.sentences.map((s) => [s.id, s]));
    const current = select.value;
    const children = [];
    for (const g of index.groups) {
      const items = g.sentences.map((id) => byId.get(id)).filter((s) => s && (match(s) || s.id === current));
      if (!items.length) continue;
      const og = document.createElement("optgroup");
      og.label = g.title;
      og.append(...items.map((s) => option(s.id, s.title, s.id === current)));
      children.push(og);
    }
    select.replaceChildren(...children);
    const count = form.querySelector(".attn-count");
    if (count) count.textContent = `${index.sentences.filter(match).length} of ${index.sentences.length} sentences`;
  };
  if (box) box.addEventListener("input", render);
  return render;
}

/** The head view's own sentences; the gallery's groups are added by addGallery. */
function sentenceIndex(el, own) {
  const base = new URL(el.dataset.src, document.baseURI);
  const files = Object.fromEntries(own.sentences.map((s) => [s.id, new URL(`${s.id}.json`, base).href]));
  const groups = own.groups || [{ title: "The article's examples", sentences: own.sentences.map((s) => s.id) }];
  return { ...own, files, groups };
}

/** "head 4" or, where query heads share key/value heads (grouped-query attention), "head 4 · K/V 2". */
function headName(index, h) {
  return index.kv_heads ? `head ${h + 1} · K/V ${Math.floor(h / (index.heads / index.kv_heads)) + 1}` : `head ${h + 1}`;
}

/** Add the gallery (its index is fetched after the first drawing, off the critical path). */
async function addGallery(el, index) {
  if (!el.dataset.gallery) return false;
  const gbase = new URL(el.dataset.gallery, document.baseURI);
  const gallery = await getJSON(new URL("index.json", gbase).href);
  index.sentences = index.sentences.concat(gallery.sentences);
  index.groups = index.groups.concat(gallery.groups);
  index.partner = { ...(index.partner || {}), ...(gallery.partner || {}) };
  for (const [id, name] of Object.entries(gallery.files)) index.files[id] = new URL(name, gbase).href;
  return true;
}

export async function mount(el) {
  const src = el.dataset.src;
  // everything the first drawing needs, fetched at once (the default sentence is in the markup)
  const first = el.dataset.sentence;
  const [own, spec, firstPayload] = await Promise.all([
    getJSON(src + "index.json"), getJSON(src + "spec.json"), first ? getJSON(`${src}${first}.json`) : null]);
  const index = sentenceIndex(el, own);
  const form = el.querySelector(".attn-controls");
  const f = form.elements;
  const chartEl = el.querySelector(".attn-chart");
  const out = el.querySelector(".attn-readout");
  const d = index.default;
  const urlOf = (id) => index.files[id];
  const state = { sentence: d.sentence, level: "word", layer: d.layer, mode: "single", head: d.head,
    multi: d.multi_heads.slice() };
  let payload = first === state.sentence ? firstPayload : await getJSON(urlOf(state.sentence));

  const view = await embed(chartEl, spec);
  setView(el, view);

  // Controls (hidden for readers without JavaScript).
  numbered(f.layer, index.layers, "layer", state.layer);
  f.head.replaceChildren(...Array.from({ length: index.heads }, (_, h) => option(h, headName(index, h), h === state.head)));
  const headsBox = form.querySelector(".attn-heads");
  headsBox.replaceChildren();
  for (let h = 0; h < index.heads; h++) {
    const lab = document.createElement("label");
    lab.innerHTML = `<input type="checkbox" name="heads" value="${h}"><span class="attn-swatch" ` +
      `style="background:${index.palette[h]}"></span> ${headName(index, h).replace("head ", "")}`;
    headsBox.appendChild(lab);
  }
  const pickerRender = sentencePicker(form, index);
  // A Winograd pair's other half, one click away: the two sentences differ in one word.
  const partnerButton = document.createElement("button");
  partnerButton.type = "button";
  partnerButton.className = "attn-button attn-partner";
  partnerButton.textContent = "Other half of the pair";
  partnerButton.hidden = true;
  partnerButton.addEventListener("click", () => {
    const other = index.partner[state.sentence];
    if (form.elements.filter) form.elements.filter.value = "";
    pickerRender();
    f.sentence.value = other;
    f.sentence.dispatchEvent(new Event("change", { bubbles: true }));
  });
  form.querySelector(".attn-sentence").appendChild(partnerButton);
  pickerRender();
  form.hidden = false;

  const level = () => (state.level === "token" && payload.token) || payload.word;
  const heads = () => (state.mode === "multi" ? state.multi.slice().sort((a, b) => a - b) : [state.head]);

  function syncHeadBoxes() {
    for (const box of form.querySelectorAll('input[name="heads"]')) box.checked = state.multi.includes(Number(box.value));
  }

  /** New sentence, level or layer: route that data into the spec. */
  async function routeData() {
    const data = level();
    const att = await layerOf(payload, state.level === "token" && payload.token ? "token" : "word", state.layer,
      new URL(el.dataset.src, document.baseURI));
    view.data("tokens", data.labels.map((label, i) => ({ i, label, special: data.special[i] })));
    view.data("att", att.map((m, head) => ({ head, m })));
    view.signal("causal", Boolean(payload.causal));
  }

  // "Watch it write": a continuation the model wrote is stepped through token by token. At step k
  // the query is the last token it had read, P + k - 2, nothing after it is written yet, and the
  // readout names the token being written (see build_scripts/pipeline/payloads.decoder_payload).
  const writing = form.querySelector(".attn-writing");
  function setStep(k) {
    const p = payload.generated_from;
    const steps = payload.next_tokens.length;
    state.step = Math.max(1, Math.min(steps, k));
    f.step.value = String(state.step);
    const query = p + state.step - 2;
    view.signal("upto", query).signal("writing", payload.next_tokens[state.step - 1]).signal("query", query);
    f.stepinfo.value = `${state.step} of ${steps}: writing '${payload.next_tokens[state.step - 1]}'`;
  }
  function syncWriting() {
    const stepping = payload.generated_from !== undefined;
    if (writing) writing.hidden = !stepping;
    if (!stepping) {
      view.signal("upto", 1000000).signal("writing", "");
      return;
    }
    f.step.max = String(payload.next_tokens.length);
    setStep(payload.query - payload.generated_from + 2);
  }

  /** After the spec ran: controls, readout and the data-* attributes tests and other widgets read. */
  function report() {
    const data = level();
    const q = view.signal("qsel");
    f.query.replaceChildren(...data.labels.map((lab, i) => option(i, lab, i === q)));
    const show = view.signal("show_special");
    [...f.query.options].forEach((o, i) => { o.hidden = !show && data.special[i]; });
    form.querySelector(".attn-single").hidden = state.mode !== "single";
    form.querySelector(".attn-multi").hidden = state.mode !== "multi";
    // gallery sentences ship the word level only; a live one (./live.js) only WordPiece tokens; a
    // decoder's text is its tokens, with no special tokens to hide
    f.tokens.disabled = Boolean(payload.token_omitted || payload.tokens_only);
    f.tokens.closest("label").hidden = payload.kind === "decoder";
    f.special.closest("label").hidden = !data.special.some(Boolean);
    partnerButton.hidden = !(index.partner && index.partner[state.sentence]);
    out.textContent = view.signal("readout");
    el.dataset.query = data.labels[q];
    el.dataset.sentence = state.sentence;
    el.dataset.layout = view.signal("vertical") ? "columns" : "row";
    if (payload.generated_from !== undefined) el.dataset.step = String(state.step);
    else delete el.dataset.step;
    announce(el);
  }

  async function render() {
    view.signal("heads", heads());
    ours += 1;
    try {
      await view.runAsync();
    } finally {
      ours -= 1;
    }
    report();
  }

  const run = serial((err) => fail(el, err));

  function tokenOf(levelName, q) {
    // keep the same word selected when switching between words and WordPiece tokens
    if (!payload.token) return q;
    return levelName === "token" ? payload.token.token_word.indexOf(q) : payload.token.token_word[q];
  }

  form.addEventListener("change", (ev) => run(async () => {
    const name = ev.target.name;
    if (name === "filter") {
      return;
    } else if (name === "sentence") {
      state.sentence = f.sentence.value;
      payload = await getJSON(urlOf(state.sentence));
      if (!payload.token) state.level = "word";
      f.tokens.checked = state.level === "token";
      let q = payload.query;
      if (state.level === "token" && payload.token) q = tokenOf("token", q);
      state.multi = payload.multi_heads[state.layer].slice();
      syncHeadBoxes();
      await routeData();
      view.signal("query", q);
      syncWriting();
    } else if (name === "step") {
      setStep(Number(f.step.value));
    } else if (name === "mode") {
      state.mode = form.querySelector('input[name="mode"]:checked').value;
    } else if (name === "layer") {
      state.layer = Number(f.layer.value);
      state.multi = payload.multi_heads[state.layer].slice();
      syncHeadBoxes();
      await routeData();
    } else if (name === "head") {
      state.head = Number(f.head.value);
    } else if (name === "heads") {
      state.multi = [...form.querySelectorAll('input[name="heads"]:checked')].map((b) => Number(b.value));
    } else if (name === "query") {
      view.signal("query", Number(f.query.value));
    } else if (name === "tokens") {
      const next = f.tokens.checked ? "token" : "word";
      const q = tokenOf(next, view.signal("qsel"));
      state.level = next;
      await routeData();
      view.signal("query", q);
    } else if (name === "special") {
      view.signal("show_special", f.special.checked);
    } else {
      return;
    }
    await render();
  }));
  form.addEventListener("submit", (ev) => ev.preventDefault());

  // A sentence computed in the page (attn/live.js) is shown like a precomputed one.
  shows.set(el, (next) => run(async () => {
    payload = next;
    state.sentence = next.id;
    state.level = "word";
    f.tokens.checked = Boolean(next.tokens_only);
    f.sentence.selectedIndex = -1; // picking any listed sentence afterwards is a change
    state.multi = payload.multi_heads[state.layer].slice();
    syncHeadBoxes();
    await routeData();
    view.signal("query", payload.query);
    syncWriting();
    await render();
  }));

  // A click (or tap) on a word sets `query` inside the spec; report what it drew.
  let ours = 0; // runs started here report themselves; the listener reports clicks inside the spec
  view.addSignalListener("query", () => {
    if (ours) return;
    // a word clicked while watching it write: its lines, no longer the token being written
    if (payload.generated_from !== undefined) view.signal("writing", "");
    run(async () => { await view.runAsync(); report(); });
  });
  chartEl.addEventListener("keydown", (ev) => {
    const vertical = view.signal("vertical");
    const back = vertical ? "ArrowUp" : "ArrowLeft";
    const next = vertical ? "ArrowDown" : "ArrowRight";
    if (![back, next, "ArrowLeft", "ArrowRight"].includes(ev.key)) return;
    ev.preventDefault();
    const step = ev.key === next || ev.key === "ArrowRight" ? 1 : -1;
    run(async () => {
      const order = view.data("shown").map((t) => t.i);
      const at = order.indexOf(view.signal("qsel")) + step;
      view.signal("query", order[Math.max(0, Math.min(order.length - 1, at))]);
      await render();
    });
  });
  // The layout follows the container (two columns when narrow), not only the window.
  if ("ResizeObserver" in window) {
    let last = chartEl.clientWidth;
    new ResizeObserver(() => {
      if (Math.abs(chartEl.clientWidth - last) < 2 || !el.isConnected) return;
      last = chartEl.clientWidth;
      run(async () => { view.signal("cw", chartEl.clientWidth - 2); await render(); });
    }).observe(chartEl);
  }

  syncHeadBoxes();
  await routeData();
  view.signal("query", payload.query);
  syncWriting();
  if (writing) {
    for (const [name, delta] of [["back", -1], ["forward", 1]]) {
      form.elements[name].addEventListener("click", () => run(async () => { setStep(state.step + delta); await render(); }));
    }
  }
  view.signal("cw", chartEl.clientWidth - 2);
  await render();
  // the gallery joins the picker once the view is drawn
  addGallery(el, index).then((added) => {
    if (added) pickerRender();
    partnerButton.hidden = !(index.partner && index.partner[state.sentence]);
    el.dataset.galleryLoaded = String(added);
  }).catch((err) => fail(el, err));
  // "Try your own sentence": its code (./live.js) and the model load only when the reader asks
  const live = el.querySelector(".attn-live");
  if (live) {
    live.hidden = false;
    live.querySelector("button").addEventListener("click", () => {
      import("attn/live.js").then((m) => m.start(el)).catch((err) => fail(el, err));
    }, { once: true });
  }
}
