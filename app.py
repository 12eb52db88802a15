"""The studio: Streamlit entry point. Navigation over pages/, nothing else."""
import streamlit as st

from pages.ui import start

st.set_page_config(page_title="LLM Studio", page_icon=":material/school:", layout="wide")
start()

# Each workflow step adds its page to its section once its capability is real.
PAGES = {
    "Project": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    ],
    "Data": [
    ],
    "Train": [
    ],
    "Evaluate": [
    ],
}

st.navigation({section: pages for section, pages in PAGES.items() if pages}).run()
