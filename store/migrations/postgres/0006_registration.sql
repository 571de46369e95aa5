-- Dynamic client registration (RFC 7591 / RFC 7592): each tenant's policy, the initial access
-- tokens administrators issue, the registration access token of each registered client, and
-- the daily registration counts. Token values are never stored, only their SHA-256 hashes.

-- How an application was registered: '' by an administrator through the API,
-- 'initialAccessToken' or 'anonymous' by itself. Fixed at creation, like created_by, so a
-- listing's kept answers (keyed by the application's version) never go stale over it.
ALTER TABLE applications ADD COLUMN registration_method text NOT NULL DEFAULT ''
    CHECK (registration_method IN ('', 'initialAccessToken', 'anonymous'));
ALTER TABLE applications ADD COLUMN registration_token_id text NOT NULL DEFAULT '';

-- The clients deleteUnusedAfterDays may schedule for deletion: registered, never used.
CREATE INDEX applications_registered_unused_idx ON applications (tenant_id, created_time)
    WHERE registration_method <> '' AND last_used_time IS NULL AND scheduled_deletion_time IS NULL;

-- One row per tenant that changed its policy; a tenant without one has the defaults.
CREATE TABLE registration_policies (
    tenant_id                text        PRIMARY KEY,
    enabled                  boolean     NOT NULL,
    anonymous                boolean     NOT NULL,
    initial_state            text        NOT NULL CHECK (initial_state IN ('enabled', 'disabled')),
    allowed_redirect_hosts   text        NOT NULL DEFAULT '[]',
    allowed_types            text        NOT NULL DEFAULT '[]',
    daily_limit              integer     NOT NULL CHECK (daily_limit > 0),
    default_contacts         text        NOT NULL DEFAULT '[]',
    delete_unused_after_days integer     NOT NULL DEFAULT 0 CHECK (delete_unused_after_days >= 0),
    last_modified_by         text        NOT NULL,
    last_modified_time       timestamptz NOT NULL
);

-- The purger's pass over the tenants that delete unused registered clients.
CREATE INDEX registration_policies_delete_unused_idx ON registration_policies (tenant_id)
    WHERE delete_unused_after_days > 0;

CREATE TABLE initial_access_tokens (
    id           text        PRIMARY KEY,
    tenant_id    text        NOT NULL,
    hash         text        NOT NULL UNIQUE,
    description  text        NOT NULL DEFAULT '',
    uses_left    integer     NOT NULL CHECK (uses_left >= 0),
    expires_time timestamptz NOT NULL,
    revoked_time timestamptz,
    created_by   text        NOT NULL,
    created_time timestamptz NOT NULL
);

CREATE INDEX initial_access_tokens_tenant_idx ON initial_access_tokens (tenant_id, created_time);

-- The registration access token of a registered client (RFC 7592); replaced on every update,
-- removed when the client deletes its registration.
CREATE TABLE registration_access_tokens (
    application_id varchar(128) COLLATE "C" PRIMARY KEY REFERENCES applications (id) ON DELETE CASCADE,
    hash           text        NOT NULL,
    issued_time    timestamptz NOT NULL
);

-- Registrations per tenant and UTC day (YYYY-MM-DD), for the policy's dailyLimit.
CREATE TABLE registration_counts (
    tenant_id text    NOT NULL,
    day       text    NOT NULL,
    count     integer NOT NULL,
    PRIMARY KEY (tenant_id, day)
);
