"""A seed study as a few lines of text (the CLI's ``study`` without ``--json``)."""

from __future__ import annotations

from typing import Any

from unlearn_core.metrics.definitions import METRICS


def _pct(cell: dict[str, Any]) -> str:
    return "–" if cell["mean"] is None else f"{100 * cell['mean']:.1f} ± {100 * cell['std']:.1f}"


def study_text(result: dict[str, Any]) -> str:
    """Per metric: retrained and unlearned mean ± std (%), the verdict; then the noise floor and F."""
    lines = [f"{result['method']} forgetting {result['forget']} on {result['dataset']}, K = {result['k']} seeds per side"
             + (" (stored study)" if result.get("reused") else "")]
    for key, verdict in result["verdict"].items():
        label = METRICS.get(key).label
        lines.append(f"  {label:<30} retrain {_pct(result['retrain'][key]):>13}   unlearned "
                     f"{_pct(result['unlearned'][key]):>13}   {verdict}")
    floor, gap = result["noise_floor"]["avg_gap"], result["gap_to_retrain"]["mean"]
    if floor is not None and gap is not None:
        lines.append(f"  average gap to a retrained model {gap:.2f} pts (retraining vs retraining: {floor:.2f} pts)")
    quality = result["forgetting_quality"]
    if quality is not None and quality == quality:
        lines.append(f"  forgetting quality F = {quality:.3f} (retraining vs retraining at this K: "
                     f"{result['forgetting_quality_null']:.3f})")
    lines.append(f"  verdict: {result['verdict_overall']} retraining's spread; {result['time_s']:.0f} s")
    return "\n".join(lines)
