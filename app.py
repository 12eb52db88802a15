"""The studio: Streamlit entry point. Navigation over pages/, nothing else."""
import streamlit as st

from pages.ui import signed_in, start
from studio.core.i18n import N_, _

start()  # first: it sets this run's language, which every title below is shown in
st.set_page_config(page_title=_("LLM Studio"), page_icon=":material/school:", layout="wide")

# Each workflow step adds its page to its section once its capability is real: (file stem, title, icon).
PAGES = {
    N_("Project"): [("home", N_("Home"), "home"), ("jobs", N_("Jobs"), "pending_actions"),
                    ("users", N_("Users"), "group"), ("tasks", N_("My tasks"), "assignment")],
    N_("Data"): [
        ("import_exam", N_("Import exam bank"), "quiz"), ("questions", N_("Exam questions"), "edit_note"),
        ("import_corpus", N_("Import corpus"), "article"), ("convert", N_("Convert"), "transform"),
        ("generate", N_("Generate"), "auto_awesome"), ("review", N_("Review"), "fact_check"),
        ("datasets", N_("Datasets"), "table_view"), ("snapshots", N_("Snapshots"), "photo_camera"),
        ("export", N_("Export"), "download"),
    ],
    N_("Train"): [("train", N_("Train"), "model_training"), ("runs", N_("Runs"), "monitoring")],
    N_("Evaluate"): [("compare", N_("Compare"), "compare"), ("results", N_("Results"), "leaderboard"),
                     ("playground", N_("Playground"), "chat"), ("reports", N_("Reports"), "table_chart")],
}


def allowed(stem: str) -> bool:
    """Every page but Users without accounts; with accounts, what the signed-in role may use."""
    from studio.service.accounts import may_open

    return stem != "users" if user is None else may_open(user, stem)


def navigation() -> dict:
    """This person's sections and pages in this run's language. Kept in the session (a page object is
    ~0.5 ms to make, a tenth of a small page's render); not shared between sessions, since running a
    page changes its object."""
    from studio.core.i18n import current

    shown = tuple(stem for section in PAGES.values() for stem, _t, _i in section if allowed(stem))
    kept = st.session_state.get("_studio_navigation")
    if kept is None or kept[0] != (current(), shown):
        sections = {_(section): [st.Page(f"pages/{stem}.py", title=_(title), icon=f":material/{icon}:",
                                         default=stem == "home") for stem, title, icon in pages if stem in shown]
                    for section, pages in PAGES.items()}
        kept = st.session_state["_studio_navigation"] = ((current(), shown),
                                                         {s: ps for s, ps in sections.items() if ps})
    return kept[1]


user = signed_in()  # None without accounts; with accounts, nobody gets past the sign-in without one
st.navigation(navigation(), expanded=True).run()
