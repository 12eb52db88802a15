"""The samples' search index: character bigrams in DuckDB itself (see ``store/sample_search.py``).

Only the tables: the index is built lazily, set-based, by the first search that needs it (or rebuilt when
much changed since), so upgrading a database of ten million samples does not stall the studio's start.
- sample_grams: one posting (gram, sample id) per character bigram of a sample's lower-cased instruction,
  input and output (the last character of each alone), for every gram that is not common;
- sample_gram_common: the grams too common to narrow a search (from a sample of the rows at build
  time); they keep no postings;
- sample_search_state: one row. ``built`` false: no index yet. Rows changed after ``synced_at`` or with
  an id above ``id_hi`` are not in the index yet: searches check them directly and fold them in.
"""

SQL = """
CREATE TABLE sample_grams (
    gram VARCHAR NOT NULL,
    id BIGINT NOT NULL
);
CREATE TABLE sample_gram_common (
    gram VARCHAR NOT NULL,
    n BIGINT NOT NULL                   -- about how many times it occurs (estimated from the sample)
);
CREATE TABLE sample_search_state (
    one INTEGER PRIMARY KEY,            -- always 1
    built BOOLEAN NOT NULL DEFAULT false,
    synced_at TIMESTAMP,                -- rows updated after this are not indexed yet
    id_hi BIGINT NOT NULL DEFAULT 0,    -- rows with a higher id are not indexed yet
    common BIGINT NOT NULL DEFAULT 0,   -- a gram occurring more often than this is common
    base BIGINT NOT NULL DEFAULT 0,     -- postings written by the last build (sorted by gram)
    tail BIGINT NOT NULL DEFAULT 0,     -- postings appended since
    built_at TIMESTAMP
);
INSERT INTO sample_search_state (one) VALUES (1);
"""
