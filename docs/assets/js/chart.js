/* A precomputed chart (a compiled Vega spec, e.g. the cost chart), drawn with Vega's SVG renderer
 * so its words are real text; its layout for phones where the column is narrow (core.js's
 * pickSpec, the rule every widget follows). Panels side by side (a Vega-Lite hconcat) that are
 * wider than the box are stacked in one column instead; anything still wider is scaled down by the
 * site's CSS. */
import { announce, embed, getJSON, pickSpec, setView } from "attn/core.js";

const naturalWidth = (target) => Number(target.querySelector("svg")?.getAttribute("width") || 0);

export async function drawChart(el) {
  const target = el.querySelector(".attn-chart") || el;
  const { url, narrow } = pickSpec(el);
  const spec = await getJSON(url);
  let view = await embed(target, spec);
  if (narrow) el.dataset.layout = "narrow";
  if (spec.layout && !spec.layout.columns && naturalWidth(target) > target.clientWidth) {
    view.finalize();
    view = await embed(target, { ...spec, layout: { ...spec.layout, columns: 1 } });
    el.dataset.layout = "stacked";
  }
  setView(el, view);
  announce(el, "attn:ready");
  return view;
}

export const mount = drawChart;
