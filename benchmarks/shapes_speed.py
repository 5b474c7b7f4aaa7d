"""How long the app takes on the shapes dataset (issue 25 item 2, issue 23 item 4), measured through the pages.

Four operations, each driven with Streamlit's AppTest exactly as a click does it:
- `switch_to_shapes`: on Model & data, choosing shapes in the dataset box (digits active before);
- `concepts_first_load`: opening Concepts on shapes;
- `compare_first_load`: opening Compare on a stored shapes run;
- `umap_shapes`: choosing UMAP on the Forget set page's embedding tab.

Each is timed in three states, every one in its own process:
- `cold`: a fresh copy of a workspace holding the shapes run (the shipped shapes model, nothing
  else computed), Streamlit's caches empty;
- `restart`: a new process on that same workspace afterwards (a restarted server or another
  session: whatever the first process kept in the workspace is there);
- `warm`: the second time in the same process (another page, then back).
Then every page's warm settle time (Home → page, runs in the history, a forget set chosen).

The machine's load average is stored with every phase; the numbers depend on it. Usage:

    python benchmarks/shapes_speed.py [--template DIR] [--out benchmarks/results/timing/shapes_speed.json]

It only uses the pages and the `unlearn` command, so it runs against any commit of the app
(``PYTHONPATH=/tmp/before python /work/main/benchmarks/shapes_speed.py --label before``). The template
workspace (one finetune run on shapes forgetting class 3, with its retrained oracle: minutes) is
made once and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OPERATIONS = ("switch_to_shapes", "concepts_first_load", "compare_first_load", "umap_shapes")
PAGES = ("home", "model_data", "forget_set", "localization", "concepts", "unlearn", "compare", "benchmarks")


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def make_template(template: Path) -> None:
    """A workspace with one stored shapes run (finetune forgetting class 3, seed 0) and its oracle."""
    if (template / "registry.sqlite").exists() and (template / "run").is_dir() and any((template / "run").iterdir()):
        return
    shutil.rmtree(template, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "unlearn_core", "unlearn", "--dataset", "shapes", "--forget", "class:3",
                    "--method", "finetune", "--set", "epochs=1", "--workspace", str(template), "--quiet", "--json"],
                   check=True, stdout=subprocess.DEVNULL)


def _app(workspace: Path):
    """The whole app on `workspace` with digits active, after its first run."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_resource.clear()
    st.cache_data.clear()
    app_file = Path(os.environ.get("STUDIO_APP", Path.cwd() / "app.py"))
    at = AppTest.from_file(str(app_file), default_timeout=900)
    at.session_state["workspace_root"] = str(workspace)
    at.run()
    return at


def _page(name: str) -> str:
    return f"studio_ui/app_pages/{name}.py"


def _timed(run) -> float:
    start = time.perf_counter()
    at = run()
    seconds = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(f"the page raised: {at.exception[0].value}")
    return round(seconds, 3)


def measure_phase(workspace: Path) -> dict[str, object]:
    """One process: the four operations once, then a second time (warm), then every page warm."""
    from studio_ui.state import SELECTION_FILE, ForgetSelection

    (workspace / SELECTION_FILE).unlink(missing_ok=True)  # open on digits, as a new session does: shapes is switched to
    at = _app(workspace)
    out: dict[str, object] = {"load_before": _load()}
    first, second = {}, {}
    for times in (first, second):
        at.switch_page(_page("model_data")).run()
        at.selectbox(key="dataset_choice").set_value("digits").run()
        times["switch_to_shapes"] = _timed(lambda: at.selectbox(key="dataset_choice").set_value("shapes").run())
        times["concepts_first_load"] = _timed(lambda: at.switch_page(_page("concepts")).run())
        times["compare_first_load"] = _timed(lambda: at.switch_page(_page("compare")).run())
        at.switch_page(_page("forget_set")).run()
        at.radio[0].set_value("pca").run()
        times["umap_shapes"] = _timed(lambda: at.radio[0].set_value("umap").run())
        at.radio[0].set_value("pca").run()
    at.session_state["forget_selection"] = ForgetSelection("class:3", "class triangle")
    pages = {}
    for name in PAGES:
        at.switch_page(_page(name)).run()  # first visit: whatever it computes once
        at.switch_page(_page("home")).run()
        pages[name] = _timed(lambda name=name: at.switch_page(_page(name)).run())
    out.update(first=first, warm=second, warm_pages=pages, load_after=_load())
    return out


def _phase_in_process(workspace: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, __file__, "--phase", str(workspace)], check=True, capture_output=True,
                          text=True, env={**os.environ, "STUDIO_APP": os.environ.get("STUDIO_APP", str(Path.cwd() / "app.py"))})
    return json.loads(done.stdout.strip().splitlines()[-1])


def _row(result: dict[str, object]) -> dict[str, list[float]]:
    return {op: [result["cold"]["first"][op], result["restart"]["first"][op], result["restart"]["warm"][op]]
            for op in OPERATIONS}


def markdown(results: list[dict[str, object]]) -> str:
    """The short table of one or more result files (e.g. before and after), side by side."""
    lines = ["# Shapes speed", ""]
    for r in results:
        lines.append(f"- {r['label']}: measured {r['measured_at']} on {r['cpu_count']} cores, torch threads "
                     f"{r['torch_threads']}; `uptime` before: {r['uptime_before']}; after: {r['uptime_after']}.")
    head = " | ".join(f"{r['label']} {state} (s)" for r in results for state in ("cold", "restart", "warm"))
    lines += ["", f"| operation | {head} |", "|---" * (1 + 3 * len(results)) + "|"]
    for op in OPERATIONS:
        lines.append(f"| {op} | " + " | ".join(f"{v:.2f}" for r in results for v in _row(r)[op]) + " |")
    lines.append("")
    for r in results:
        lines.append(f"Every page warm, {r['label']} (Home, then the page; seconds): "
                     + ", ".join(f"{k} {v:.2f}" for k, v in r["restart"]["warm_pages"].items()) + ".")
    lines += ["",
              "cold: fresh workspace with the shapes run, empty caches; restart: a new process on the same "
              "workspace; warm: the second time in one process. Load averages per phase are in the JSON."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default=str(Path(tempfile.gettempdir()) / "shapes_speed_template"))
    parser.add_argument("--out", default=str(HERE / "results" / "timing" / "shapes_speed.json"))
    parser.add_argument("--markdown", default=str(HERE / "shapes_speed.md"))
    parser.add_argument("--label", default="after")
    parser.add_argument("--before", help="a result file of an earlier commit, shown beside this one in the table")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(measure_phase(Path(args.phase))))
        return
    import torch

    template = Path(args.template)
    make_template(template)
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "workspace"
        shutil.copytree(template, workspace)
        cold = _phase_in_process(workspace)
        restart = _phase_in_process(workspace)
    result = {"label": args.label, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
              "uptime_before": uptime_before,
              "uptime_after": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
              "cold": cold, "restart": restart}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    results = ([json.loads(Path(args.before).read_text())] if args.before else []) + [result]
    Path(args.markdown).write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
