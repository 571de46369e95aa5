-- Issue 15: a notice, once per imported secret, to the contacts of its application (kind
-- imported_secret; store.ScheduleReminders). SQLite cannot change a CHECK constraint: the
-- table is rebuilt with the same columns and indexes.
CREATE TABLE outbox_messages_new (
    id                TEXT     NOT NULL PRIMARY KEY,
    event_id          TEXT     NOT NULL DEFAULT '',
    application_id    TEXT     NOT NULL,
    tenant_id         TEXT     NOT NULL,
    kind              TEXT     NOT NULL CHECK (kind IN ('created', 'updated', 'disabled', 'enabled', 'deletion_scheduled', 'deletion_cancelled', 'purged', 'secret_issued', 'secret_revoked', 'tenancy_approved', 'tenancy_rejected', 'secret_expiring_7d', 'secret_expiring_1d', 'purge_coming_1d', 'imported_secret')),
    ref               TEXT     NOT NULL DEFAULT '',
    ref_time          DATETIME,
    recipients        TEXT     NOT NULL DEFAULT '[]',
    payload           TEXT     NOT NULL DEFAULT '{}',
    created_time      DATETIME NOT NULL,
    next_attempt_time DATETIME NOT NULL,
    attempts          INTEGER  NOT NULL DEFAULT 0,
    last_error        TEXT     NOT NULL DEFAULT '',
    claimed_until     DATETIME,
    sent_time         DATETIME
);

INSERT INTO outbox_messages_new (id, event_id, application_id, tenant_id, kind, ref, ref_time, recipients, payload, created_time, next_attempt_time, attempts, last_error, claimed_until, sent_time)
SELECT id, event_id, application_id, tenant_id, kind, ref, ref_time, recipients, payload, created_time, next_attempt_time, attempts, last_error, claimed_until, sent_time FROM outbox_messages;

DROP TABLE outbox_messages;

ALTER TABLE outbox_messages_new RENAME TO outbox_messages;

CREATE INDEX outbox_messages_due_idx ON outbox_messages (next_attempt_time) WHERE sent_time IS NULL;
CREATE INDEX outbox_messages_sent_idx ON outbox_messages (sent_time) WHERE sent_time IS NOT NULL;
CREATE UNIQUE INDEX outbox_messages_reminder_idx ON outbox_messages (application_id, kind, ref) WHERE ref <> '';
CREATE INDEX outbox_messages_pending_idx ON outbox_messages (created_time, id) WHERE sent_time IS NULL;
