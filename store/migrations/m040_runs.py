"""Runs: the device a run occupies (the queue runs one run per device), the estimate shown before start,
how much of metrics.jsonl was ingested, how often the run was resumed."""

SQL = """
ALTER TABLE runs ADD COLUMN device VARCHAR DEFAULT 'cpu';
ALTER TABLE runs ADD COLUMN estimate JSON;
ALTER TABLE runs ADD COLUMN metrics_bytes BIGINT DEFAULT 0;
ALTER TABLE runs ADD COLUMN resumes INTEGER DEFAULT 0;
ALTER TABLE runs ADD COLUMN heartbeat TIMESTAMP;
"""
