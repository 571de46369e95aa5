// Package store is the data layer of appreg: the GORM models of registered applications and
// their secrets, the queries and transactions the service needs, and the embedded SQL
// migrations. It runs on PostgreSQL (production, any number of replicas) and on an embedded
// SQLite file (development, single process).
//
// The package knows nothing of HTTP or of the generated API types. It returns the sentinels
// ErrNotFound, ErrConflict and ErrIdempotencyKeyExists (test with errors.Is) and otherwise
// wrapped driver errors.
//
// Every write of an application also writes, in its own transaction, what follows from it: a
// change row for the lookup caches (Changes), one audit event (ListEvents) and one outbox
// message to the application's contacts (ClaimOutbox). A write that rolls back leaves none of
// them; a committed one leaves all of them.
//
// Listings filter by type, state and a search (ListQuery) and keep their (created_time, id)
// order, so keyset paging works through filtered results as through whole ones. Indexes serve
// the filters that can be rare: applications_tenant_type_idx for a type, and partial indexes
// for the disabled and the pending-deletion states. A search is a
// substring match on the name (or a prefix of the id), which no B-tree serves: it filters the
// rows the tenant's index reads in list order, so a page costs the applications read until it
// is full, and a search that matches little reads the whole tenant (BenchmarkFilteredListing:
// about 20 ms at 10,000 applications on PostgreSQL). A trigram index (pg_trgm) is the next
// step should that be too slow; it is left out because it needs an extension, and for common
// searches PostgreSQL must still choose the ordered scan over it.
//
// Application.SecretExpiresTime, the earliest expiry among an application's secrets, is a
// column of the application that the store derives from the secrets on every write of them
// (CreateApplication, and UpdateApplication, which holds the secrets under the row lock
// already), in the same transaction. A join or subquery over the secrets would cost every
// listing; the column costs a listing nothing, and the version every update moves keeps the
// list cache's states (Listed) right. Written by a binary older than migration 0005 (during a
// rolling upgrade), the column is stale until the application's next write.
//
// Every time it writes is converted to UTC and truncated to microseconds first, because
// PostgreSQL keeps microseconds and SQLite compares times as text: a time written is Equal
// to the one read back, and comparisons order correctly on both.
//
// # Writes in one round trip
//
// `createApplication` inserts six kinds of rows (the
// application, its secrets, its origins, its audit event, its outbox message, its change
// row). On PostgreSQL they go as one pipelined batch closed by a single Sync, which the
// server runs as one implicit transaction: all rows or none, one round trip instead of
// eight (BEGIN, six INSERTs, COMMIT). The statements are built from the GORM models'
// schemas, with GORM's own value conversion, but without its per-statement callback chain.
// On SQLite they run in an ordinary transaction. Updates stay read-modify-write in a
// transaction under a row lock.
//
// # Reads without reflection
//
// Whole applications (view, list, the CORS fills) are read by
// one hand-written scanner, and their list columns (JSON arrays of strings) are split by
// hand unless they hold an escape, in which case encoding/json decodes them; a fuzz target
// checks the two agree on any input. On PostgreSQL these reads run on pgx itself (GORM
// builds the statement, pgx runs it and scans each column straight into its field, every row
// through one set of destinations): through database/sql every column became a
// `driver.Value` first, a string boxed in an interface and then copied again. A tenant's
// list of 100 applications went from 4,547 allocations to 1,607 and from about 760 µs to
// 550 µs in `BenchmarkListApplications`. A read on a pooled connection gone stale is retried
// once, as database/sql would.
//
// The read by id of `viewApplication` (below) does not even have GORM build its statement: its
// SQL is written out, one text whatever the number of ids (`id = ANY($2)`, prepared once per
// connection by pgx), and its slice is sized to its ids. GORM's building of it for each read
// and a slice of 16 applications (8 KB) for one row cost a third of a view's CPU in process
// (`BenchmarkLookupStack/view` on PostgreSQL: 103–119 µs before, 73–75 µs after; 27.5 KB
// allocated before, 15.5 KB after). viewApplication went from 38% of the bare handler to 41%
// (one run each, `BENCH_OPS=view`).
//
// # Coalesced reads by id
//
// Reading one application by id (`viewApplication`, the rotation
// endpoints' checks, the lookup caches' misses) is the store's most frequent query, and on
// PostgreSQL its round trip (a socket write and read, a server process woken, per-statement
// work) costs several times the row. When two such queries are already in flight, further
// reads wait for one to finish and then go together as one query of every id they ask for
// (at most 100 ids); each read then applies its own tenant and visibility check to the rows.
// Nothing is read earlier than it would be alone (a read's query starts after it was asked
// for, so it sees every write committed before, on any replica), and an idle or lightly
// loaded service pays nothing: with a lane free, a read runs at once in its caller's
// goroutine. Under load the busier the database, the more each query carries. This took
// viewApplication from about 14% of the bare handler to 29–35% on this machine (paced p99
// 4.0–6.9 ms at 7,000–11,000/s). An id no row can hold (invalid UTF-8, NUL, over 128
// characters) never joins a query, so it cannot fail the others' reads.
//
// # When the database is away
//
// On PostgreSQL, every operation a request runs (and every poll of the change log) is bounded
// by SetOperationTimeout (default 3 s, --db-timeout), from the moment the store is called: a
// database that stops answering without refusing fails it with an error IsUnavailable
// recognises, and the API answers 503 service_unavailable with Retry-After then, rather than
// after the request's own timeout (30 s). The bound leaves out what the caller does first: an
// imported secret is hashed (PBKDF2) before the create reaches the store, so a slow hash is
// never a 503. Once one statement has failed so, the store knows the database is away
// (Unavailable, appreg_db_unavailable on /metrics) and refuses the operations of requests at
// once with ErrUnavailable (503 in milliseconds, nothing queued on the pool), until a statement
// gets an answer: a poll of the change log or a ping, which always go, or the one operation of
// a request a second let through when nothing else probes; within a poll interval of the
// database's return. Every statement counts, whoever sends it: the store's health observes
// each statement GORM runs (a plugin's callbacks), reads as well as writes, the pgx paths that
// bypass GORM (the reads of whole applications, the create's batch), the BEGIN and COMMIT of
// transactions, and pings. An answer is any answer, an error of the database's own included (a
// missing row, a conflict); an operation that asks the database nothing (an id no row can
// hold) tells it nothing (TestReadAnswerEndsOutage, TestReadTimeoutBeginsOutage). Every
// operation of a request goes through one helper (run), which bounds it and refuses it while
// the database is away. Measured by TestDatabasePauseUnderLoad (bound 2 s): the first 503
// about 2 s into the pause, then 503s in a few milliseconds, and recovery within 0.3 s.
// SQLite, a file in the process that does not go away, has no bound (SetOperationTimeout), and
// no statement of it begins an outage (a wait behind a writer's lock is the machine being busy).
//
// What a 503 to a write means. An operation refused at once (ErrUnavailable), or that failed
// before its last statement was sent, wrote nothing. One whose bound passed while it waited for
// the answer to its COMMIT (or to the batch that is its own transaction) may have committed all
// the same: the bytes were on their way, and a database that comes back runs them. So a 503 to
// a write means "not applied, or applied and replayable": a create or rotation sent again with
// the same Idempotency-Key (the idempotency record commits in the same transaction as the
// write) answers the first answer if it committed, without the secret, which is never shown
// twice (rotate to obtain one), and performs it otherwise; a PATCH sends the same fields again,
// or uses If-Match to learn that it applied. A create sent without a key and answered 503 may
// have created the application: the caller finds it in the listing. Nothing answered 2xx is
// ever lost, since 2xx is answered only after the commit returned. TestDatabasePauseUnderLoad
// checks both: every 201 is stored, and every create answered 503 and sent again with its key
// leaves exactly one application.
//
// The bound is not the client's cancellation: requests run detached from their client
// (server's detachFromClient), a client that hangs up is recorded as 499 before any mapping,
// and context.Canceled is never IsUnavailable.
//
// # Audit trail
//
// Every change leaves exactly one event, written by the store in the same
// transaction as the change and derived from the difference between the old and the new
// row, so no handler can forget one: who (`sub`, or `appreg` for the purger), what action,
// and each changed field with its old and new value (secrets only as id and hint).
// `GET /applications/{id}/events`, newest first, paged; operators keep reading it after the
// purge at `GET /admin/applications/{id}/events`.
package store
