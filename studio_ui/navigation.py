"""The app's entry: navigation over the pages in `studio_ui/app_pages/` and the shared sidebar.

`streamlit run app.py` (in a checkout) and the `unlearning-studio` command (an installed package,
`studio_ui.launch`) both run `main()`. Pages are named by absolute paths (`page_file`), so links
work whichever file Streamlit was started on. They live in ``app_pages/``, not ``pages/``: a
``pages/`` folder beside the entry script makes Streamlit also serve its old multipage layout on
a first direct URL.
"""

from __future__ import annotations

from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parent / "app_pages"

# (file stem, title, icon), in the sidebar's order; the first is the default page
PAGES: tuple[tuple[str, str, str], ...] = (
    ("home", "Home", ":material/home:"),
    ("tour", "Guided tour", ":material/school:"),
    ("model_data", "Model & data", ":material/dataset:"),
    ("forget_set", "Forget set", ":material/playlist_remove:"),
    ("localization", "Localization", ":material/frame_inspect:"),
    ("concepts", "Concepts", ":material/psychology:"),
    ("unlearn", "Unlearn", ":material/auto_fix_high:"),
    ("compare", "Compare", ":material/compare:"),
    ("benchmarks", "Benchmarks", ":material/table_chart:"),
)


def page_file(name: str) -> str:
    """The absolute path of page `name` (a file stem of `PAGES`), for `st.page_link` / `st.switch_page`."""
    return str(PAGES_DIR / f"{name}.py")


def main() -> None:
    """Set up the page, draw the sidebar and run the chosen page inside the error boundary."""
    import streamlit as st

    from studio_ui import state
    from studio_ui.error_boundary import run_page
    from studio_ui.jobs import warm_workers
    from studio_ui.labels import glossary_expander
    from studio_ui.workspace_input import workspace_input
    from unlearn_core.device import available_devices

    st.set_page_config(page_title="Unlearning Studio", page_icon=":material/auto_fix_high:", layout="wide")
    pages = [st.Page(page_file(stem), title=title, icon=icon, default=i == 0)
             for i, (stem, title, icon) in enumerate(PAGES)]
    with st.sidebar:
        st.markdown("### :material/auto_fix_high: Unlearning Studio")
        _defaults = (state.workspace_root(), state.device_choice())  # set before the widgets bind to them
        workspace_input()
        st.selectbox(
            "Device", ["auto", *available_devices()], key="device_choice",
            help="auto picks cuda, then mps, then cpu.",
        )
        ref = state.data_ref()
        st.caption(f"Dataset: **{ref.name}** · model: {state.model_ref().label()}")
        selection = state.forget_selection()
        if selection:
            st.caption(f"Forget set: **{selection.description}**", help=f"Spec `{selection.spec}`")
        else:
            st.caption("Forget set: none chosen yet")
        glossary_expander()
    try:
        run_page(st.navigation(pages))  # the error boundary: one line and a way back instead of a traceback
    finally:  # also when the page reruns or switches: a stop, rerun or switch is an exception here
        # worker processes ready before the first Run click (issue 23), started once the page is drawn:
        # their imports take a core for seconds, which the first page would lose
        warm_workers()


if __name__ == "__main__":  # `streamlit run studio_ui/navigation.py`, as `unlearning-studio` does
    main()
