"""Jobs remember the device a model job was placed on (one queue of devices with the fine-tunes) and the
language of the person who started them (their messages are written in it)."""

SQL = """
ALTER TABLE jobs ADD COLUMN device VARCHAR;   -- 'cpu' or 'cuda:N' while a model job runs; NULL for io jobs
ALTER TABLE jobs ADD COLUMN lang VARCHAR;     -- zh or en: the language of its messages
"""
