"""Writers for each dataset format, in one registry; they never import streamlit."""
