-- Applications, their secret hashes and their CORS origins.
-- Times are timestamptz holding UTC with microsecond precision (the store truncates).
-- List columns (contacts, redirects, origins, logouts) hold JSON arrays as text: they are
-- only ever read whole. Origins are also kept in application_origins for lookups.

CREATE TABLE applications (
    -- COLLATE "C": byte order, the same as SQLite, so keyset cursors order identically
    -- whatever the database's default collation.
    id                      varchar(128) COLLATE "C" PRIMARY KEY CHECK (id <> ''),
    tenant_id               text        NOT NULL,
    name                    text        NOT NULL,
    description             text        NOT NULL DEFAULT '',
    contacts                text        NOT NULL DEFAULT '[]',
    type                    text        NOT NULL CHECK (type IN ('confidential', 'public', 'backend')),
    tenancy                 text        NOT NULL CHECK (tenancy IN ('single', 'all')),
    tenancy_approval        text        NOT NULL DEFAULT '' CHECK (tenancy_approval IN ('', 'pending', 'approved', 'rejected')),
    tenancy_decided_by      text        NOT NULL DEFAULT '',
    tenancy_decided_time    timestamptz,
    tenancy_comment         text        NOT NULL DEFAULT '',
    redirects               text        NOT NULL DEFAULT '[]',
    origins                 text        NOT NULL DEFAULT '[]',
    logouts                 text        NOT NULL DEFAULT '[]',
    auth_method             text        NOT NULL DEFAULT '',
    jwks_endpoint           text        NOT NULL DEFAULT '',
    scope                   text        NOT NULL DEFAULT '',
    enabled                 boolean     NOT NULL,
    created_by              text        NOT NULL,
    created_time            timestamptz NOT NULL,
    last_modified_by        text        NOT NULL,
    last_modified_time      timestamptz NOT NULL,
    last_used_time          timestamptz,
    scheduled_deletion_time timestamptz,
    version                 bigint      NOT NULL DEFAULT 1
);

-- A tenant's applications in list order.
CREATE INDEX applications_tenant_created_idx ON applications (tenant_id, created_time, id);
-- Every tenant's applications in list order (operators).
CREATE INDEX applications_created_idx ON applications (created_time, id);
-- The operators' queue of tenancy requests.
CREATE INDEX applications_pending_tenancy_idx ON applications (created_time, id)
    WHERE tenancy = 'all' AND tenancy_approval = 'pending';
-- The purger's work: only locked applications have a scheduled deletion time.
CREATE INDEX applications_scheduled_deletion_idx ON applications (scheduled_deletion_time)
    WHERE scheduled_deletion_time IS NOT NULL;

CREATE TABLE application_secrets (
    id             uuid         PRIMARY KEY,
    application_id varchar(128) COLLATE "C" NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    hash           text         NOT NULL,
    hint           text         NOT NULL DEFAULT '',
    created_time   timestamptz  NOT NULL,
    expires_time   timestamptz,
    last_used_time timestamptz
);

CREATE INDEX application_secrets_application_idx ON application_secrets (application_id, created_time);

-- One row per (application, origin) so the CORS check is an index lookup.
CREATE TABLE application_origins (
    application_id varchar(128) COLLATE "C" NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    origin         text         NOT NULL,
    PRIMARY KEY (application_id, origin)
);

CREATE INDEX application_origins_origin_idx ON application_origins (origin, application_id);
