"""`python -m unlearn_core ...`: the headless command line."""

from unlearn_core.cli import main

raise SystemExit(main())
