"""Warm workers (issue 23): a run is handed to a standby worker process started before the call,
which has torch and the library imported already; the run stays durable (its own process, killed
→ failed (interrupted), cancellable from another tab or the CLI), an idle standby uses no CPU, and
standbys exit when the process that started them goes away.

The runs are the tiny setting of the durable-run tests (digits at 8x8, a width-4 CNN, one epoch).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import unlearn_core.runs.records as run_records
from tests.unit.test_durable_runs import _env, _in_method, _request, _wait
from tests.unit.test_durable_runs import tiny as tiny_run_fixture
from unlearn_core.runs import worker
from unlearn_core.runs.pool import SIZE_ENV, StandbyPool, pool_size, reap, wait_until_ended
from unlearn_core.workspace.store import Workspace

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 240  # a standby imports torch and scikit-learn: seconds, minutes on a loaded machine
pytestmark = pytest.mark.usefixtures("single_thread")
tiny = tiny_run_fixture  # (dataset, model, meta, checkpoint) of the durable-run tests' tiny CNN


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """This process's pool, fresh and ready (one standby, one torch thread); the standby's pid."""
    monkeypatch.setenv("UNLEARN_WORKER_THREADS", "1")
    monkeypatch.delenv(SIZE_ENV, raising=False)
    worker.close_pool()
    worker.warm_pool()
    assert worker.wait_pool_ready(READY_TIMEOUT)
    yield worker.standby_pids()
    worker.close_pool()


def _wait_gone(pids: list[int], timeout: float = 60) -> list[int]:
    """The pids of `pids` still alive after up to `timeout` seconds."""
    deadline = time.time() + timeout
    while (alive := [p for p in pids if run_records._alive(p)]) and time.time() < deadline:
        time.sleep(0.2)
    return alive


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize(("raw", "size"), [("", 1), ("0", 0), ("3", 3), (" 2 ", 2)])
def test_pool_size_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, raw: str, size: int) -> None:
    monkeypatch.setenv(SIZE_ENV, raw)
    assert pool_size() == size


@pytest.mark.parametrize("raw", ["two", "-1", "9", "1.5", "²"])
def test_a_bad_pool_size_is_refused_in_one_line_before_a_run_is_recorded(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny, raw: str) -> None:
    monkeypatch.setenv(SIZE_ENV, raw)
    with pytest.raises(ValueError, match=rf"^\${SIZE_ENV} must be a whole number from 0 .* to 8; got '{raw}'$"):
        worker.start_run(Workspace(tmp_path), _request(tiny), "refused")
    assert run_records.list_runs(Workspace(tmp_path)) == []


@pytest.mark.slow  # cost: starts worker processes
def test_a_run_is_served_by_a_worker_started_before_the_call(pool: list[int], tmp_path: Path, tiny) -> None:
    (standby,) = pool
    assert run_records._alive(standby)
    ws = Workspace(tmp_path)
    row = worker.start_run(ws, _request(tiny), "tiny finetune")
    assert row.pid == standby
    (next_standby,) = worker.standby_pids()  # topped up at once for the next run
    assert next_standby not in (standby, os.getpid())
    done = _wait(ws, row.id, lambda r: not r.active)
    assert (done.status, done.pid, done.error) == ("done", standby, None)
    assert ws.get(row.id).info["method"] == "finetune"
    assert Path(done.log_path).exists()  # the standby's output went to the run's log from the hand-over on
    worker.close_pool()
    assert _wait_gone([next_standby]) == []  # closing the pool ends its standbys


@pytest.mark.slow  # cost: starts a worker process
def test_a_run_handed_to_a_standby_still_importing_waits_for_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                   tiny) -> None:
    monkeypatch.setenv("UNLEARN_WORKER_THREADS", "1")
    monkeypatch.delenv(SIZE_ENV, raising=False)
    worker.close_pool()
    worker.warm_pool()  # not waited for: the run is handed over during the standby's imports
    (standby,) = worker.standby_pids()
    ws = Workspace(tmp_path)
    row = worker.start_run(ws, _request(tiny), "early")
    assert row.pid == standby
    assert _wait(ws, row.id, lambda r: not r.active).status == "done"
    worker.close_pool()


@pytest.mark.slow  # cost: starts worker processes
def test_the_replacement_standby_imports_only_once_the_run_beside_it_has_ended(pool: list[int], tmp_path: Path,
                                                                                tiny) -> None:
    ws = Workspace(tmp_path)
    row = worker.start_run(ws, _request(tiny, config={"epochs": 200}), "long finetune")
    assert row.pid == pool[0]
    _wait(ws, row.id, _in_method)
    (replacement,) = worker.standby_pids()
    settled = _cpu_s(replacement)  # its interpreter's start, then it waits on the run's pidfd
    for _ in range(120):
        time.sleep(0.5)
        settled, before = _cpu_s(replacement), settled
        if settled == before:
            break
    time.sleep(2)
    assert _cpu_s(replacement) == settled  # not one clock tick while the run uses the cores
    assert not worker.wait_pool_ready(0.1) and run_records.get(ws, row.id).active
    run_records.request_cancel(ws, row.id)
    assert _wait(ws, row.id, lambda r: not r.active, timeout=30).status == "cancelled"
    assert worker.wait_pool_ready(READY_TIMEOUT)  # the run's process ended: it imported and is ready
    assert worker.standby_pids() == [replacement]


def _sleeper(seconds: float) -> subprocess.Popen[bytes]:
    """A child that sleeps `seconds`, reaped once it ends (as the app reaps its workers: a zombie still exists)."""
    proc = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])
    reap(proc)
    return proc


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "polled"])
def test_wait_until_ended_returns_when_the_processes_end_or_a_command_comes(monkeypatch: pytest.MonkeyPatch,
                                                                            pidfd: bool) -> None:
    if not pidfd:
        monkeypatch.delattr(os, "pidfd_open", raising=False)  # a platform without pidfds: polled
    read, write = os.pipe()
    try:
        short, long = _sleeper(0.5), _sleeper(30)
        t0 = time.monotonic()
        wait_until_ended([short.pid], read, poll_s=0.05)
        assert 0.3 < time.monotonic() - t0 < 10 and short.wait(timeout=5) == 0  # waited for it to end
        gone = short.pid
        t0 = time.monotonic()
        wait_until_ended([gone], read)  # ended already (reaped): nothing to wait for
        assert time.monotonic() - t0 < 0.5
        threading.Timer(0.5, os.write, (write, b"{}\n")).start()  # a run is handed over meanwhile
        t0 = time.monotonic()
        wait_until_ended([long.pid], read, poll_s=0.05)
        assert 0.3 < time.monotonic() - t0 < 10 and long.poll() is None  # the command, not the end
        long.kill()
    finally:
        os.close(read)
        os.close(write)


IDLE = [sys.executable, "-c", "import sys; sys.stdin.read()"]  # a stand-in standby: waits for end of file


def test_a_page_asks_for_more_standbys_and_the_pool_keeps_them_until_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SIZE_ENV, raising=False)
    pool = StandbyPool(IDLE)
    try:
        pool.warm(os.environ)
        assert len(pool.pids()) == 1
        pool.warm(os.environ, at_least=2)  # the tour starts two runs at once
        first = pool.pids()
        assert len(first) == 2
        pool.warm(os.environ)  # another page: the two are kept, not closed
        assert pool.pids() == first
        pool.close()
        pool.warm(os.environ)
        assert len(pool.pids()) == 1  # closing starts over at the configured size
        monkeypatch.setenv(SIZE_ENV, "0")
        pool.warm(os.environ, at_least=2)
        assert pool.pids() == []  # turned off stays off
    finally:
        pool.close()


def test_standbys_started_beside_a_handed_run_are_told_to_wait_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SIZE_ENV, "1")
    pool = StandbyPool(IDLE)
    try:
        pool.warm(os.environ)
        assert pool.take(os.environ) is not None  # handed a run: busy until it ends
        handed = [s for s in pool._busy]
        pool.warm(os.environ)
        (replacement,) = pool._standbys
        assert replacement.proc.args[-1] == f"--after={handed[0].pid}"
        handed[0].close()
        handed[0].proc.wait(timeout=30)
        pool.close()
        pool.warm(os.environ)  # no run of the pool is alive: nothing to wait for
        assert not any(str(a).startswith("--after") for a in pool._standbys[0].proc.args)
    finally:
        pool.close()


@pytest.mark.slow  # cost: starts worker processes
def test_a_killed_pooled_worker_fails_the_run_and_a_new_worker_takes_the_next(pool: list[int], tmp_path: Path,
                                                                              tiny) -> None:
    ws = Workspace(tmp_path)
    row = worker.start_run(ws, _request(tiny, config={"epochs": 200}), "long finetune")
    running = _wait(ws, row.id, _in_method)
    assert running.pid == pool[0]
    os.kill(running.pid, signal.SIGKILL)
    gone = _wait(ws, row.id, lambda r: not r.active, timeout=3 * run_records.HEARTBEAT_S)
    assert gone.label == "failed (interrupted)"
    (replacement,) = worker.standby_pids()
    assert replacement != running.pid and worker.wait_pool_ready(READY_TIMEOUT)
    rerun = worker.start_run(ws, _request(tiny), "rerun")
    assert rerun.pid == replacement
    assert _wait(ws, rerun.id, lambda r: not r.active).status == "done"


@pytest.mark.slow  # cost: starts worker processes
def test_a_pooled_run_is_cancelled_from_another_tab_and_from_the_cli(pool: list[int], tmp_path: Path, tiny) -> None:
    ws = Workspace(tmp_path)
    tab = worker.start_run(ws, _request(tiny, config={"epochs": 200}), "cancelled by a tab")
    assert tab.pid == pool[0]
    _wait(ws, tab.id, _in_method)
    run_records.request_cancel(ws, tab.id)  # what another tab's Cancel button does
    ended = _wait(ws, tab.id, lambda r: not r.active, timeout=30)
    assert (ended.status, ended.message) == ("cancelled", "cancelled: nothing was stored")

    (standby,) = worker.standby_pids()
    assert worker.wait_pool_ready(READY_TIMEOUT)
    shell = worker.start_run(ws, _request(tiny, config={"epochs": 200}), "cancelled from a shell")
    assert shell.pid == standby
    _wait(ws, shell.id, _in_method)
    out = subprocess.run([sys.executable, "-m", "unlearn_core", "runs", "--workspace", str(tmp_path), "--cancel",
                          shell.id, "--json"], env=_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    ended = _wait(ws, shell.id, lambda r: not r.active, timeout=30)
    assert (ended.status, ended.message) == ("cancelled", "cancelled: nothing was stored")
    assert ws.list("run") == []


PRELOAD_PROBE = """
import json, sys
from unlearn_core.runs import worker
from unlearn_core.workspace.store import Workspace
worker._preload()
before = set(sys.modules)
worker.run_tracked(Workspace(sys.argv[2]), worker.RunRequest.from_dict(json.loads(sys.argv[1])), "probe")
print(json.dumps(sorted({m.split(".")[0] for m in set(sys.modules) - before})))
"""


@pytest.mark.slow  # cost: a fresh interpreter runs a (tiny) run
@pytest.mark.parametrize("method", ["finetune", "rfa"])
def test_a_standby_has_imported_every_package_a_run_needs(tmp_path: Path, tiny, method: str) -> None:
    """What a standby imports before it is handed a run (`worker._preload`) leaves nothing for the run to
    import: a package imported mid-run (scikit-learn for the membership attack, torch._dynamo on an
    optimizer's first step) costs every warm run that second again."""
    request = _request(tiny, method=method, config={"epochs": 1} if method == "finetune" else {})
    done = subprocess.run([sys.executable, "-c", PRELOAD_PROBE, json.dumps(request.to_dict()), str(tmp_path)],
                          capture_output=True, text=True, env={**_env(), "OMP_NUM_THREADS": "1"}, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


OWNER = f"""
import sys
from unlearn_core.runs import worker
worker.warm_pool()
assert worker.wait_pool_ready({READY_TIMEOUT})
print(*worker.standby_pids(), flush=True)
sys.stdin.read()  # until the test closes this pipe; then exit without closing the pool
"""


@pytest.mark.slow  # cost: starts a worker process
def test_an_idle_standby_uses_no_cpu_and_exits_when_its_owner_goes_away() -> None:
    env = {**_env(), SIZE_ENV: "1"}
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                             text=True)
    pids = [int(p) for p in owner.stdout.readline().split()]
    assert len(pids) == 1 and all(run_records._alive(p) for p in pids)
    before = [_cpu_s(p) for p in pids]
    time.sleep(2)
    assert [_cpu_s(p) for p in pids] == before  # blocked on reading its pipe: not one clock tick
    owner.stdin.close()
    assert owner.wait(timeout=60) == 0
    assert _wait_gone(pids) == []  # no orphans: end of file on their pipe ended them


@pytest.mark.slow  # cost: starts a worker process
def test_with_the_pool_turned_off_a_run_gets_a_fresh_worker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                             tiny) -> None:
    monkeypatch.setenv("UNLEARN_WORKER_THREADS", "1")
    monkeypatch.setenv(SIZE_ENV, "0")
    worker.close_pool()
    ws = Workspace(tmp_path)
    row = worker.start_run(ws, _request(tiny), "cold")
    assert worker.standby_pids() == [] and row.pid not in (None, os.getpid())
    assert _wait(ws, row.id, lambda r: not r.active).status == "done"


