/* A precomputed chart (a compiled Vega spec, e.g. the cost chart), drawn with Vega's SVG renderer
 * so its words are real text. */
import { EMBED, announce, getJSON } from "./core.js";

export async function drawChart(el) {
  const target = el.querySelector(".attn-chart") || el;
  const spec = await getJSON(el.dataset.spec);
  const result = await vegaEmbed(target, spec, EMBED);
  el.attnView = result.view;
  announce(el, "attn:ready");
  return result.view;
}

export const mount = drawChart;
