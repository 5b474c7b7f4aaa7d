"""The studio is a package: its wheel holds the library, the app, the shipped checkpoints and the
method docs, and once installed `unlearn` and `unlearning-studio` work from any folder."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the checkout's files (links kept as links): setuptools builds
    in the source folder, and a stale build/ there would put deleted modules into the wheel."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        if (REPO / name).exists() or (REPO / name).is_symlink():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name, follow_symlinks=False)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out)], check=True, capture_output=True, timeout=300)
    return next(out.glob("unlearning_studio-*.whl"))


def test_the_wheel_holds_the_assets_the_app_and_the_method_docs(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        docs = archive.read("studio_ui/shipped/methods.md").decode()
        tour_benchmark = archive.read("studio_ui/shipped/results/digits-class_3.json").decode()
        server_config = archive.read("studio_ui/.streamlit/config.toml").decode()
        tour_timing = archive.read("studio_ui/shipped/results/timing/ui_latency.json").decode()
        entry_points = next(archive.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert {"unlearn_core/assets/digits_small_cnn.safetensors", "unlearn_core/assets/shapes_small_cnn.safetensors",
            "studio_ui/navigation.py", "studio_ui/app_pages/tour.py", "studio_ui/app_pages/compare.py",
            "studio_ui/shipped/results.md", "unlearn_core/runs/worker.py", "unlearn_core/cli.py"} <= names
    # the links in the checkout become the files' contents in the wheel
    assert docs == (REPO / "docs" / "methods.md").read_text()
    assert tour_benchmark == (REPO / "benchmarks" / "results" / "digits-class_3.json").read_text()
    # the server settings of a checkout (.streamlit/) are those of `unlearning-studio`: Streamlit reads
    # a config.toml beside the script it runs (studio_ui/navigation.py)
    assert server_config == (REPO / ".streamlit" / "config.toml").read_text()
    assert tour_timing == (REPO / "benchmarks" / "results" / "timing" / "ui_latency.json").read_text()
    assert "unlearn = unlearn_core.cli:main" in entry_points
    assert "unlearning-studio = studio_ui.launch:main" in entry_points
    assert not {n for n in names if n.startswith(("tests/", "benchmarks/", "docs/"))}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_installed_commands_work_from_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    """A virtual environment that sees the pinned dependencies (system site-packages) but installs
    the package from the wheel only: no checkout on its path."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True,
                   capture_output=True, timeout=300)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    found = subprocess.run([str(python), "-c", "import unlearn_core, studio_ui; print(unlearn_core.__file__)"],
                           cwd=outside, env=env, capture_output=True, text=True, timeout=300, check=True)
    assert str(venv) in found.stdout and str(REPO) not in found.stdout  # the installed copy, not the checkout
    datasets = subprocess.run([str(venv / "bin" / "unlearn"), "datasets", "--json"], cwd=outside, env=env,
                              capture_output=True, text=True, timeout=300)
    assert datasets.returncode == 0, datasets.stderr
    assert '"digits"' in datasets.stdout
    # the server settings Streamlit reads for the installed entry (beside the script it runs, as its CLI sets)
    settings = subprocess.run(
        [str(python), "-c", "import studio_ui.navigation as n; from streamlit import config; "
                            "config._main_script_path = n.__file__; "
                            "print(config.get_option('runner.postScriptGC'), config.get_option('client.toolbarMode'))"],
        cwd=outside, env=env, capture_output=True, text=True, timeout=300, check=True)
    assert settings.stdout.split() == ["False", "minimal"]

    port = _free_port()
    server = subprocess.Popen([str(venv / "bin" / "unlearning-studio"), "--server.headless", "true",
                               "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                              cwd=outside, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5) as answer:
                    assert answer.read() == b"ok"
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()
                assert time.monotonic() < deadline, "the app did not answer within 120 s"
                time.sleep(1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert b"<html" in page.read().lower()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_public_api_resolves_every_name_lazily() -> None:
    """`import unlearn_core` loads no sub-module; each public name loads its module on first use."""
    script = ("import sys, unlearn_core as uc\n"
              "before = sorted(m for m in sys.modules if m.startswith('unlearn_core.'))\n"
              "missing = [n for n in uc.__all__ if not callable(getattr(uc, n))]\n"
              "print(before, missing)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "[] []"


@pytest.mark.slow
def test_the_readme_python_example_runs(tmp_path: Path, monkeypatch) -> None:
    """The README's "From Python" block, run as written (in a temporary folder): DEL on digits class:3."""
    readme = (REPO / "README.md").read_text()
    block = readme.split("### From Python", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    assert (tmp_path / "workspace" / "registry.sqlite").exists()
