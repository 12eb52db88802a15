"""Migration modules ``mNNN_name.py``, each holding ``SQL``; see ``store.migrate``."""
