-- The console's list filters (type, state, search) and the earliest secret expiry.
--
-- secret_expires_time is the earliest expires_time among the application's secrets, kept by
-- the store on every write of its secrets (see Application.SecretExpiresTime), so a listing
-- reads it with the row. Filled here for the applications that have a secret with an expiry.
ALTER TABLE applications ADD COLUMN secret_expires_time timestamptz;

UPDATE applications a SET secret_expires_time = s.first
FROM (SELECT application_id, min(expires_time) AS first
      FROM application_secrets WHERE expires_time IS NOT NULL
      GROUP BY application_id) s
WHERE a.id = s.application_id;

-- A tenant's applications of one type, in list order: a page of a rare type (ten public
-- applications among a tenant's ten thousand) reads its rows, not the whole tenant.
CREATE INDEX applications_tenant_type_idx ON applications (tenant_id, type, created_time, id);
-- A tenant's disabled applications, and its applications pending deletion, in list order:
-- the rare states, each read without the enabled majority (and not, for pending deletion,
-- through every tenant's applications_scheduled_deletion_idx). Enabled ones are read in order
-- from applications_tenant_created_idx. The predicates are the store's conditions, literally.
CREATE INDEX applications_tenant_disabled_idx ON applications (tenant_id, created_time, id)
    WHERE NOT enabled AND scheduled_deletion_time IS NULL;
CREATE INDEX applications_tenant_pending_deletion_idx ON applications (tenant_id, created_time, id)
    WHERE scheduled_deletion_time IS NOT NULL;
