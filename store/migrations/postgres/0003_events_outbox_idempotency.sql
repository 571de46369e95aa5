-- The audit trail, the notification outbox and idempotency records. Events and outbox messages
-- are written by the store in the transaction of the write they describe. None of these
-- tables has a foreign key to applications: the trail, the "purged" notice and pending
-- reminders all outlive the application's purge.

-- One row per lifecycle event of an application. changes is a JSON array of
-- {"field", "old", "new"} in the API's names and forms; secrets appear only as
-- {"secretId", "hint", "expiresTime"}, never as hashes. id is a UUIDv7 as text: time-ordered;
-- COLLATE "C" so keyset cursors order as on SQLite.
CREATE TABLE application_events (
    id             text         COLLATE "C" PRIMARY KEY,
    application_id varchar(128) COLLATE "C" NOT NULL,
    tenant_id      text         NOT NULL,
    event_time     timestamptz  NOT NULL,
    actor          text         NOT NULL,
    action         text         NOT NULL CHECK (action IN ('created', 'updated', 'disabled', 'enabled', 'deletion_scheduled', 'deletion_cancelled', 'purged', 'secret_issued', 'secret_revoked', 'tenancy_approved', 'tenancy_rejected')),
    changes        text         NOT NULL DEFAULT '[]'
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
    id                text         COLLATE "C" PRIMARY KEY,
    event_id          text         NOT NULL DEFAULT '',
    application_id    varchar(128) COLLATE "C" NOT NULL,
    tenant_id         text         NOT NULL,
    kind              text         NOT NULL CHECK (kind IN ('created', 'updated', 'disabled', 'enabled', 'deletion_scheduled', 'deletion_cancelled', 'purged', 'secret_issued', 'secret_revoked', 'tenancy_approved', 'tenancy_rejected', 'secret_expiring_7d', 'secret_expiring_1d', 'purge_coming_1d')),
    ref               text         NOT NULL DEFAULT '',
    ref_time          timestamptz,
    recipients        text         NOT NULL DEFAULT '[]',
    payload           text         NOT NULL DEFAULT '{}',
    created_time      timestamptz  NOT NULL,
    next_attempt_time timestamptz  NOT NULL,
    attempts          integer      NOT NULL DEFAULT 0,
    last_error        text         NOT NULL DEFAULT '',
    claimed_until     timestamptz,
    sent_time         timestamptz
);

-- The dispatchers' work: only unsent messages, by when they are due.
CREATE INDEX outbox_messages_due_idx ON outbox_messages (next_attempt_time) WHERE sent_time IS NULL;
-- Pruning of sent messages.
CREATE INDEX outbox_messages_sent_idx ON outbox_messages (sent_time) WHERE sent_time IS NOT NULL;
-- Each reminder at most once, whatever the number of replicas scheduling them.
CREATE UNIQUE INDEX outbox_messages_reminder_idx ON outbox_messages (application_id, kind, ref) WHERE ref <> '';

-- The answers of idempotent requests (Idempotency-Key), to replay them; never a secret.
CREATE TABLE idempotency_records (
    tenant_id       text        NOT NULL,
    operation       text        NOT NULL,
    idempotency_key text        NOT NULL,
    request_hash    text        NOT NULL,
    status          integer     NOT NULL,
    response        bytea       NOT NULL,
    created_time    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, operation, idempotency_key)
);

-- Pruning by age.
CREATE INDEX idempotency_records_created_idx ON idempotency_records (created_time);
