"""``make bench`` (site part): page weight, navigation and click latency, chart rebuild times.

Measured in headless Chromium on loopback against a fresh ``mkdocs build``; sizes are gzip -9
of every file the first load of a page fetches (what a gzip-serving host like GitHub Pages sends).
Targets: first load of each article page (part one and part two) <= 350 KB gzipped, each widget's spec <= 60 KB gzipped,
navigation to the head view median <= 400 ms, click to redrawn lines median <= 50 ms, the sentence
gallery <= 8 MB on disk, full chart rebuild <= 60 s cold, warm rebuild <= 5 s.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, serving  # the browser tests' own harness
from tests.helpers import build_site

ROOT = Path(__file__).resolve().parents[1]
ARTICLE = "attention/"
PAGES = ("attention/", "writing/")  # the article's two parts, each a first load of its own


NAVIGATE = """async (article) => {
  const link = document.querySelector(`a.md-nav__link[href$='${article}']`);
  const drawn = new Promise((resolve) => document.addEventListener("attn:rendered", (e) => {
    if (e.target.dataset.attnWidget === "head-view") resolve(performance.now());
  }, { capture: true }));
  let scrolled = false;
  window.document$.subscribe(() => {  // the new page is in place: scroll to the head view
    const hv = document.querySelector("[data-attn-widget='head-view']");
    if (hv && !scrolled) { scrolled = true; hv.scrollIntoView({ block: "center" }); }
  });
  const t0 = performance.now();
  link.click();
  return (await drawn) - t0;
}"""


def gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def rebuild_times() -> tuple[float, float, float]:
    """Seconds, each in a new process on an empty output folder and an empty cache: the
    visualizer's charts (all example sentences), then every chart group (adds the Q/K/V, grid, cost
    and training groups, including training the small models), then a warm rebuild with nothing
    changed."""
    tmp = Path(tempfile.mkdtemp())
    code = ("import sys; from pathlib import Path; from build_scripts.pipeline.build import build; "
            "build(generated=Path(sys.argv[1]) / 'out', cache=Path(sys.argv[1]) / 'cache', "
            "only=sys.argv[2:] or None, log=lambda m: None)")

    def timed(*only: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, str(tmp), *only], cwd=ROOT, check=True)
        return time.perf_counter() - t0

    visualizer = timed("head-view")
    everything = visualizer + timed()
    warm = timed()
    shutil.rmtree(tmp)
    return visualizer, everything, warm


@contextlib.contextmanager
def served_site():
    """A fresh MkDocs build served on 127.0.0.1 (a free port), as the browser tests serve it:
    yields ``(its URL, its folder)``."""
    site = Path(tempfile.mkdtemp())
    try:
        with serving(site) as url:
            proc = build_site("mkdocs", site, env={"SITE_URL": url})
            if proc.returncode:
                raise RuntimeError(f"the site did not build: {proc.stderr}")
            yield url, site
    finally:
        shutil.rmtree(site, ignore_errors=True)


def measure(rounds: int = 10) -> dict:
    with served_site() as (url, site):
        return _measure(url, site, rounds)


def _measure(url: str, site: Path, rounds: int) -> dict:
    from playwright.sync_api import sync_playwright

    res: dict = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        res["first_load"] = {article: first_load(browser, url, site, article) for article in PAGES}
        res["first_load_kb"], res["largest_files"] = res["first_load"][ARTICLE]
        specs = sorted((site / "generated").rglob("spec.json"))
        res["spec_kb"] = {str(s.parent.relative_to(site / "generated")): gz(s.read_bytes()) / 1024 for s in specs}
        res["sentence_data_kb"] = {s.stem: gz(s.read_bytes()) / 1024 for s in sorted((site / "generated" / "head-view").glob("*.json"))
                                   if s.stem not in ("index", "spec", "facts")}

        # Navigation, timed inside the page (Playwright's round trips on a busy machine would add
        # 100-300 ms that no reader sees): a click on the article's link in the side bar, Material's
        # instant navigation swaps the page, the reader scrolls to the head view at once, and the
        # clock stops when the head view has drawn its lines (its first attn:rendered).
        nav, wall = [], []
        for _ in range(rounds):
            page.goto(url)
            page.wait_for_load_state("networkidle")
            t0 = time.perf_counter()
            nav.append(page.evaluate(NAVIGATE, ARTICLE))
            wall.append((time.perf_counter() - t0) * 1000)
        res["navigation_ms"] = statistics.median(nav)
        res["navigation_wall_ms"] = statistics.median(wall)

        page.wait_for_function("document.querySelector('[data-attn-widget=head-view]').dataset.query !== undefined")
        clicks = page.evaluate(
            """async (rounds) => {
              const el = document.querySelector('[data-attn-widget=head-view]');
              const out = [];
              for (let i = 0; i < rounds; i++) {
                const texts = [...el.querySelectorAll('.attn-chart svg text')];
                const target = texts[1 + (i % (texts.length / 2 - 2))];   // a word of the query row
                const done = new Promise((r) => el.addEventListener('attn:rendered', r, { once: true }));
                const t0 = performance.now();
                target.dispatchEvent(new MouseEvent('click', { bubbles: true, clientX: 1, clientY: 1 }));
                await done;
                await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));  // painted
                out.push(performance.now() - t0);
              }
              return out;
            }""",
            rounds * 2,
        )
        res["click_ms"] = statistics.median(clicks)
        browser.close()
    return res


def first_load(browser, url: str, site: Path, article: str) -> tuple[float, list]:
    """KB gzipped of every file a first visit to ``article`` fetches (a new browser context: an
    empty cache), scrolled to its head view, and the five largest (path, bytes)."""
    context = browser.new_context()
    page = context.new_page()
    loaded: list[str] = []
    page.on("requestfinished", lambda r: loaded.append(r.url))
    page.goto(url + article)
    page.locator("[data-attn-widget='head-view']").scroll_into_view_if_needed()
    page.wait_for_selector("[data-attn-widget='head-view'] .attn-chart svg text")
    page.wait_for_load_state("networkidle")
    context.close()
    sizes = {}
    for u in sorted({u.split("?")[0] for u in loaded if u.startswith(url)}):
        rel = u[len(url):] or "index.html"
        path = site / rel
        if path.is_dir():
            path = path / "index.html"
        sizes[rel] = gz(path.read_bytes())
    return sum(sizes.values()) / 1024, sorted(sizes.items(), key=lambda kv: -kv[1])[:5]


def gallery_and_export() -> dict:
    """Sentence gallery size on disk (and per sentence), and the standalone export's file size for
    the article's featured sentence."""
    folder = ROOT / "docs" / "generated" / "gallery"
    files = [f for f in folder.glob("*.json") if f.name != "index.json"]
    total = sum(f.stat().st_size for f in folder.glob("*.json"))
    cat = json.loads((ROOT / "docs" / "generated" / "head-view" / "index.json").read_text())["sentences"][0]["text"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "view.html"
        subprocess.run([sys.executable, "-m", "build_scripts.view", "--text", cat, "--out", str(out)], cwd=ROOT,
                       check=True, capture_output=True)
        export = out.stat().st_size
        export_gz = gz(out.read_bytes())
    return {"gallery_mb": total / 1e6, "gallery_n": len(files), "gallery_per_kb": total / max(len(files), 1) / 1e3,
            "gallery_gz_per_kb": statistics.mean(gz(f.read_bytes()) for f in files) / 1e3,
            "export_kb": export / 1e3, "export_gz_kb": export_gz / 1e3}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--skip-rebuild", action="store_true", help="do not time the chart rebuilds")
    args = p.parse_args(argv)
    r = measure(args.rounds)
    for article, (kb, largest) in r["first_load"].items():
        print(f"site: {article} first load {kb:.0f} KB gzipped (target <= 350); largest: "
              + ", ".join(f"{n} {s / 1024:.0f} KB" for n, s in largest))
    print("site: widget specs " + ", ".join(f"{k} {v:.1f} KB" for k, v in r["spec_kb"].items())
          + " gzipped (target <= 60 each); sentence data "
          + ", ".join(f"{k} {v:.0f} KB" for k, v in r["sentence_data_kb"].items()))
    print(f"site: navigation to the head view median {r['navigation_ms']:.0f} ms in the page "
          f"({r['navigation_wall_ms']:.0f} ms with Playwright's round trips) (target <= 400); "
          f"click to redrawn lines median {r['click_ms']:.1f} ms (target <= 50), headless Chromium, loopback")
    g = gallery_and_export()
    print(f"site: sentence gallery {g['gallery_n']} sentences, {g['gallery_mb']:.1f} MB on disk (target <= 8), "
          f"{g['gallery_per_kb']:.0f} KB per sentence ({g['gallery_gz_per_kb']:.0f} KB gzipped, loaded when chosen); "
          f"standalone export of one sentence {g['export_kb']:.0f} KB ({g['export_gz_kb']:.0f} KB gzipped)")
    if not args.skip_rebuild:
        visualizer, everything, warm = rebuild_times()
        print(f"charts: visualizer (all example sentences) from a cold cache {visualizer:.1f} s (target <= 60); "
              f"every chart incl. training the small models {everything:.1f} s; warm rebuild {warm:.1f} s (target <= 5)")


if __name__ == "__main__":
    main()