def _open_app(monkeypatch: pytest.MonkeyPatch, workspace: Path, **state):
    """The app (AppTest, opened on its home page) on `workspace` with a fresh pool of this process
    (one torch thread per worker) and empty resource caches; `state` goes into its session state."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("UNLEARN_WORKER_THREADS", "1")
    monkeypatch.delenv(SIZE_ENV, raising=False)
    worker.close_pool()
    st.cache_resource.clear()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=READY_TIMEOUT)
    at.session_state["workspace_root"] = str(workspace)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


@pytest.mark.slow  # cost: starts the app and a worker process
def test_the_app_warms_a_worker_and_its_run_button_hands_the_run_to_it(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    from studio_ui.state import ForgetSelection

    at = _open_app(monkeypatch, tmp_path / "workspace", forget_selection=ForgetSelection("class:3", "class 3"))
    (standby,) = worker.standby_pids()  # opening the app started it
    assert worker.wait_pool_ready(READY_TIMEOUT)
    at.switch_page("studio_ui/app_pages/unlearn.py").run()
    next(b for b in at.button if b.label == "Run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    ws = Workspace(tmp_path / "workspace")
    (started,) = run_records.list_runs(ws)
    assert started.pid == standby
    run_records.request_cancel(ws, started.id)
    assert _wait(ws, started.id, lambda r: not r.active, timeout=120).status in ("cancelled", "done")
    worker.close_pool()


@pytest.mark.slow  # cost: starts the app and two worker processes
def test_the_tour_keeps_a_standby_per_method_and_its_click_starts_both_at_once(monkeypatch: pytest.MonkeyPatch,
                                                                              tmp_path: Path) -> None:
    at = _open_app(monkeypatch, tmp_path / "workspace")
    assert len(worker.standby_pids()) == 1  # the home page: one
    at.switch_page("studio_ui/app_pages/tour.py").run()
    assert not at.exception, [e.value for e in at.exception]
    standbys = worker.standby_pids()
    assert len(standbys) == 2  # the page was drawn, then one standby per method it starts
    assert worker.wait_pool_ready(READY_TIMEOUT)
    next(b for b in at.button if b.label == "Run the tour").click().run()
    ws = Workspace(tmp_path / "workspace")
    started = run_records.list_runs(ws)
    assert sorted(r.pid for r in started) == sorted(standbys)  # both served at once by pre-started workers
    replacements = worker.standby_pids()
    assert len(replacements) == 2 and not set(replacements) & set(standbys)
    for row in started:
        run_records.request_cancel(ws, row.id)
    for row in started:
        assert _wait(ws, row.id, lambda r: not r.active, timeout=120).status in ("cancelled", "done")
    worker.close_pool()
