"""The command line, run as users run it: `python -m unlearn_core ...` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEADLINE = ("forget_acc", "retain_acc", "test_acc", "forget_test_acc", "mia_efficacy")
CONTRACT = ("method", "dataset", "model", "forget", "seed", "n_forget", "n_retain", "original", "unlearned",
            "retrain", "avg_gap", "time_s", "retrain_time_s", "params_changed_frac")


def _env() -> dict[str, str]:
    env = dict(os.environ)  # the package is installed (scripts/install.sh): no PYTHONPATH
    env["OMP_NUM_THREADS"] = "1"  # the commands below run side by side
    return env


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "unlearn_core", *args], cwd=REPO, env=_env(), capture_output=True, text=True,
        timeout=timeout,
    )


BAD = {
    "unknown method": (["unlearn", "--dataset", "digits", "--forget", "class:3", "--method", "nope"],
                       "unknown method 'nope'"),
    "bad forget spec": (["unlearn", "--dataset", "digits", "--forget", "klass:3", "--method", "retrain"],
                        "bad forget spec"),
    "unknown dataset": (["unlearn", "--dataset", "nope", "--forget", "class:3", "--method", "retrain"],
                        "unknown dataset 'nope'"),
    "unknown --set key": (["unlearn", "--dataset", "digits", "--forget", "class:3", "--method", "finetune",
                           "--set", "bogus=1"], "no parameter 'bogus'"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Future]:
    """Every command of this file, started at once (three at a time): most of each is Python start-up."""
    tmp = tmp_path_factory.mktemp("cli")
    commands: dict[str, list[str]] = {
        "unlearn": ["unlearn", "--dataset", "digits", "--forget", "class:3", "--method", "retrain", "--json",
                    "--workspace", str(tmp / "ws"), "--device", "cpu"],
        "train": ["train", "--dataset", "digits", "--model", "small_cnn", "--epochs", "2", "--json",
                  "--model-option", "width=8", "--quiet", "--device", "cpu", "--out", str(tmp / "m.safetensors")],
        "eval": ["eval", "--dataset", "digits", "--json", "--device", "cpu"],
        "datasets": ["datasets", "--json"],
    }
    for name, (args, _) in BAD.items():
        commands[name] = [*args, "--json", *(["--workspace", str(tmp / "bad")] if args[0] == "unlearn" else [])]
    pool = ThreadPoolExecutor(max_workers=3)
    futures = {name: pool.submit(cli, *args) for name, args in commands.items()}
    futures["tmp"] = tmp  # type: ignore[assignment]
    yield futures
    pool.shutdown(wait=True)


def _json(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout  # one JSON object, nothing else on stdout
    return json.loads(lines[0])


@pytest.mark.slow  # cost: one CLI process per command (each imports torch)
def test_datasets_json(runs) -> None:
    payload = _json(runs["datasets"].result())
    names = {d["name"] for d in payload["datasets"]}
    assert {"digits", "shapes"} <= names
    digits = next(d for d in payload["datasets"] if d["name"] == "digits")
    assert digits["needs_root"] is False and "size" in digits["options"]


@pytest.mark.slow  # cost: one CLI process per command (each imports torch)
def test_train_json(runs) -> None:
    payload = _json(runs["train"].result())
    out = runs["tmp"] / "m.safetensors"
    assert payload["train_time_s"] > 0
    assert payload["epochs"] == 2 and payload["recipe"]["epochs"] == 2
    assert payload["checkpoint"] == str(out) and out.is_file()
    from unlearn_core.models import read_meta

    assert read_meta(out).arch_options == {"width": 8}
    from unlearn_core.data import load_dataset
    from unlearn_core.models import load_checkpoint
    from unlearn_core.train import accuracy, predict_logits

    model, _ = load_checkpoint(out)  # the reported accuracy is the saved model's, on the digits test set
    test = load_dataset("digits").test
    assert payload["test_acc"] == pytest.approx(accuracy(predict_logits(model, test.x), test.y))


@pytest.mark.slow  # cost: one CLI process per command (each imports torch)
def test_eval_json(runs) -> None:
    payload = _json(runs["eval"].result())
    assert payload["test_acc"] >= 0.9 and payload["train_acc"] >= 0.9
    assert set(payload["per_class_test_acc"]) == {str(i) for i in range(10)}


@pytest.mark.slow  # cost: one CLI process per command (each imports torch)
def test_unlearn_retrain_json(runs) -> None:
    payload = _json(runs["unlearn"].result())
    for key in CONTRACT:
        assert key in payload, key
    for name in ("original", "unlearned", "retrain"):
        assert set(HEADLINE) <= set(payload[name]), name
    assert (payload["method"], payload["dataset"], payload["forget"], payload["seed"]) == (
        "retrain", "digits", "class:3", 0)
    assert payload["model"] == "small_cnn"
    assert payload["n_forget"] + payload["n_retain"] == 1438 and payload["n_forget"] > 100
    assert payload["unlearned"]["forget_test_acc"] == 0 and payload["retrain"]["forget_test_acc"] == 0
    assert payload["original"]["forget_test_acc"] > 0.8
    assert payload["avg_gap"] == pytest.approx(0.0, abs=1e-9)  # the oracle against itself
    assert payload["time_s"] > 0 and payload["retrain_time_s"] > 0
    assert payload["params_changed_frac"] > 0.99  # a model retrained from scratch shares (almost) no weight
    assert payload["run_id"] and (runs["tmp"] / "ws" / "run" / payload["run_id"] / "result.json").is_file()


@pytest.mark.slow  # cost: one CLI process per command (each imports torch)
@pytest.mark.parametrize("case", list(BAD))
def test_bad_arguments_fail_with_one_line(runs, case: str) -> None:
    result = runs[case].result()
    message = BAD[case][1]
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--dataset", "digits", "--epochs", "0"], "epochs must be at least 1"),
        (["train", "--dataset", "digits", "--lr", "0"], "lr must be a positive number"),
        (["eval", "--dataset", "digits", "--checkpoint", "/no/such/file.safetensors"], "checkpoint not found"),
        (["eval", "--dataset", "digits", "--device", "tpu"], "unknown device 'tpu'"),
        (["train", "--dataset", "digits", "--data-option", "size"], "--data-option expects key=value"),
    ],
)
def test_more_bad_arguments_in_process(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    """The same error path, called in-process (no interpreter start-up): status 2 and one line."""
    from unlearn_core.cli import main

    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and message in captured.err
