"""benchmarks/run_benchmarks.py: results.md is regenerated whole from stored tables, one JSON each."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def rb(benchmark_script):
    return benchmark_script("run_benchmarks")


def _table(forget: str, gap: float) -> dict:
    cell = {"mean": 0.5, "std": 0.0}
    row = {k: cell for k in ("forget_acc", "retain_acc", "test_acc", "forget_test_acc", "mia_efficacy")}
    return {
        "dataset": "digits", "model": "small_cnn", "forget": forget, "seeds": 1, "device": "cpu",
        "retrain": row, "skipped": [],
        "methods": {"del": {**row, "avg_gap": {"mean": gap, "std": 0.0}, "time_ratio": {"mean": 0.25, "std": 0.0}}},
    }


def test_rerunning_one_table_replaces_that_table_only(rb, tmp_path):
    results, out, template = tmp_path / "results", tmp_path / "results.md", tmp_path / "template.md"
    template.write_text("# Notes kept\n\n{{summary}}\n\nA: {{table:digits-class_3}}\n\nB: {{table:digits-random_0.1}}\n")
    rb.save_table(rb.table_name("digits", "class:3"), _table("class:3", 1.25), suite="digits", elapsed_s=3, results=results)
    rb.save_table(rb.table_name("digits", "random:0.1"), _table("random:0.1", 7.5), suite="digits", elapsed_s=4,
                  results=results)
    rb.write_results(out, template, results)
    first = out.read_text()
    assert "# Notes kept" in first and "1.25 ± 0.00" in first and "7.50 ± 0.00" in first
    assert "| del | 1.25 / 0.25 | 7.50 / 0.25 |" in first  # the summary matrix, one column per table

    rb.save_table(rb.table_name("digits", "class:3"), _table("class:3", 2.0), suite="digits", elapsed_s=3, results=results)
    rb.write_results(out, template, results)
    second = out.read_text()
    assert "2.00 ± 0.00" in second and "1.25 ± 0.00" not in second
    assert "7.50 ± 0.00" in second and "# Notes kept" in second  # the other table and the notes survive


def test_a_stored_table_the_template_does_not_place_is_appended_and_a_missing_one_is_named(rb, tmp_path):
    results = tmp_path / "results"
    rb.save_table("extra-class_3", _table("class:3", 0.5), suite="extra", elapsed_s=1, results=results)
    text = rb.render("{{table:digits-class_3}}\n", rb.load_tables(results))
    assert "Table `digits-class_3` has not been run yet" in text
    assert "## Other tables" in text and "0.50 ± 0.00" in text


def test_the_stored_tables_render_the_committed_results_md(rb):
    """results.md is exactly what the stored tables and the template give (nobody edits it by hand)."""
    assert rb.render(rb.TEMPLATE.read_text(), rb.load_tables()) == rb.OUT.read_text()


def test_rerunning_one_row_merges_it_and_keeps_the_other_rows(rb, tmp_path):
    def with_runs(table: dict, names: list[str], retrain_s: float) -> dict:
        retrain = {**table["retrain"], "retrain_time_s": {"mean": retrain_s, "std": 0.0}}
        return {**table, "retrain": retrain, "failed": [], "runs": [{"method": n, "seed": 0} for n in names]}

    stored = with_runs(_table("class:3", 1.25), ["del", "finetune"], 30.0)
    stored["methods"]["finetune"] = {**stored["methods"]["del"], "avg_gap": {"mean": 9.0, "std": 0.0}}
    stored["failed"] = [{"method": "del", "seed": 1, "error": "old failure"}]
    rerun = with_runs(_table("class:3", 0.5), ["del"], 20.0)
    merged = rb.merge_rows(stored, rerun, elapsed_s=12.0)
    assert merged["methods"]["del"]["avg_gap"]["mean"] == 0.5 and merged["methods"]["finetune"]["avg_gap"]["mean"] == 9.0
    assert [r["method"] for r in merged["runs"]] == ["finetune", "del"] and merged["failed"] == []
    assert merged["retrain"]["retrain_time_s"]["mean"] == 30.0  # the table's own retrain row is kept
    assert merged["reruns"][0]["methods"] == ["del"] and merged["reruns"][0]["retrain_time_s"] == 20.0
    assert stored["methods"]["del"]["avg_gap"]["mean"] == 1.25  # the stored table is not mutated
    text = rb.render_table({**merged, "suite": "digits", "elapsed_s": 40, "machine": "x", "torch": "t", "date": "d"})
    assert "Rerun on" in text and "del (12 s" in text and "20 s)" in text
    with pytest.raises(ValueError, match="forget"):
        rb.merge_rows(stored, with_runs(_table("random:0.1", 0.5), ["del"], 20.0), elapsed_s=1.0)
