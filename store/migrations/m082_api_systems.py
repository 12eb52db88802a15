"""API systems: OpenAI-compatible endpoints compared beside local runs, and why an output ended.

An API system is a label with a model name, a base URL and the NAME of the environment variable holding
its key (NULL: the studio's ``STUDIO_API_KEY_ENV``); the key itself is never stored. Each generation
records how it ended: ``stop`` (end of sequence or a stop string), ``length`` (max new tokens reached),
``content_filter`` (withheld by the endpoint) or ``error`` (the request failed; ``error`` says how, and
the output is asked again on the next run); NULL where it was not recorded.
"""

SQL = """
CREATE TABLE api_systems (
    label VARCHAR PRIMARY KEY,          -- how the system is named in comparisons ('api:' + label)
    model VARCHAR NOT NULL,             -- the model name sent to the endpoint
    base_url VARCHAR NOT NULL,          -- the OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1
    key_env VARCHAR,                    -- name of the environment variable holding the key (never the key)
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
ALTER TABLE generations ADD COLUMN finish_reason VARCHAR;
ALTER TABLE generations ADD COLUMN error VARCHAR;
"""
