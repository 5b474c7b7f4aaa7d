"""`python -m unlearn_core ...`: the headless command line."""

from .cli import main

raise SystemExit(main())
