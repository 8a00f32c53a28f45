/* A precomputed chart (a compiled Vega spec, e.g. the cost chart), drawn with Vega's SVG renderer
 * so its words are real text. A chart with a layout for phones (data-spec-narrow, written by
 * build_scripts/artifacts.chart_files) draws it where the column is narrower than
 * data-narrow-below, as the Q/K/V steps widget does. Panels side by side (a Vega-Lite hconcat)
 * that are wider than the box are stacked in one column instead; anything still wider is scaled
 * down by the site's CSS. */
import { announce, embed, getJSON } from "./core.js";

const naturalWidth = (target) => Number(target.querySelector("svg")?.getAttribute("width") || 0);

/** The width a figure may take: its container's content box (a figure is only as wide as its content). */
function room(el) {
  const box = el.parentElement;
  if (!box) return Infinity;
  const style = getComputedStyle(box);
  return box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
}

export async function drawChart(el) {
  const target = el.querySelector(".attn-chart") || el;
  const narrow = Boolean(el.dataset.specNarrow) && room(el) < Number(el.dataset.narrowBelow);
  const spec = await getJSON(narrow ? el.dataset.specNarrow : el.dataset.spec);
  let view = await embed(target, spec);
  if (narrow) el.dataset.layout = "narrow";
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
