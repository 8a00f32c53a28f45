/* A chart with a training-step slider (a Vega signal bound to a range input), plus a play button. */
import { announce } from "attn/core.js";
import { drawChart } from "attn/chart.js";

export async function mount(el) {
  const view = await drawChart(el);
  const input = el.querySelector('input[type="range"]');
  const report = () => {
    el.dataset.step = String(view.signal("step"));
    announce(el);
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
      if (next > max || !el.isConnected) return stop(); // the end, or the reader navigated away
      view.signal("step", next).runAsync();
    }, 300);
    label();
  });
  label();
  el.querySelector(".attn-chart").after(button);
  return view;
}
