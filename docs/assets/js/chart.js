/* A precomputed chart (a compiled Vega spec, e.g. the cost chart), drawn with Vega's SVG renderer
 * so its words are real text. Panels side by side (a Vega-Lite hconcat) that are wider than the
 * box are stacked in one column instead; anything still wider is scaled down by the site's CSS. */
import { announce, embed, getJSON } from "./core.js";

const naturalWidth = (target) => Number(target.querySelector("svg")?.getAttribute("width") || 0);

export async function drawChart(el) {
  const target = el.querySelector(".attn-chart") || el;
  const spec = await getJSON(el.dataset.spec);
  let view = await embed(target, spec);
  if (spec.layout && !spec.layout.columns && naturalWidth(target) > target.clientWidth) {
    view.finalize();
    view = await embed(target, { ...spec, layout: { ...spec.layout, columns: 1 } });
    el.dataset.layout = "stacked";
  }
  el.attnView = view;
  announce(el, "attn:ready");
  return view;
}

export const mount = drawChart;
