"""The samples' search index: character bigrams in DuckDB itself (see ``store/sample_search.py``), built
here for the samples already in the database, in the migration's one transaction.

- sample_grams: one posting (gram, sample id) per character bigram of a sample's lower-cased instruction,
  input and output (the last character of each alone), for every gram that is not common, sorted by gram;
- sample_gram_common: the grams too common to narrow a search (estimated from a hashed sample of at most
  1,000,000 rows): more than 100,000 occurrences or 2 % of the rows; they keep no postings;
- sample_search_state: one row. Rows changed after ``synced_at`` or with an id above ``id_hi`` are not in
  the index yet: searches check them directly and fold them in.

The build is set-based SQL (no Python per row): about 3 minutes of two cores for ten million samples, once,
at the first start after the upgrade; nothing for a new database. The statements below are a frozen copy
of ``sample_search.build_sql()`` as of this migration.
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
INSERT INTO sample_gram_common
SELECT gram, CAST(count(*) / (SELECT least(1.0, 1000000.0 / greatest(count(*), 1)) FROM samples) AS BIGINT) AS n
FROM (SELECT id, a || coalesce(b, '') AS gram FROM (
        SELECT id, unnest(c) AS a, unnest(c[2:]) AS b FROM (
          SELECT id, string_split(lower(t), '') AS c FROM (
            SELECT id, unnest([instruction, input, output]) AS t FROM samples
            WHERE hash(id) % 1000000 < (SELECT least(1.0, 1000000.0 / greatest(count(*), 1)) FROM samples) * 1000000)
          WHERE t <> '')))
GROUP BY gram
HAVING count(*) / (SELECT least(1.0, 1000000.0 / greatest(count(*), 1)) FROM samples)
       > (SELECT greatest(100000, count(*) * 0.02) FROM samples)
ORDER BY gram;
INSERT INTO sample_grams
SELECT gram, id FROM (SELECT id, a || coalesce(b, '') AS gram FROM (
        SELECT id, unnest(c) AS a, unnest(c[2:]) AS b FROM (
          SELECT id, string_split(lower(t), '') AS c FROM (
            SELECT id, unnest([instruction, input, output]) AS t FROM samples)
          WHERE t <> ''))) g
WHERE gram NOT IN (SELECT gram FROM sample_gram_common)
ORDER BY gram, id;
UPDATE sample_search_state SET built = true, synced_at = current_timestamp, tail = 0,
       common = (SELECT CAST(greatest(100000, count(*) * 0.02) AS BIGINT) FROM samples),
       base = (SELECT count(*) FROM sample_grams), built_at = current_timestamp,
       id_hi = (SELECT coalesce(max(id), 0) FROM samples)
WHERE one = 1;
"""
