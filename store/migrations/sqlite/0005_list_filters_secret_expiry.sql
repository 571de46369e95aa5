-- The console's list filters (type, state, search) and the earliest secret expiry.
--
-- secret_expires_time is the earliest expires_time among the application's secrets, kept by
-- the store on every write of its secrets (see Application.SecretExpiresTime), so a listing
-- reads it with the row. Filled here for the applications that have a secret with an expiry
-- (times are UTC text of one format: min() orders them as times).
ALTER TABLE applications ADD COLUMN secret_expires_time DATETIME;

UPDATE applications SET secret_expires_time =
    (SELECT min(expires_time) FROM application_secrets s WHERE s.application_id = applications.id)
WHERE EXISTS (SELECT 1 FROM application_secrets s
              WHERE s.application_id = applications.id AND s.expires_time IS NOT NULL);

-- A tenant's applications of one type, in list order.
CREATE INDEX applications_tenant_type_idx ON applications (tenant_id, type, created_time, id);
-- A tenant's disabled applications, and its applications pending deletion, in list order.
CREATE INDEX applications_tenant_disabled_idx ON applications (tenant_id, created_time, id)
    WHERE NOT enabled AND scheduled_deletion_time IS NULL;
CREATE INDEX applications_tenant_pending_deletion_idx ON applications (tenant_id, created_time, id)
    WHERE scheduled_deletion_time IS NOT NULL;
