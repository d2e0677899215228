"""Home: what the store holds and where to go next."""

import pandas as pd
import streamlit as st

from ablab.core.lab.status import STATUSES
from ablab.dashboard.common import empty_store, get_store

st.title("ablab")
st.caption(
    "Ablation studies on recurrent and deep networks: exact BPTT in numpy, probes while they learn, "
    "verdicts on classic claims."
)
store = get_store()
st.caption(f"Store: `{store.display_url}`")
studies = store.studies()
if not studies:
    empty_store()
    st.page_link("views/claims.py", label="Run a claim study", icon=":material/gavel:")
    st.page_link("views/run.py", label="Build your own study", icon=":material/play_arrow:")
    st.stop()
rows = [{"study": s["name"], **{k: s["counts"].get(k, 0) for k in STATUSES}} for s in studies]
st.subheader("Studies in this store")
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
for s in studies:
    st.page_link(
        "views/results.py",
        label=f"Results of {s['name']}",
        query_params={"study": s["name"]},
        icon=":material/monitoring:",
    )
