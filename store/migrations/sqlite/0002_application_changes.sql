-- The change log the lookup caches poll: one row per application touched by a committed write
-- (create, update, purge, secret rotation), written in the write's own transaction.
-- AUTOINCREMENT, not a plain rowid: a seq is never reused, even after the newest rows are
-- deleted. No foreign key: the row of a purged application must outlive the application.

CREATE TABLE application_changes (
    seq            INTEGER  PRIMARY KEY AUTOINCREMENT,
    application_id TEXT     NOT NULL,
    changed_time   DATETIME NOT NULL
);

-- Pruning by age.
CREATE INDEX application_changes_changed_time_idx ON application_changes (changed_time);
