"""Streamlit entry point: `streamlit run` executes this file."""

import pandas as pd
import streamlit as st

from ablab.core.cli import plugin_rows
from ablab.core.registry import default_registry

st.set_page_config(page_title="ablab", layout="wide")
st.title("ablab")
st.caption("Ablation lab for recurrent and deep networks.")
st.subheader("Registered plugins")
registry = default_registry()
st.dataframe(pd.DataFrame(plugin_rows(registry)), hide_index=True, use_container_width=True)
if registry.failures:
    st.error(f"{len(registry.failures)} plugin(s) failed to load; see the rows with status 'failed'.")
