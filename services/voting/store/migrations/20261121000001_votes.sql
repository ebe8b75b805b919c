-- The original worker's table, created only if absent so an existing deployment keeps
-- its data; the original result query `SELECT vote, COUNT(id) AS count FROM votes GROUP
-- BY vote` keeps working.
CREATE TABLE IF NOT EXISTS votes (
    id VARCHAR(255) NOT NULL UNIQUE,
    vote VARCHAR(255) NOT NULL
);

-- seq orders writes: a batch only overwrites a voter's row written by an older batch,
-- which makes re-applying a recovered batch harmless and keeps "latest vote wins".
ALTER TABLE votes
    ADD COLUMN IF NOT EXISTS created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS seq BIGINT NOT NULL DEFAULT 0;

-- Totals maintained by the worker in the same transaction as each batch, so readers
-- never scan the votes table.
CREATE TABLE IF NOT EXISTS vote_counts (
    vote VARCHAR(255) PRIMARY KEY,
    count BIGINT NOT NULL DEFAULT 0
);

INSERT INTO vote_counts (vote, count)
SELECT vote, COUNT(id) FROM votes GROUP BY vote
ON CONFLICT (vote) DO NOTHING;

INSERT INTO vote_counts (vote, count) VALUES ('a', 0), ('b', 0)
ON CONFLICT (vote) DO NOTHING;
