-- The change log the lookup caches of every replica poll: one row per application touched by
-- a committed write (create, update, purge, secret rotation), written in the write's own
-- transaction. Replicas read it in seq order; rows older than the retention are pruned.
-- No foreign key: the row of a purged application must outlive the application.

CREATE TABLE application_changes (
    seq            bigserial   PRIMARY KEY,
    application_id text        NOT NULL,
    changed_time   timestamptz NOT NULL
);

-- Pruning by age.
CREATE INDEX application_changes_changed_time_idx ON application_changes (changed_time);
