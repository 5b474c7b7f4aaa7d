"""Compare's CKA, prediction-matrix and probe spinners (issue 25 item 2): a measured estimate when
the workspace lacks the result, none when it holds it (then nothing is estimated at all)."""

from __future__ import annotations

import shutil
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

import studio_ui.inspect_view as inspect_view
from unlearn_core.inspect import WorkEstimate
from unlearn_core.workspace.cache_folder import CACHE_FOLDER


def test_spinners_say_the_estimate_only_for_what_is_not_stored(app: AppTest, digits_external_run, tmp_path: Path,
                                                               monkeypatch) -> None:
    root = tmp_path / "workspace_copy"
    shutil.copytree(digits_external_run[0], root)
    shutil.rmtree(root / CACHE_FOLDER, ignore_errors=True)  # nothing of this run computed yet
    said: list[tuple[str, bool]] = []
    real_spinner = st.spinner

    def recording(text: str, *args, show_time: bool = False, **kwargs):
        said.append((text, show_time))
        return real_spinner(text, *args, show_time=show_time, **kwargs)

    asked: list[tuple[int, int]] = []

    def measured(run, sample, *, device):  # what estimate_layer_similarity would measure on a slower machine
        asked.append((len(sample.forget_idx), len(sample.test_idx)))
        return WorkEstimate(4.2, 5, asked[-1])

    monkeypatch.setattr(st, "spinner", recording)
    monkeypatch.setattr(inspect_view, "estimate_layer_similarity", measured)
    app.session_state["workspace_root"] = str(root)
    app.switch_page("studio_ui/app_pages/compare.py").run()
    assert not app.exception and not app.error, (app.exception, [e.value for e in app.error])
    assert len(asked) == 1  # once per run and server
    n_forget, n_test = asked[0]
    assert n_forget != n_test  # digits: fewer forget 3s than 300
    cka = [(text, timed) for text, timed in said if text.startswith("Comparing the layers")]
    assert cka == [(f"Comparing the layers (CKA) of 5 models on {n_forget} + {n_test} images: about 4 s...", True)], cka
    # the projection ran the models on the forget set and test split first: the matrices and the
    # probe read stored outputs, well under a second, so their spinners say no figure
    assert ("Predicting the forget samples...", False) in said and ("Training the linear probes...", False) in said

    estimated: list[str] = []
    st.cache_resource.clear()  # a restarted server: every inspection result is read from the workspace
    said.clear()
    for name in ("estimate_layer_similarity", "estimate_prediction_view", "estimate_probe_view"):
        monkeypatch.setattr(inspect_view, name, lambda *args, name=name, **kwargs: estimated.append(name))
    app.run()
    assert not app.exception and not app.error, (app.exception, [e.value for e in app.error])
    assert estimated == []  # nothing measured for what the workspace holds
    assert ("Comparing the layers (CKA)...", False) in said and ("Predicting the forget samples...", False) in said
