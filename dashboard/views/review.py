"""Review: notes and a verdict per study, stored with author and time."""

import pandas as pd
import streamlit as st

from ablab.core.lab import aggregates
from ablab.dashboard.common import get_store, memo, study_picker
from ablab.dashboard.data import stamp
from ablab.dashboard.viewstate import wkey

VERDICTS = ["convincing", "needs more seeds", "needs a different setup", "not convincing"]

st.title("Review")
store = get_store()
study = study_picker(store)
if study is None:
    st.stop()
reviews = store.reviews_of(study)
if reviews:
    table = pd.DataFrame(reviews)
    table["time"] = table["created_at"].map(stamp)
    table["edited"] = [stamp(r["edited_at"]) if r.get("edited_at") else "" for r in reviews]
    st.dataframe(table[["time", "author", "verdict", "note", "edited"]], hide_index=True, width="stretch")
    with st.expander("Notes in full"):  # the table's cells cut a long note at its width
        for r in reversed(reviews):
            edited = f" · edited {stamp(r['edited_at'])}" if r.get("edited_at") else ""
            st.caption(f"{stamp(r['created_at'])} · {r['author']} · {r['verdict']}{edited}")
            st.text(r["note"])  # as typed: line breaks kept, nothing read as Markdown
    with st.expander("Correct a note"):
        # anyone on the team may correct a note (there are no accounts); its author and time stay
        # and the table says when it was edited
        by_id = {r["id"]: r for r in reviews}
        picked = st.selectbox(
            "Note",
            list(by_id),
            format_func=lambda i: f"{stamp(by_id[i]['created_at'])} · {by_id[i]['author']} · {by_id[i]['note'][:50]}",
            key=wkey("edit_note"),
        )
        old = by_id[picked]
        with st.form(f"edit_{picked}"):  # a form per note: its fields start from that note's text
            verdict = st.selectbox(
                "Verdict", VERDICTS, index=VERDICTS.index(old["verdict"]) if old["verdict"] in VERDICTS else 0
            )
            note = st.text_area("Note", value=old["note"], key=wkey(f"edit_text_{picked}"))
            if st.form_submit_button("Save changes"):
                if not note.strip():
                    st.error("A note cannot be empty.")
                else:
                    store.edit_review(study, picked, note.strip(), verdict)
                    st.rerun()
else:
    st.caption("No review notes yet.")
# A refused note keeps what was typed; only a saved one clears the form (new widget keys, as
# clear_on_submit would clear a refused one too).
fresh = st.session_state.get("review_form", 0)
with st.form(f"review_{fresh}"):
    # a reviewer writes several notes in a row: the name they gave last time stays filled in
    author = st.text_input("Your name", value=st.session_state.get("review_author", ""), key=f"review_author_{fresh}")
    verdict = st.selectbox("Verdict", VERDICTS, key=f"review_verdict_{fresh}")
    note = st.text_area("Note", key=f"review_note_{fresh}")
    if st.form_submit_button("Save note"):
        if not author.strip() or not note.strip():
            st.error("Give your name and a note.")
        else:
            store.add_review(study, author.strip(), note.strip(), verdict)
            st.session_state["review_form"] = fresh + 1
            st.session_state["review_author"] = author.strip()
            st.rerun()

token = store.state_token()
counts = memo((store.url, study, token, "run counts"), lambda: aggregates.run_counts(store, study))
if not counts.empty:
    from ablab.dashboard.report import build_report, headline_columns, report_columns

    # the column names only (the axes, counts and summary names): no run's values are read here
    every = memo((store.url, study, token, "report columns"), lambda: report_columns(store, study))
    columns = st.multiselect(
        "Report table columns",
        every,
        default=headline_columns(every),
        key=wkey("report_columns"),
        help=f"{len(every)} columns in all; the report shows these "
        f"(`ablab results {study} --columns all` prints every one).",
    )

    # Built on click, in its own thread: drawing the charts as SVG takes seconds and must not
    # hold up the notes above.
    st.download_button(
        "Export HTML report",
        lambda: build_report(store, study, columns or None).encode(),
        file_name=f"{study}-report.html",
        mime="text/html",
        key="report",
    )
else:
    st.caption(f"Study {study!r} has no runs yet; there is nothing to report.")
