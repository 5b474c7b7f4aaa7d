"""How long the app keeps a user waiting, measured in a real browser (issue 23).

Each round starts ``streamlit run app.py`` on a free port with a fresh temporary workspace and drives
it in headless Chromium (Debian's, never ``playwright install``):

1. open the app on the guided tour as soon as the server answers: **open → tour clickable** is the
   time from the navigation to the moment the "Run the tour" button is shown and no script runs (a
   click during a script run can be lost); the button's first appearance is kept too, and so are the
   times from ``streamlit run`` to the server's first answer and to the clickable tour (the server
   imports the heavy modules before it answers: `studio_ui/startup.py`);
2. every page of the sidebar, in its order, clicked in the sidebar: **cold** is the first visit in this
   server (its caches empty; the tour's cold figure is step 1's), **warm** the second;
3. back on the tour, **click → verdict**: from the click on "Run the tour" to the heading of the
   verdict; then the round's background runs are cancelled and the server stopped.

A page has settled when the script run the click started has ended: the app's root element says
``data-test-script-state="notRunning"`` after it said something else (a page's polling fragments
run again later; the first end counts). Times come from the page's own clock (``performance.now``),
read by a 10 ms watcher installed in the page. Each figure is the median of the rounds.

    python benchmarks/ui_latency.py [--rounds 3]
    python benchmarks/ui_latency.py --tour-only --entry studio_ui/navigation.py   # without the preload

Writes ``benchmarks/ui_latency.md`` (the table) and ``benchmarks/results/timing/ui_latency.json``
(every round's numbers, the machine, the load average before and after, the date, and the headline
medians of every earlier run: the before figures). Run it on an otherwise idle machine: it measures
wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT_JSON = ROOT / "benchmarks" / "results" / "timing" / "ui_latency.json"
OUT_MD = ROOT / "benchmarks" / "ui_latency.md"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TOUR_BUTTON = "Run the tour"
VERDICT = "5. Did it forget like retraining?"
TIMEOUT_MS = 180_000
RETRY_S = 15.0
QUIET_MS = 3000  # no run ended after the address changed and none runs for this long: it had ended
# records each change of the script state and the first time each watched text is shown, in page time
WATCHER = """
window.__states = []; window.__paths = []; window.__seen = {};
const watched = WATCHED;
setInterval(() => {
  const now = performance.now();
  const app = document.querySelector("[data-testid='stApp']");
  const state = app ? app.getAttribute("data-test-script-state") : "none";
  const last = window.__states[window.__states.length - 1];
  if (!last || last[0] !== state) window.__states.push([state, now]);
  const path = window.__paths[window.__paths.length - 1];
  if (!path || path[0] !== location.pathname) window.__paths.push([location.pathname, now]);
  for (const text of watched) {
    if (window.__seen[text] === undefined) {
      const hit = [...document.querySelectorAll("button, h1, h2, h3")].find(e => e.innerText.includes(text));
      if (hit && !hit.disabled) window.__seen[text] = now;
    }
  }
}, 10);
""".replace("WATCHED", json.dumps([TOUR_BUTTON, VERDICT]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(workspace: Path, log: Path, entry: str = "app.py") -> Iterator[tuple[str, float]]:
    """`streamlit run <entry>` headless on a free port with `workspace`; yields its URL once healthy,
    with the wall-clock time the command was started."""
    port = _free_port()
    env = {**os.environ, "UNLEARN_STUDIO_WORKSPACE": str(workspace)}
    with open(log, "w") as out:
        started = time.time()
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", entry, "--server.headless", "true",
                                 "--server.port", str(port), "--server.address", "127.0.0.1"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 120
            while True:
                try:
                    urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                    break
                except OSError:
                    if time.time() > deadline or proc.poll() is not None:
                        raise RuntimeError(f"streamlit did not start; see {log}") from None
                    time.sleep(0.05)
            yield url, started
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _poll(page, compute, what: str, timeout_s: float = TIMEOUT_MS / 1000):
    """Evaluate `compute(page)` every 50 ms until it is not None; its value."""
    deadline = time.time() + timeout_s
    while (value := compute(page)) is None:
        if time.time() > deadline:
            raise TimeoutError(f"{what} did not happen in {timeout_s:.0f} s")
        time.sleep(0.05)
    return value


def _run_ends(states: list[list], since: float) -> list[float]:
    """Page times at which the script runs going on at or started after page time `since` ended."""
    ends, running = [], False
    for st, at in states:
        if st == "notRunning":
            if running and at >= since:
                ends.append(at)
            running = False
        else:
            running = True
    return ends


def _idle_at(states: list[list], t: float) -> float | None:
    """The first page time from `t` on at which no script ran."""
    before = [st for st, at in states if at <= t]
    if before and before[-1] == "notRunning":
        return t
    return next((at for st, at in states if at > t and st == "notRunning"), None)


def _seen(page, text: str, after: float = 0.0) -> float:
    """Page time at which `text` was first shown (a button's or a heading's), once it is."""
    return _poll(page, lambda p: (lambda t: t if t is not None and t >= after else None)(
        p.evaluate("text => window.__seen[text]", text)), f"{text!r} shown")


def _visit(page, link) -> float:
    """Click sidebar `link` (again if the address has not changed after `RETRY_S`: a click landing in
    a re-render can be lost); seconds from the click that counted to the end of the new page's
    script run, the first run ending after the address changed (an earlier one was the old page's)."""
    while True:
        _idle_now(page)
        since = page.evaluate("performance.now()")
        link.click()
        try:
            moved = _poll(page, lambda p, t=since: next((at for _, at in p.evaluate("window.__paths") if at > t), None),
                          "the address change", timeout_s=RETRY_S)
            break
        except TimeoutError:
            continue

    def end(p) -> float | None:
        ends = _run_ends(p.evaluate("window.__states"), since)
        after = [e for e in ends if e >= moved]
        if after:
            return after[0]
        # the address changed after the run's end was seen (a quick page): the last run that ended
        quiet = p.evaluate("window.__states.at(-1)[0]") == "notRunning" and \
            p.evaluate("performance.now()") - moved > QUIET_MS
        return (ends[-1] if ends else moved) if quiet else None
    return (_poll(page, end, "the page's script run") - since) / 1000


def _idle_now(page) -> None:
    """Wait until no script runs (polling fragments may start again later)."""
    _poll(page, lambda p: True if p.evaluate("window.__states.at(-1)[0]") == "notRunning" else None, "idle")


def _cancel_runs(workspace: Path, wait_s: float = 120) -> None:
    """Ask the round's background runs (the tour's, its seed study) to stop, and wait for them."""
    import unlearn_core.runs.records as run_records
    from unlearn_core.workspace.store import Workspace

    if (workspace / "registry.sqlite").exists():
        run_records.cancel_active(Workspace(workspace), wait_s)


def _tour_timeline(workspace: Path, clicked_at: float) -> list[dict[str, Any]]:
    """The tour's runs as they went (seconds after the click, wall clock): when each was recorded, started
    (its worker began it: imports of a standby still importing come before) and ended; for the finished
    ones their method and retraining times. Shows where the click-to-verdict time went."""
    import unlearn_core.runs.records as run_records
    from unlearn_core.workspace.store import Workspace

    ws = Workspace(workspace)
    out = []
    for row in sorted(run_records.list_runs(ws), key=lambda r: r.created):
        if clicked_at > row.created:
            continue
        info = ws.get(row.id).info if row.status == "done" else {}
        out.append({"title": row.title, "status": row.status,
                    **{k: None if t is None else round(t - clicked_at, 2)
                       for k, t in (("recorded_s", row.created), ("started_s", row.started), ("ended_s", row.ended))},
                    **{k: info.get(k) for k in ("time_s", "retrain_time_s", "retrain_waited_s", "retrain_reused")}})
    return out


def one_round(browser, pages: list[tuple[str, str]], tmp: Path, n: int, entry: str = "app.py") -> dict[str, Any]:
    """One fresh server and workspace: open on the tour, every page cold then warm (none when `pages`
    is empty), the tour's click."""
    workspace = tmp / f"workspace{n}"
    result: dict[str, Any] = {"cold": {}, "warm": {}}
    with serve(workspace, tmp / f"streamlit{n}.log", entry) as (url, started):
        answered = time.time()
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.add_init_script(WATCHER)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        opened = time.time()
        page.goto(f"{url}/tour", wait_until="commit")
        shown = _seen(page, TOUR_BUTTON)
        clickable = _poll(page, lambda p: _idle_at(p.evaluate("window.__states"), shown), "the tour idle")
        result["start_to_server_answer_s"] = answered - started
        result["start_to_tour_clickable_s"] = opened - started + clickable / 1000
        result["tour_button_shown_s"] = shown / 1000
        result["open_to_tour_clickable_s"] = clickable / 1000
        result["cold"]["Guided tour"] = clickable / 1000
        nav = page.locator("[data-testid='stSidebarNav']")
        for visit in ("cold", "warm"):
            for title in [t for t, _ in pages if visit == "warm" or t != "Guided tour"]:
                result[visit][title] = _visit(page, nav.get_by_role("link", name=title, exact=True))
                print(f"{visit} {title}: {result[visit][title]:.1f} s", file=sys.stderr, flush=True)
        nav.get_by_role("link", name="Guided tour", exact=True).click()
        button = page.locator("button", has_text=TOUR_BUTTON).first  # a re-render may show two briefly
        button.wait_for()
        _idle_now(page)
        since = page.evaluate("performance.now()")
        clicked_at = time.time()
        button.click()
        result["tour_click_to_verdict_s"] = (_seen(page, VERDICT, after=since) - since) / 1000
        result["tour_runs"] = _tour_timeline(workspace, clicked_at)
        context.close()
        _cancel_runs(workspace)
    return result


def _median(rounds: list[dict[str, Any]], *path: str) -> float:
    values = []
    for r in rounds:
        for key in path:
            r = r[key]
        values.append(r)
    return statistics.median(values)


def headline(report: dict[str, Any]) -> dict[str, Any]:
    """`report`'s headline medians, as its successors keep them in their ``history`` (the before figures)."""
    rounds = report["rounds"]
    return {"date": report["date"], "load_before": report["load_before"][0],
            "open_to_tour_clickable_s": _median(rounds, "open_to_tour_clickable_s"),
            "tour_click_to_verdict_s": _median(rounds, "tour_click_to_verdict_s"),
            "slowest_warm_page_s": max(_median(rounds, "warm", t) for t in report["pages"])}


def with_history(report: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """`report` with ``history``: the earlier measurements' headlines, oldest first (`previous`, the
    stored report it replaces, and that one's own history)."""
    history = [*previous.get("history", []), headline(previous)] if previous else []
    return {**report, "history": history}


def render(report: dict[str, Any]) -> str:
    """The markdown table of `report` (medians of its rounds)."""
    rounds, titles = report["rounds"], report["pages"]
    lines = [
        "# UI latency", "",
        f"Measured by `python benchmarks/ui_latency.py --rounds {len(rounds)}` on {report['date']}: "
        f"{report['machine']}, load average {report['load_before'][0]:.2f} before and "
        f"{report['load_after'][0]:.2f} after (1 min), Streamlit {report['streamlit']}, headless Chromium. Each "
        f"figure is the median of {len(rounds)} rounds, each on a fresh server and workspace. Raw numbers: "
        "`benchmarks/results/timing/ui_latency.json`.", "",
        "| what | seconds |", "|---|---|",
        f"| app open → tour button shown | {_median(rounds, 'tour_button_shown_s'):.1f} |",
        f"| app open → tour clickable (button shown, no script running) | "
        f"{_median(rounds, 'open_to_tour_clickable_s'):.1f} |",
        f"| tour click → verdict shown | {_median(rounds, 'tour_click_to_verdict_s'):.1f} |",
        f"| `streamlit run app.py` → server answers (its heavy imports done) | "
        f"{_median(rounds, 'start_to_server_answer_s'):.1f} |",
        f"| `streamlit run app.py` → tour clickable (opened the moment the server answers) | "
        f"{_median(rounds, 'start_to_tour_clickable_s'):.1f} |", "",
        "Page settle time: from the click in the sidebar to the end of the script run it started (the page's "
        "content final; polling fragments run again later). Cold: the first visit in a fresh server (the tour's: "
        "opening the app on it); warm: the second. The workspace is fresh: no forget set is chosen yet, so "
        "Localization, Concepts, Unlearn and Compare show their first step.", "",
        "| page | cold (s) | warm (s) |", "|---|---|---|",
    ]
    lines += [f"| {t} | {_median(rounds, 'cold', t):.1f} | {_median(rounds, 'warm', t):.1f} |" for t in titles]
    if report.get("history"):
        lines += ["", "Earlier measurements by this benchmark, oldest first (medians, as each run stored them; the load "
                  "average says how busy the machine was):", "",
                  "| measured | load before | open → tour clickable (s) | tour click → verdict (s) | slowest page, warm (s) |",
                  "|---|---|---|---|---|"]
        lines += [f"| {h['date']} | {h['load_before']:.2f} | {h['open_to_tour_clickable_s']:.1f} | "
                  f"{h['tour_click_to_verdict_s']:.1f} | {h['slowest_warm_page_s']:.1f} |" for h in report["history"]]
    return "\n".join(lines) + "\n"


README_BEGIN = "<!-- ui-latency: generated by benchmarks/ui_latency.py -->"
README_END = "<!-- /ui-latency -->"


def readme_quote(report: dict[str, Any]) -> str:
    """The README's one-paragraph quote of `report`: its headline figures with the machine and date."""
    rounds, top = report["rounds"], headline(report)
    return (f"Measured on {report['date']} ({report['machine']}, load average {report['load_before'][0]:.2f} "
            f"before), median of {len(rounds)} fresh servers: the tour is clickable "
            f"{top['open_to_tour_clickable_s']:.1f} s after the app opens "
            f"({_median(rounds, 'start_to_tour_clickable_s'):.1f} s after `streamlit run app.py`) and shows its verdict "
            f"{top['tour_click_to_verdict_s']:.1f} s after the click; every page settles within "
            f"{top['slowest_warm_page_s']:.1f} s warm ([benchmarks/ui_latency.md](benchmarks/ui_latency.md)).")


def write_readme_quote(report: dict[str, Any], readme: Path = ROOT / "README.md") -> None:
    """Replace the block between the README's ui-latency markers with `readme_quote(report)`."""
    text = readme.read_text()
    start, end = text.index(README_BEGIN) + len(README_BEGIN), text.index(README_END)
    readme.write_text(text[:start] + "\n" + readme_quote(report) + "\n" + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="fresh servers to measure (the median is reported)")
    parser.add_argument("--render-only", action="store_true", help="rewrite the markdown and README quote from the JSON")
    parser.add_argument("--tour-only", action="store_true",
                        help="only open the tour and run it (no page visits); prints the rounds, writes nothing")
    parser.add_argument("--entry", default="app.py",
                        help="the file given to `streamlit run` (with --tour-only; studio_ui/navigation.py: "
                             "no preload at server start)")
    args = parser.parse_args()
    if args.entry != "app.py" and not args.tour_only:
        parser.error("--entry other than app.py goes with --tour-only: the stored table is app.py's")
    if args.render_only:
        report = json.loads(OUT_JSON.read_text())
        OUT_MD.write_text(render(report))
        write_readme_quote(report)
        return
    import streamlit
    from playwright.sync_api import sync_playwright

    from studio_ui.navigation import PAGES

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("Chromium is not installed: apt-get install -y chromium (or scripts/install.sh --with-browser)")
    pages = [(title, stem) for stem, title, _ in PAGES]
    load_before = os.getloadavg()
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        rounds = [one_round(browser, [] if args.tour_only else pages, Path(tmp), n, args.entry)
                  for n in range(args.rounds)]
        browser.close()
    if args.tour_only:
        print(json.dumps({"load_before": load_before, "load_after": os.getloadavg(), "rounds": rounds}, indent=1))
        return
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "load_before": load_before, "load_after": os.getloadavg(), "elapsed_s": time.time() - started,
        "streamlit": streamlit.__version__, "pages": [t for t, _ in pages], "rounds": rounds,
    }
    report = with_history(report, json.loads(OUT_JSON.read_text()) if OUT_JSON.exists() else None)
    OUT_JSON.parent.mkdir(parents=True, exist_ok=True)
    OUT_JSON.write_text(json.dumps(report, indent=1) + "\n")
    OUT_MD.write_text(render(report))
    write_readme_quote(report)
    print(OUT_MD.read_text())


if __name__ == "__main__":
    main()
