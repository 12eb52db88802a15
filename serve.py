"""Start the studio: ``streamlit run app.py`` (127.0.0.1 by .streamlit/config.toml), navigation by app.py only.

Streamlit decides on the first script run of a server process whether a ``pages/`` folder beside the
main script means its legacy automatic navigation; that first session would then list every file in
``pages/`` (``ui`` included) and could open a page without ``app.py``'s start-up. The studio navigates
with ``st.navigation`` alone, so it says so before the first run. Extra arguments go to
``streamlit run`` (e.g. ``--server.port 8600``).
"""
import sys
from pathlib import Path

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli

PagesManager.uses_pages_directory = False

if __name__ == "__main__":
    app = str(Path(__file__).resolve().parent / "app.py")
    sys.exit(cli.main(["run", app, *sys.argv[1:]], prog_name="streamlit"))
