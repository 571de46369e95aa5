-- Issue 15: a notice, once per imported secret, to the contacts of its application (kind
-- imported_secret; store.ScheduleReminders).
ALTER TABLE outbox_messages DROP CONSTRAINT outbox_messages_kind_check;
ALTER TABLE outbox_messages ADD CONSTRAINT outbox_messages_kind_check CHECK (kind IN ('created', 'updated', 'disabled', 'enabled', 'deletion_scheduled', 'deletion_cancelled', 'purged', 'secret_issued', 'secret_revoked', 'tenancy_approved', 'tenancy_rejected', 'secret_expiring_7d', 'secret_expiring_1d', 'purge_coming_1d', 'imported_secret'));
