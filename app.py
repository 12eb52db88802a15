"""The studio: Streamlit entry point. Navigation over pages/, nothing else."""
import streamlit as st

from pages.ui import start

st.set_page_config(page_title="LLM Studio", page_icon=":material/school:", layout="wide")
start()

# Each workflow step adds its page here once its capability is real.
PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
]

st.navigation(PAGES).run()
