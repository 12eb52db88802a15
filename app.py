"""The studio: Streamlit entry point. Navigation over pages/, nothing else."""
import streamlit as st

from pages.ui import start
from studio.core.i18n import _

start()  # first: it sets this run's language, which every title below is shown in
st.set_page_config(page_title=_("LLM Studio"), page_icon=":material/school:", layout="wide")

# Each workflow step adds its page to its section once its capability is real.
PAGES = {
    _("Project"): [
        st.Page("pages/home.py", title=_("Home"), icon=":material/home:", default=True),
        st.Page("pages/jobs.py", title=_("Jobs"), icon=":material/pending_actions:"),
    ],
    _("Data"): [
        st.Page("pages/import_exam.py", title=_("Import exam bank"), icon=":material/quiz:"),
        st.Page("pages/questions.py", title=_("Exam questions"), icon=":material/edit_note:"),
        st.Page("pages/import_corpus.py", title=_("Import corpus"), icon=":material/article:"),
        st.Page("pages/convert.py", title=_("Convert"), icon=":material/transform:"),
        st.Page("pages/generate.py", title=_("Generate"), icon=":material/auto_awesome:"),
        st.Page("pages/review.py", title=_("Review"), icon=":material/fact_check:"),
        st.Page("pages/datasets.py", title=_("Datasets"), icon=":material/table_view:"),
        st.Page("pages/snapshots.py", title=_("Snapshots"), icon=":material/photo_camera:"),
        st.Page("pages/export.py", title=_("Export"), icon=":material/download:"),
    ],
    _("Train"): [
        st.Page("pages/train.py", title=_("Train"), icon=":material/model_training:"),
        st.Page("pages/runs.py", title=_("Runs"), icon=":material/monitoring:"),
    ],
    _("Evaluate"): [
        st.Page("pages/compare.py", title=_("Compare"), icon=":material/compare:"),
        st.Page("pages/results.py", title=_("Results"), icon=":material/leaderboard:"),
    ],
}

st.navigation({section: pages for section, pages in PAGES.items() if pages}).run()
