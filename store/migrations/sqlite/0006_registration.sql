-- Dynamic client registration (RFC 7591 / RFC 7592): each tenant's policy, the initial access
-- tokens administrators issue, the registration access token of each registered client, and
-- the daily registration counts. Token values are never stored, only their SHA-256 hashes.

-- How an application was registered: '' by an administrator through the API,
-- 'initialAccessToken' or 'anonymous' by itself. Fixed at creation, like created_by.
ALTER TABLE applications ADD COLUMN registration_method TEXT NOT NULL DEFAULT '' CHECK (registration_method IN ('', 'initialAccessToken', 'anonymous'));
ALTER TABLE applications ADD COLUMN registration_token_id TEXT NOT NULL DEFAULT '';

CREATE INDEX applications_registered_unused_idx ON applications (tenant_id, created_time)
    WHERE registration_method <> '' AND last_used_time IS NULL AND scheduled_deletion_time IS NULL;

CREATE TABLE registration_policies (
    tenant_id                TEXT     NOT NULL PRIMARY KEY,
    enabled                  BOOLEAN  NOT NULL,
    anonymous                BOOLEAN  NOT NULL,
    initial_state            TEXT     NOT NULL CHECK (initial_state IN ('enabled', 'disabled')),
    allowed_redirect_hosts   TEXT     NOT NULL DEFAULT '[]',
    allowed_types            TEXT     NOT NULL DEFAULT '[]',
    daily_limit              INTEGER  NOT NULL CHECK (daily_limit > 0),
    default_contacts         TEXT     NOT NULL DEFAULT '[]',
    delete_unused_after_days INTEGER  NOT NULL DEFAULT 0 CHECK (delete_unused_after_days >= 0),
    last_modified_by         TEXT     NOT NULL,
    last_modified_time       DATETIME NOT NULL
);

CREATE INDEX registration_policies_delete_unused_idx ON registration_policies (tenant_id)
    WHERE delete_unused_after_days > 0;

CREATE TABLE initial_access_tokens (
    id           TEXT     NOT NULL PRIMARY KEY,
    tenant_id    TEXT     NOT NULL,
    hash         TEXT     NOT NULL UNIQUE,
    description  TEXT     NOT NULL DEFAULT '',
    uses_left    INTEGER  NOT NULL CHECK (uses_left >= 0),
    expires_time DATETIME NOT NULL,
    revoked_time DATETIME,
    created_by   TEXT     NOT NULL,
    created_time DATETIME NOT NULL
);

CREATE INDEX initial_access_tokens_tenant_idx ON initial_access_tokens (tenant_id, created_time);

CREATE TABLE registration_access_tokens (
    application_id TEXT     NOT NULL PRIMARY KEY REFERENCES applications (id) ON DELETE CASCADE,
    hash           TEXT     NOT NULL,
    issued_time    DATETIME NOT NULL
);

CREATE TABLE registration_counts (
    tenant_id TEXT    NOT NULL,
    day       TEXT    NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, day)
);
