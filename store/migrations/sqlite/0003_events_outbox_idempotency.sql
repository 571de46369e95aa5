-- The audit trail, the notification outbox and idempotency records. Events and outbox messages
-- are written by the store in the transaction of the write they describe. None of these
-- tables has a foreign key to applications: the trail, the "purged" notice and pending
-- reminders all outlive the application's purge.
-- One column per line and no comments inside CREATE TABLE: GORM's SQLite migrator parses the
-- table's SQL to tell the schema test which columns are nullable.

-- One row per lifecycle event of an application. changes is a JSON array of
-- {"field", "old", "new"} in the API's names and forms; secrets appear only as
-- {"secretId", "hint", "expiresTime"}, never as hashes. id is a UUIDv7 as text: time-ordered.
CREATE TABLE application_events (
    id             TEXT     NOT NULL PRIMARY KEY,
    application_id TEXT     NOT NULL,
    tenant_id      TEXT     NOT NULL,
    event_time     DATETIME NOT NULL,
    actor          TEXT     NOT NULL,
    action         TEXT     NOT NULL CHECK (action IN ('created', 'updated', 'disabled', 'enabled', 'deletion_scheduled', 'deletion_cancelled', 'purged', 'secret_issued', 'secret_revoked', 'tenancy_approved', 'tenancy_rejected')),
    changes        TEXT     NOT NULL DEFAULT '[]'
);

-- An application's trail, newest first, in keyset pages.
CREATE INDEX application_events_application_idx ON application_events (application_id, event_time DESC, id DESC);

-- Notifications to an application's contacts: one per event, plus reminders. A message is
-- claimed by one dispatcher at a time (claimed_until is its lease) until it is sent.
-- event_id is '' for reminders, which no event causes. ref says what a reminder is about
-- ("<secretId>@<expiresTime>" or the scheduled deletion time), so each is inserted once;
-- '' for event messages. ref_time is the expiry or deletion time of ref: a sent reminder
-- is pruned only once it has passed, so that it cannot be scheduled again.
CREATE TABLE outbox_messages (
    id                TEXT     NOT NULL PRIMARY KEY,
    event_id          TEXT     NOT NULL DEFAULT '',
    application_id    TEXT     NOT NULL,
    tenant_id         TEXT     NOT NULL,
    kind              TEXT     NOT NULL CHECK (kind IN ('created', 'updated', 'disabled', 'enabled', 'deletion_scheduled', 'deletion_cancelled', 'purged', 'secret_issued', 'secret_revoked', 'tenancy_approved', 'tenancy_rejected', 'secret_expiring_7d', 'secret_expiring_1d', 'purge_coming_1d')),
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

-- The dispatchers' work: only unsent messages, by when they are due.
CREATE INDEX outbox_messages_due_idx ON outbox_messages (next_attempt_time) WHERE sent_time IS NULL;
-- Pruning of sent messages.
CREATE INDEX outbox_messages_sent_idx ON outbox_messages (sent_time) WHERE sent_time IS NOT NULL;
-- Each reminder at most once.
CREATE UNIQUE INDEX outbox_messages_reminder_idx ON outbox_messages (application_id, kind, ref) WHERE ref <> '';

-- The answers of idempotent requests (Idempotency-Key), to replay them; never a secret.
CREATE TABLE idempotency_records (
    tenant_id       TEXT     NOT NULL,
    operation       TEXT     NOT NULL,
    idempotency_key TEXT     NOT NULL,
    request_hash    TEXT     NOT NULL,
    status          INTEGER  NOT NULL,
    response        BLOB     NOT NULL,
    created_time    DATETIME NOT NULL,
    PRIMARY KEY (tenant_id, operation, idempotency_key)
);

-- Pruning by age.
CREATE INDEX idempotency_records_created_idx ON idempotency_records (created_time);
