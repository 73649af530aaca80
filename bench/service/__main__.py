"""``python -m bench.service``: see ``bench/service/run.py``."""

from .run import main

raise SystemExit(main())
