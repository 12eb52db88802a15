"""Corpora, generation and review (issue 4).

- generation_batches gains what a resumable, stoppable batch needs: the number of passages it covers,
  a stop request (the page asks, the runner obeys between passages), a heartbeat and pid (a batch
  whose runner died shows as interrupted and can be resumed), and the error that ended it.
- batch_passages: one row per passage a batch has finished (samples written or a failure recorded);
  its primary key is what makes "never the same passage twice" a database guarantee.
- exam_questions gain passage and request provenance for questions an LLM wrote from a passage.
- review_decisions: every accept / edit / reject with the reviewer (throughput, history).
- review_positions: where each reviewer stands in each dataset's queue (kept across reloads).
"""

SQL = """
ALTER TABLE generation_batches ADD COLUMN passages_total INTEGER DEFAULT 0;
ALTER TABLE generation_batches ADD COLUMN stop_requested BOOLEAN DEFAULT false;
ALTER TABLE generation_batches ADD COLUMN heartbeat_at TIMESTAMP;
ALTER TABLE generation_batches ADD COLUMN pid INTEGER;
ALTER TABLE generation_batches ADD COLUMN error VARCHAR;

CREATE TABLE batch_passages (
    batch_id INTEGER NOT NULL,
    passage_id BIGINT NOT NULL,
    status VARCHAR NOT NULL,            -- ok | failed | unparsed | empty
    samples INTEGER NOT NULL DEFAULT 0,
    error VARCHAR,
    finished_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (batch_id, passage_id)
);

ALTER TABLE exam_questions ADD COLUMN passage_id BIGINT;
ALTER TABLE exam_questions ADD COLUMN request_id BIGINT;

CREATE SEQUENCE seq_review_decisions START 1;
CREATE TABLE review_decisions (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_review_decisions'),
    sample_id BIGINT NOT NULL,
    dataset_id INTEGER NOT NULL,
    reviewer VARCHAR NOT NULL,
    action VARCHAR NOT NULL,            -- accept | edit-accept | reject | reset
    reason VARCHAR,
    bulk BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE review_positions (
    dataset_id INTEGER NOT NULL,
    reviewer VARCHAR NOT NULL,
    sample_id BIGINT,
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (dataset_id, reviewer)
);
"""
