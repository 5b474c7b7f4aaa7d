"""`unlearning-studio`: start the app from an installed package, from any folder.

Imports the heavy modules first (`studio_ui.startup.preload_or_say`: the server then answers with them in
place, as `streamlit run app.py` does in a checkout), then runs ``streamlit run`` on
`studio_ui/navigation.py` inside the installed package, in this process; extra arguments go to
Streamlit (``unlearning-studio --server.port 8600``). Streamlit reads the server settings from
``studio_ui/.streamlit/config.toml``, beside the script it runs: the checkout's ``.streamlit/config.toml``.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    """Start Streamlit on the studio's entry script, passing `argv` (default: the command line) on."""
    from streamlit.web import cli as streamlit_cli

    from studio_ui.startup import preload_or_say

    preload_or_say()
    entry = Path(__file__).resolve().parent / "navigation.py"
    sys.argv = ["streamlit", "run", str(entry), *(sys.argv[1:] if argv is None else argv)]
    sys.exit(streamlit_cli.main())


if __name__ == "__main__":
    main()
