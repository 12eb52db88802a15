"""Shared work: review and rating tasks distributed among people with an overlap k.

A task's items are fixed when it is created (samples of a dataset for review, outputs = generations of a
comparison for rating), each with its place in the task's stable order. Every item is assigned to exactly
``overlap`` people; an assignment is done once that person decided (review) or rated it, and keeps what
they said (``decision`` / ``score``) so agreement between people can be computed from the task alone.
People are account names (or typed names in a studio without accounts).
"""

SQL = """
CREATE SEQUENCE seq_tasks START 1;
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_tasks'),
    name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,                 -- review | rating
    dataset_id INTEGER,                    -- review: the sample dataset
    comparison_id INTEGER,                 -- rating: the comparison whose outputs are rated
    filter JSON,                           -- review: {"status", "qtype", "origin"} the items were chosen by
    blind BOOLEAN NOT NULL DEFAULT true,   -- rating: raters do not see which system wrote an output
    overlap INTEGER NOT NULL,              -- k: how many people do each item
    guidelines VARCHAR NOT NULL DEFAULT '',
    people VARCHAR[] NOT NULL,
    created_by VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE task_items (
    task_id INTEGER NOT NULL,
    item_id BIGINT NOT NULL,               -- a sample id (review) or a generation id (rating)
    ord INTEGER NOT NULL,                  -- the stable order everyone sees their items in
    prompt_id BIGINT,                      -- rating: the prompt the output answers
    PRIMARY KEY (task_id, item_id)
);
CREATE TABLE task_assignments (
    task_id INTEGER NOT NULL,
    item_id BIGINT NOT NULL,
    person VARCHAR NOT NULL,
    assigned_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    done_at TIMESTAMP,                     -- NULL while the item is open for this person
    decision VARCHAR,                      -- review: accept | reject
    edited BOOLEAN,                        -- review: accepted with edits
    score INTEGER,                         -- rating: 1-5
    PRIMARY KEY (task_id, item_id, person)
);
"""
