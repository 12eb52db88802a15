"""The records of the design, all at once, so later work adds columns rather than reshaping tables.

Conventions: integer ids from sequences; ``created_at`` / ``updated_at`` timestamps; JSON columns hold
structured values (options, configs); every editable row carries ``version`` (optimistic concurrency:
an update states the version it saw and bumps it). Provenance columns name the file, sheet and row,
the passage, the request and the reviewer a row came from.
"""

SQL = """
CREATE SEQUENCE seq_datasets START 1;
CREATE SEQUENCE seq_imports START 1;
CREATE SEQUENCE seq_questions START 1;
CREATE SEQUENCE seq_documents START 1;
CREATE SEQUENCE seq_passages START 1;
CREATE SEQUENCE seq_samples START 1;
CREATE SEQUENCE seq_templates START 1;
CREATE SEQUENCE seq_batches START 1;
CREATE SEQUENCE seq_requests START 1;
CREATE SEQUENCE seq_bulk START 1;
CREATE SEQUENCE seq_prompt_sets START 1;
CREATE SEQUENCE seq_prompts START 1;
CREATE SEQUENCE seq_generations START 1;
CREATE SEQUENCE seq_ratings START 1;
CREATE SEQUENCE seq_votes START 1;
CREATE SEQUENCE seq_judge START 1;

-- a named collection: an exam bank, a corpus, or a set of training samples
CREATE TABLE datasets (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_datasets'),
    name VARCHAR NOT NULL UNIQUE,
    kind VARCHAR NOT NULL,              -- exam | corpus | samples
    description VARCHAR DEFAULT '',
    system_prompt VARCHAR,              -- optional system prompt given to every sample of the dataset
    domain_prefix VARCHAR,              -- optional prefix before every prompt (as YaYi prefixes a domain)
    licence VARCHAR,                    -- carried into export cards
    meta JSON,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- one import of one file: what it was, how it was mapped, what was rejected
CREATE TABLE imports (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_imports'),
    dataset_id INTEGER NOT NULL,
    kind VARCHAR NOT NULL,              -- exam | corpus | pairs
    source_file VARCHAR NOT NULL,
    source_sha256 VARCHAR,
    options JSON,                       -- mapping, sheets, encoding, judge convention
    rows_total INTEGER,
    rows_imported INTEGER,
    rows_rejected INTEGER,
    errors JSON,                        -- [{sheet, row, reason}]
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- exam question (题库): options as [{label, text}], answer labels as a list
CREATE TABLE exam_questions (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_questions'),
    dataset_id INTEGER NOT NULL,
    import_id INTEGER,
    ext_id VARCHAR,                     -- the file's own id / 序号
    subject VARCHAR,                    -- 专业 / 科目
    qtype VARCHAR NOT NULL,             -- single | multi | judge | blank | open
    question VARCHAR NOT NULL,
    options JSON,                       -- [{"label": "A", "text": "雨鞋"}, ...]
    answer_labels VARCHAR[],            -- ["B"]; empty for blank / open
    answer_text VARCHAR,                -- "绝缘靴"; joined by "; " when several
    basis VARCHAR,                      -- 题目依据条款 / explanation
    source_file VARCHAR,
    source_sheet VARCHAR,
    source_row INTEGER,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- an imported document of a corpus
CREATE TABLE documents (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_documents'),
    dataset_id INTEGER NOT NULL,
    import_id INTEGER,
    title VARCHAR,
    source_file VARCHAR,
    chars INTEGER,
    meta JSON,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- a chunk of a document, in order
CREATE TABLE passages (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_passages'),
    document_id INTEGER NOT NULL,
    dataset_id INTEGER NOT NULL,
    ord INTEGER NOT NULL,
    heading VARCHAR,                    -- the chapter / article it sits under
    text VARCHAR NOT NULL,
    char_start INTEGER,
    char_end INTEGER,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- one training pair; canonical fields instruction / input / output (+ system, history)
CREATE TABLE samples (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_samples'),
    dataset_id INTEGER NOT NULL,
    instruction VARCHAR NOT NULL DEFAULT '',
    input VARCHAR NOT NULL DEFAULT '',
    output VARCHAR NOT NULL DEFAULT '',
    system VARCHAR,
    history JSON,                       -- [[question, answer], ...] earlier turns
    status VARCHAR NOT NULL DEFAULT 'draft',   -- draft | pending | accepted | rejected
    tags VARCHAR[] DEFAULT [],
    origin VARCHAR NOT NULL DEFAULT 'imported', -- exam-qa | exam-choice | generated | cloze | imported
    qtype VARCHAR,                      -- the exam type it came from, when it came from one
    question_id BIGINT,                 -- provenance: exam question
    passage_id BIGINT,                  -- provenance: passage
    request_id BIGINT,                  -- provenance: the LLM request that wrote it
    import_id INTEGER,
    source_file VARCHAR,
    source_row INTEGER,
    template VARCHAR,                   -- the template that rendered it
    flags VARCHAR[] DEFAULT [],         -- review flags (unsupported, duplicate, too-short, ...)
    reviewer VARCHAR,
    review_reason VARCHAR,
    reviewed_at TIMESTAMP,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- prompt templates as data: conversion, generation and judge prompts
CREATE TABLE templates (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_templates'),
    name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,              -- convert | generate | judge
    body JSON NOT NULL,
    builtin BOOLEAN NOT NULL DEFAULT false,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    UNIQUE (kind, name)
);

-- a generation batch over a corpus (resumable)
CREATE TABLE generation_batches (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_batches'),
    corpus_dataset_id INTEGER NOT NULL,
    into_dataset_id INTEGER NOT NULL,
    strategy VARCHAR NOT NULL,          -- qa | exam | self-instruct | cloze
    template_id INTEGER,
    model VARCHAR,
    base_url VARCHAR,
    options JSON,                       -- temperature, concurrency, rpm, budget ... never the key
    state VARCHAR NOT NULL DEFAULT 'pending',  -- pending | running | done | stopped | failed
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- every LLM request: model, options, prompt, response, tokens, duration
CREATE TABLE llm_requests (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_requests'),
    batch_id INTEGER,
    passage_id BIGINT,
    purpose VARCHAR,                    -- generate | judge | ...
    step VARCHAR,                       -- e.g. questions / answers of a two-step strategy
    model VARCHAR,
    options JSON,
    prompt JSON,                        -- the messages sent
    response VARCHAR,
    status VARCHAR NOT NULL,            -- ok | failed | unparsed
    error VARCHAR,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cost DOUBLE,
    duration_ms INTEGER,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- the last bulk action per dataset, kept for one-step undo
CREATE TABLE bulk_actions (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_bulk'),
    dataset_id INTEGER NOT NULL,
    action VARCHAR NOT NULL,
    params JSON,
    affected INTEGER,
    undo JSON,                          -- what undo needs (ids and prior values, or a backup table name)
    undone BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- a frozen, hashed copy of accepted samples, split train / validation
CREATE TABLE snapshots (
    id VARCHAR PRIMARY KEY,             -- short content-derived id
    name VARCHAR,
    dataset_id INTEGER,
    spec JSON,                          -- datasets and proportions mixed, filters
    seed INTEGER,
    val_ratio DOUBLE,
    content_hash VARCHAR NOT NULL,
    n_train INTEGER NOT NULL DEFAULT 0,
    n_validation INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE snapshot_samples (
    snapshot_id VARCHAR NOT NULL,
    ord INTEGER NOT NULL,
    split VARCHAR NOT NULL,             -- train | validation
    sample_id BIGINT,
    dataset_id INTEGER,
    instruction VARCHAR NOT NULL,
    input VARCHAR NOT NULL,
    output VARCHAR NOT NULL,
    system VARCHAR,
    history JSON,
    origin VARCHAR,
    qtype VARCHAR,
    PRIMARY KEY (snapshot_id, ord)
);

-- a fine-tune; the trainer owns its run folder, the app mirrors it here
CREATE TABLE runs (
    id VARCHAR PRIMARY KEY,
    name VARCHAR,
    base_model VARCHAR NOT NULL,
    method VARCHAR NOT NULL,            -- lora | prefix
    config JSON NOT NULL,
    snapshot_id VARCHAR,
    parent_run_id VARCHAR,              -- chained incremental training
    dir VARCHAR NOT NULL,
    command VARCHAR,                    -- the command line launched
    state VARCHAR NOT NULL DEFAULT 'queued',  -- queued | running | done | failed | cancelled
    pid INTEGER,
    step INTEGER DEFAULT 0,
    total INTEGER DEFAULT 0,
    final_loss DOUBLE,
    eval_loss DOUBLE,
    error VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE run_metrics (
    run_id VARCHAR NOT NULL,
    step INTEGER NOT NULL,
    epoch DOUBLE,
    loss DOUBLE,
    eval_loss DOUBLE,
    learning_rate DOUBLE,
    tokens_per_s DOUBLE,
    logged_at TIMESTAMP
);

-- comparison side: prompts, generations, ratings, votes, judge scores
CREATE TABLE prompt_sets (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_prompt_sets'),
    name VARCHAR NOT NULL UNIQUE,
    source VARCHAR,                     -- snapshot:ID | exam:DATASET | file name
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE prompts (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_prompts'),
    prompt_set_id INTEGER NOT NULL,
    ord INTEGER NOT NULL,
    prompt VARCHAR NOT NULL,
    system VARCHAR,
    category VARCHAR,
    reference VARCHAR,
    question_id BIGINT
);

-- keyed by prompt text, system prompt, model system (base or run) and decode settings
CREATE TABLE generations (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_generations'),
    prompt_key VARCHAR NOT NULL,        -- hash of prompt + system prompt
    prompt VARCHAR NOT NULL,
    system_prompt VARCHAR,
    model_system VARCHAR NOT NULL,      -- 'base' or a run id
    base_model VARCHAR,
    decode_key VARCHAR NOT NULL,
    decode JSON,
    output VARCHAR NOT NULL,
    duration_ms INTEGER,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    UNIQUE (prompt_key, model_system, decode_key)
);

CREATE TABLE ratings (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_ratings'),
    generation_id BIGINT NOT NULL,
    prompt_id BIGINT,
    rater VARCHAR NOT NULL,
    score INTEGER NOT NULL,             -- 1..5
    comment VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE votes (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_votes'),
    prompt_id BIGINT,
    generation_a BIGINT NOT NULL,
    generation_b BIGINT NOT NULL,
    winner VARCHAR NOT NULL,            -- a | b | tie | both_bad
    rater VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE judge_scores (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_judge'),
    generation_id BIGINT NOT NULL,
    request_id BIGINT,
    judge_model VARCHAR,
    template VARCHAR,
    score DOUBLE,                       -- NULL when the verdict could not be parsed
    explanation VARCHAR,
    raw VARCHAR,
    parsed BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
-- no secondary indexes: DuckDB's zone maps serve dataset filters, and ART indexes slow bulk loads
"""
