// Package notify delivers the lifecycle notifications of applications to
// their contacts: it renders the messages the store's transactional outbox
// holds and sends them over SMTP (or to the log), each once even with many
// replicas.
//
// # Notifications
//
// Each event also writes one message for the application's contacts
// into an outbox table in the same transaction (a transactional outbox: no change without
// its message, no message without its change). Reminders are scheduled 7 days and 1 day
// before a secret expires and 1 day before a purge, once each. Dispatchers claim the oldest
// pending messages through an index in that order (migration 0004), so a backlog (an SMTP
// outage, a burst of creates) costs each claim what it takes, not a sort of the backlog:
// before it, 185,000 pending messages kept one PostgreSQL core busy with claims.
package notify
