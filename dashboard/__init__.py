"""ablab.dashboard: Streamlit pages and pure Altair chart builders."""
