"""The studio: Streamlit entry point. Navigation over pages/, nothing else."""
import streamlit as st

from pages.ui import start

st.set_page_config(page_title="LLM Studio", page_icon=":material/school:", layout="wide")
start()

# Each workflow step adds its page to its section once its capability is real.
PAGES = {
    "Project": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/jobs.py", title="Jobs", icon=":material/pending_actions:"),
    ],
    "Data": [
        st.Page("pages/import_exam.py", title="Import exam bank", icon=":material/quiz:"),
        st.Page("pages/questions.py", title="Exam questions", icon=":material/edit_note:"),
        st.Page("pages/import_corpus.py", title="Import corpus", icon=":material/article:"),
        st.Page("pages/convert.py", title="Convert", icon=":material/transform:"),
        st.Page("pages/generate.py", title="Generate", icon=":material/auto_awesome:"),
        st.Page("pages/review.py", title="Review", icon=":material/fact_check:"),
        st.Page("pages/datasets.py", title="Datasets", icon=":material/table_view:"),
        st.Page("pages/snapshots.py", title="Snapshots", icon=":material/photo_camera:"),
        st.Page("pages/export.py", title="Export", icon=":material/download:"),
    ],
    "Train": [
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/monitoring:"),
    ],
    "Evaluate": [
        st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
        st.Page("pages/results.py", title="Results", icon=":material/leaderboard:"),
    ],
}

st.navigation({section: pages for section, pages in PAGES.items() if pages}).run()
