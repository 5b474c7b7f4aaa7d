"""Unlearning Studio in a checkout: `streamlit run app.py` (installed: `unlearning-studio`).

`streamlit run` finds the ``st.App`` below and serves it: its lifespan imports the heavy modules
once, when the server starts (`studio_ui.startup`). Every visitor's session then runs this file as
its page script (``__main__``), which draws the app (`studio_ui.navigation.main`).
"""

import streamlit as st

if __name__ == "__main__":  # a session's script run (also AppTest.from_file)
    from studio_ui.navigation import main

    main()
else:  # imported by `streamlit run app.py` to serve the app
    from studio_ui.startup import lifespan

    app = st.App(__file__, lifespan=lifespan)
