"""The server imports what the first page draws with before it answers (issue 23, clickable ≤ 3 s).

`streamlit run app.py` serves an ``st.App`` whose lifespan runs `studio_ui.startup.preload`; the
check enters that lifespan in a fresh interpreter, then draws Home and the guided tour with
AppTest, and lists the heavy packages the two pages still imported themselves: none may be left
(their lazily loaded submodules, such as plotly's trace classes, cost about 0.2 s and may stay).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from streamlit.web.server.app_discovery import discover_asgi_app

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "torchvision", "numpy", "pandas", "plotly", "pyarrow", "PIL", "sklearn", "scipy", "umap", "numba",
         "captum")
PROBE = f"HEAVY = {HEAVY!r}\nREPO = {str(REPO)!r}\n" + """
import asyncio, json, sys
from streamlit.testing.v1 import AppTest
import app  # the module `streamlit run app.py` imports: it defines the st.App

async def serve_once():
    async with app.lifespan(app.app):
        pass

asyncio.run(serve_once())
before = set(sys.modules)
at = AppTest.from_file(REPO + "/app.py", default_timeout=240)
at.run()
at.switch_page(REPO + "/studio_ui/app_pages/tour.py").run()
assert not at.exception, at.exception
packages = lambda modules: {m.split(".")[0] for m in modules}
late = sorted((packages(sys.modules) - packages(before)) & set(HEAVY))
print(json.dumps({"late": late, "preloaded": sorted(packages(before) & set(HEAVY))}))
"""


def test_streamlit_run_app_py_serves_the_app_with_its_lifespan() -> None:
    found = discover_asgi_app(REPO / "app.py")
    assert found.is_asgi_app and found.app_name == "app"


def test_the_first_pages_import_no_heavy_package_after_the_servers_preload(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "UNLEARN_STUDIO_WORKSPACE": str(tmp_path),
           "UNLEARN_STANDBY_WORKERS": "0"}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert {"torch", "numpy", "pandas", "plotly", "pyarrow"} <= set(result["preloaded"])
    assert result["late"] == []


def test_the_server_skips_streamlits_collection_after_every_script_run() -> None:
    """A full `gc.collect(2)` after each run of the tour's polling fragment (twice a second) was most of
    the server's CPU during the tour's runs, taken from the runs beside it (ui_latency.py, py-spy)."""
    import tomllib

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False


def test_a_failed_import_at_start_is_one_line_and_the_server_starts(monkeypatch, capsys) -> None:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from studio_ui import startup

    monkeypatch.setattr(startup, "PRELOADED_MODULES", ("studio_ui.no_such_module",))
    served = []

    async def serve_once() -> None:
        async with startup.lifespan(None):
            served.append(True)

    with ThreadPoolExecutor(1) as pool:  # its own thread: another test may have left an event loop on this one
        pool.submit(asyncio.run, serve_once()).result()
    err = capsys.readouterr().err
    assert served == [True]
    assert err.count("\n") == 1 and "could not import everything at start" in err and "no_such_module" in err
