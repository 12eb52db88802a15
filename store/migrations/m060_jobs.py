"""Jobs: every long operation, recorded so that it runs whether or not anyone watches, survives a restart
of the server and shows its progress on any page or in the CLI."""

SQL = """
CREATE SEQUENCE seq_jobs START 1;
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_jobs'),
    kind VARCHAR NOT NULL,              -- generate, export, dedup, ... (studio.service.kinds)
    args JSON NOT NULL,                 -- what to run; never an API key
    state VARCHAR NOT NULL DEFAULT 'queued',  -- queued running done failed cancelled interrupted
    done BIGINT NOT NULL DEFAULT 0,     -- progress: units done of total (passages, rows, steps)
    total BIGINT,
    message VARCHAR,                    -- the latest progress line, or why it failed
    result JSON,                        -- the summary the work returned
    who VARCHAR,                        -- who started it (an account, or 'cli' / 'page')
    cancel_requested BOOLEAN NOT NULL DEFAULT false,
    attempts INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,                        -- the server process running it
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    heartbeat TIMESTAMP
);
CREATE INDEX jobs_state ON jobs (state);
"""
