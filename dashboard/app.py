"""Streamlit entry point (`ablab dashboard`): navigation; each page is a small module."""

import threading

import streamlit as st

from ablab.dashboard import viewstate

# An emoji icon is drawn in the browser; a :material/...: page icon is fetched from fonts.gstatic.com,
# which fails offline (a console error on every page) and tells Google who reads the dashboard.
st.set_page_config(page_title="ablab", page_icon="🧪", layout="wide")

PAGES = [
    st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("views/results.py", title="Results", icon=":material/monitoring:", url_path="results"),
    st.Page("views/runs.py", title="Runs", icon=":material/list:", url_path="runs"),
    st.Page("views/compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
    st.Page("views/claims.py", title="Claims", icon=":material/gavel:", url_path="claims"),
    st.Page("views/run.py", title="Run", icon=":material/play_arrow:", url_path="run"),
    st.Page("views/review.py", title="Review", icon=":material/rate_review:", url_path="review"),
    st.Page("views/embeddings.py", title="Embeddings", icon=":material/scatter_plot:", url_path="embeddings"),
    st.Page("views/plugins.py", title="Plugins", icon=":material/extension:", url_path="plugins"),
]


@st.cache_resource(show_spinner=False)
def _warm_up() -> None:
    """Once per dashboard process, import what the chart pages need (altair alone takes about a
    second) in the background while the first page is read, so a first view of Results does
    not wait for it. A page that needs a module before this thread has it simply waits for it."""

    def imports() -> None:
        import ablab.dashboard.charts  # noqa: F401  (altair)
        import ablab.dashboard.series  # noqa: F401

    threading.Thread(target=imports, name="ablab-warm-up", daemon=True).start()


def run() -> None:
    _warm_up()
    page = st.navigation(PAGES)
    viewstate.begin_page()
    page.run()
    viewstate.drop_unknown()  # reached only when the page ran to its end (st.stop and st.rerun raise)


run()
