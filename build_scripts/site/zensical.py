"""Build the site with Zensical instead of MkDocs: ``python -m build_scripts.site.zensical [--site-dir DIR]``.

Zensical reads the same mkdocs.yml and runs the same Markdown extension (:mod:`build_scripts.site.markdown`). This
wrapper adds what its command line lacks here:

- one line on failure: Zensical reports any failure as a ``RuntimeError`` (for an exception raised
  while rendering a page, carrying the whole Python traceback); a ``SiteError`` (unknown shortcode,
  missing generated file or fact, bad formula) is printed as its one line, naming the page and the
  fix, anything else (e.g. ``--strict`` aborting on a broken link) as the error's first line;
- ``--site-dir``: Zensical has no such option and requires the folder inside the project, so the
  wrapper sets ``SITE_DIR``, which mkdocs.yml reads (default ``site``).

It never passes ``--clean``, which empties ``.cache/`` (Zensical's page cache; the chart pipeline
keeps its own caches in ``.build-cache/``). The page cache is kept fresh by the ``watch:`` list in
mkdocs.yml (the generated data and this package), whose files are part of its cache key.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site-dir", help="output folder inside the project (default: site_dir of mkdocs.yml)")
    args = parser.parse_args(argv)
    if args.site_dir:
        site_dir = Path(args.site_dir).resolve()
        if not site_dir.is_relative_to(ROOT):
            print(f"error: --site-dir {args.site_dir} must be inside {ROOT} (a Zensical rule); "
                  f"build there and move the folder", file=sys.stderr)
            return 2
        os.environ["SITE_DIR"] = str(site_dir)
    os.chdir(ROOT)  # Zensical resolves the project, and Python imports build_scripts, from here
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))

    from zensical import build  # the site dependencies only; no JAX

    try:
        build(str(ROOT / "mkdocs.yml"), {"strict": True, "clean": False})
    except RuntimeError as e:  # Zensical's report of any failure; its diagnostics are printed above
        m = re.search(r"SiteError: (.*)", str(e))
        print(f"error: {m.group(1) if m else str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
