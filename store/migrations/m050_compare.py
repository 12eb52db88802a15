"""Comparison: saved comparisons (a prompt set x systems x decode settings), exam evaluations, and the
content hash of a prompt set so an uploaded file imported twice becomes one set."""

SQL = """
ALTER TABLE prompt_sets ADD COLUMN content_hash VARCHAR;
ALTER TABLE prompts ADD COLUMN history JSON;
CREATE SEQUENCE seq_comparisons START 1;
CREATE SEQUENCE seq_exam_evals START 1;

-- one comparison: a prompt set answered by several systems ('base' or run ids) with one decode setting
CREATE TABLE comparisons (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_comparisons'),
    name VARCHAR NOT NULL,
    prompt_set_id INTEGER NOT NULL,
    systems JSON NOT NULL,              -- ["base", "run-id", ...] in column order
    base_model VARCHAR NOT NULL,        -- the base model of the 'base' system
    decode JSON NOT NULL,               -- preset, max_new_tokens, stop, seed, sampling values
    decode_preset VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- one exam evaluation of a system on an exam dataset (accuracy per type and subject, shuffles)
CREATE TABLE exam_evals (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_exam_evals'),
    model_system VARCHAR NOT NULL,      -- 'base' or a run id
    base_model VARCHAR,
    dataset_id INTEGER NOT NULL,
    shuffles INTEGER NOT NULL DEFAULT 0,
    seed INTEGER,
    decode JSON,
    n INTEGER NOT NULL,
    accuracy DOUBLE,
    shuffled_accuracy DOUBLE,           -- mean accuracy over the K shuffled presentations
    consistent DOUBLE,                  -- share of questions with the same choice in every presentation
    unparsed INTEGER,
    by_type JSON,
    by_subject JSON,
    details JSON,                       -- per question: id, type, subject, expected, chosen per presentation
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
"""
