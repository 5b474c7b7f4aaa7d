"""Chart labels read as words (issue 25): probe legend, the chance label off the bars, the CKA reference."""

from __future__ import annotations

from types import SimpleNamespace

from studio_ui.concept_folders import probe_figure as concept_probe_figure
from studio_ui.inspect_charts import cka_caption, cka_figure, probe_figure


def test_probe_legend_names_the_bars() -> None:
    bank = SimpleNamespace(summary=lambda: [
        {"concept": "color=red", "heldout_accuracy": 0.9, "control": False},
        {"concept": "color=red (control)", "heldout_accuracy": 0.5, "control": True}])
    fig = concept_probe_figure(bank)
    names = {t.name for t in fig.data}
    assert names == {"concept probe", "random-label control (chance by design)"}, names
    assert not any(n in ("True", "False") for n in names)


def test_chance_label_sits_outside_the_bars() -> None:
    fig = probe_figure({"original": 0.9, "unlearned": 0.5, "retrain": 0.85})
    chance = [a for a in fig.layout.annotations if a.text == "chance"]
    assert len(chance) == 1 and chance[0].xref == "paper" and chance[0].x >= 1.0  # in the right margin


def test_cka_reference_is_drawn_under_and_described_as_drawn() -> None:
    layers = [{"name": n, "cka_vs_original": 0.9, "cka_vs_retrain": 0.8, "cka_original_vs_retrain": 0.8}
              for n in ("conv1", "conv2")]
    fig = cka_figure(layers)
    assert fig.data[0].name.startswith("original vs retrained")  # first trace: under the others
    assert fig.data[0].line.dash == "dash" and fig.data[0].line.width > fig.data[-1].line.width
    assert "grey dashes:" not in cka_caption() and "drawn under" in cka_caption()


def test_selection_dots_are_readable_on_dark_cells() -> None:
    """Selected channels: a white dot ringed in black (a black dot vanished on Viridis' dark cells)."""
    from studio_ui.localization_charts import SELECTED_MARKER

    assert SELECTED_MARKER["color"] == "white" and SELECTED_MARKER["line"]["color"] == "black"
