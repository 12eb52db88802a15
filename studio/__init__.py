"""Domain logic of the studio, importable without Streamlit."""
