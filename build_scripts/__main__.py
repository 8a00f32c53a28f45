"""``python -m build_scripts``: the chart pipeline's command line (see :mod:`build_scripts.pipeline.build`)."""

import sys

from build_scripts.pipeline.build import main

sys.exit(main())
