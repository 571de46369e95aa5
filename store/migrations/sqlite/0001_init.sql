-- Applications, their secret hashes and their CORS origins.
-- Times are DATETIME, which the glebarez driver parses back into time.Time. The store writes
-- them in UTC only ("2006-01-02 15:04:05.999999+00:00"), so comparing them as text, as
-- SQLite does, orders them correctly. List columns hold JSON arrays as text.

CREATE TABLE applications (
    id                      TEXT     NOT NULL PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    tenant_id               TEXT     NOT NULL,
    name                    TEXT     NOT NULL,
    description             TEXT     NOT NULL DEFAULT '',
    contacts                TEXT     NOT NULL DEFAULT '[]',
    type                    TEXT     NOT NULL CHECK (type IN ('confidential', 'public', 'backend')),
    tenancy                 TEXT     NOT NULL CHECK (tenancy IN ('single', 'all')),
    tenancy_approval        TEXT     NOT NULL DEFAULT '' CHECK (tenancy_approval IN ('', 'pending', 'approved', 'rejected')),
    tenancy_decided_by      TEXT     NOT NULL DEFAULT '',
    tenancy_decided_time    DATETIME,
    tenancy_comment         TEXT     NOT NULL DEFAULT '',
    redirects               TEXT     NOT NULL DEFAULT '[]',
    origins                 TEXT     NOT NULL DEFAULT '[]',
    logouts                 TEXT     NOT NULL DEFAULT '[]',
    auth_method             TEXT     NOT NULL DEFAULT '',
    jwks_endpoint           TEXT     NOT NULL DEFAULT '',
    scope                   TEXT     NOT NULL DEFAULT '',
    enabled                 BOOLEAN  NOT NULL,
    created_by              TEXT     NOT NULL,
    created_time            DATETIME NOT NULL,
    last_modified_by        TEXT     NOT NULL,
    last_modified_time      DATETIME NOT NULL,
    last_used_time          DATETIME,
    scheduled_deletion_time DATETIME,
    version                 INTEGER  NOT NULL DEFAULT 1
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
    id             TEXT     NOT NULL PRIMARY KEY,
    application_id TEXT     NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    hash           TEXT     NOT NULL,
    hint           TEXT     NOT NULL DEFAULT '',
    created_time   DATETIME NOT NULL,
    expires_time   DATETIME,
    last_used_time DATETIME
);

CREATE INDEX application_secrets_application_idx ON application_secrets (application_id, created_time);

-- One row per (application, origin) so the CORS check is an index lookup.
CREATE TABLE application_origins (
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    origin         TEXT NOT NULL,
    PRIMARY KEY (application_id, origin)
);

CREATE INDEX application_origins_origin_idx ON application_origins (origin, application_id);
