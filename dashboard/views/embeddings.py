"""Embeddings: skip-gram vectors of a corpus task (the bundled template corpus, or WordNet's
glosses when installed), as a heatmap, a 2-D map and nearest neighbours. The view trains what
it shows, once per setting (cached); the page says how long that took, since it grows with the
dimensions and the corpus (seconds for the templates, tens of seconds for WordNet)."""

import time

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from ablab.core.engine.word2vec import SGNSConfig, train_sgns
from ablab.core.errors import ConfigError
from ablab.core.plugin_system.registry import default_registry

CORPORA = {
    "wordpairs": "a template corpus written for ablab, where antonyms share their contexts by construction",
    "wordnet": "WordNet 3.0's definitions and examples (a 40% sample), real text",
}
st.title("Embeddings")
corpus = st.selectbox("Corpus", list(CORPORA), key="e_corpus")
st.caption(f"Skip-gram with negative sampling on {CORPORA[corpus]}.")
c1, c2, c3, c4 = st.columns(4)
dim = c1.number_input("dimensions", 2, 128, 16, key="e_dim")
window = c2.number_input("window", 1, 8, 2, key="e_window")
epochs = c3.number_input("epochs", 1, 50, 5, key="e_epochs")
seed = c4.number_input("seed", 0, 10_000, 0, key="e_seed")


@st.cache_data(show_spinner="Training word vectors...")
def vectors(corpus: str, dim: int, window: int, epochs: int, seed: int):
    started = time.perf_counter()
    task = default_registry().get("task", corpus)()
    batch = 4096 if corpus == "wordnet" else 256  # a million words: large batches (as the studies)
    config = SGNSConfig(dim=dim, window=window, epochs=epochs, batch=batch)
    v, losses = train_sgns(task.corpus(seed), task.vocab, config, seed)
    unit = v / np.linalg.norm(v, axis=1, keepdims=True)
    return task.words, unit, losses, task.showcase_words, time.perf_counter() - started


try:
    words, unit, losses, default, took = vectors(corpus, int(dim), int(window), int(epochs), int(seed))
except ConfigError as e:  # WordNet not installed
    st.error(str(e))
    st.stop()
index = {w: i for i, w in enumerate(words)}
st.caption(
    f"trained in {took:.1f} s (kept for these settings); loss per epoch: " + ", ".join(f"{x:.3f}" for x in losses)
)
# Word labels in the page's text colour: Vega's default black vanishes on the dark theme.
TEXT = "#fafafa" if st.context.theme.type == "dark" else "#262730"
chosen = st.multiselect("Words", words, default=[w for w in default if w in index], key="e_words")
if len(chosen) >= 2:
    sub = unit[[index[w] for w in chosen]]
    sims = sub @ sub.T
    frame = pd.DataFrame(
        [(a, b, float(sims[i, j])) for i, a in enumerate(chosen) for j, b in enumerate(chosen)],
        columns=["a", "b", "cosine"],
    )
    heat = (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=alt.X("a:N", sort=chosen, title=None),
            y=alt.Y("b:N", sort=chosen, title=None),
            color=alt.Color("cosine:Q", scale=alt.Scale(domain=[-1, 1], scheme="redblue", reverse=True)),
            tooltip=["a", "b", alt.Tooltip("cosine:Q", format=".3f")],
        )
        .properties(title="Cosine similarity", height=420)
    )
    centred = sub - sub.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    points = pd.DataFrame({"word": chosen, "pc1": xy[:, 0], "pc2": xy[:, 1]})
    base = alt.Chart(points).encode(x=alt.X("pc1:Q", title="PC 1"), y=alt.Y("pc2:Q", title="PC 2"), tooltip=["word"])
    scatter = (
        base.mark_circle(size=80) + base.mark_text(dx=8, align="left", color=TEXT).encode(text="word:N")
    ).properties(title="PCA projection", height=420)
    left, right = st.columns(2)
    left.altair_chart(heat, width="stretch")
    right.altair_chart(scatter, width="stretch")
else:
    st.info("Pick at least two words.")
query = st.text_input("Nearest neighbours of", value="hot", key="e_query").strip().lower()
if query in index:
    sims = unit @ unit[index[query]]
    order = [i for i in np.argsort(-sims) if words[i] != query][:8]
    st.dataframe(
        pd.DataFrame({"word": [words[i] for i in order], "cosine": [round(float(sims[i]), 3) for i in order]}),
        hide_index=True,
    )
elif query:
    st.warning(f"{query!r} is not in the corpus vocabulary; words include: {', '.join(words[:12])}, ...")
