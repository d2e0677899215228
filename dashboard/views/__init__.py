"""Dashboard pages, one small script each (run by st.navigation)."""
