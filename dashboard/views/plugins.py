"""Plugins: every registered plugin with provider, version, options and docs; failures."""

import inspect

import pandas as pd
import streamlit as st

from ablab.core.plugin_system.registry import KINDS, default_registry, plugin_rows

st.title("Plugins")
registry = default_registry()
rows = pd.DataFrame(plugin_rows(registry))
if registry.failures:
    st.error(f"{len(registry.failures)} plugin(s) failed to load and were skipped:")
    for f in registry.failures:
        st.code(f"{f.provider} {f.version}: {f.error}", language=None)
kind = st.radio("Kind", list(KINDS), horizontal=True, key="plugin_kind")
st.dataframe(rows[rows["kind"] == kind], hide_index=True, width="stretch")
for entry in registry.of_kind(kind):
    with st.expander(f"{entry.name}  ·  {entry.provider} {entry.version}"):
        defaults = getattr(entry.obj, "defaults", None)
        if defaults:
            st.write("Options and defaults:", dict(defaults))
        doc = inspect.getdoc(entry.obj) or entry.summary
        st.text(doc)
