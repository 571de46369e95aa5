// Package lookup is the in-process cache behind the lookup path: the client policies and
// secret hashes the authorization server asks for by client id, and the applications that
// list a browser origin, which the gateway's CORS check needs. It answers from memory,
// thousands of times a second, and stays correct across replicas.
//
// Correctness across replicas comes from the database, not from messages between replicas:
// every write records a row in application_changes in its own transaction (package store),
// and every replica's cache polls that table (Config.PollInterval) and drops the entries of
// the applications it names. Polling a table works on every PostgreSQL-compatible engine,
// distributed ones without LISTEN/NOTIFY included, and a replica that was disconnected simply
// reads on from where it stopped: nothing is lost on reconnect. Change rows commit out of seq
// order, so the poller tracks the highest seq below which it has seen everything and
// re-reads from there; a gap is given up after Config.GapTimeout (a rolled-back write never
// fills its seq). The writing replica also calls InvalidateWritten after its own commit, so it
// reads its own writes at once.
//
// Memory is bounded whatever the number of applications: Config.Size clients (unknown ids
// included, as negative entries, so a flood of made-up ids does not reach the database) and
// as many applications over all cached origins. Eviction is CLOCK, per shard: a hit takes a
// shard's read lock and sets a bit, and allocates nothing.
//
// A read of the source that began before an invalidation of its key is never stored after
// it: each shard of the client cache, and the origin cache as a whole (an application's
// change can affect origins not linked to it yet), keeps a generation that invalidations
// advance, and a read stores its result only if the generation it began at is still current.
//
// # The lookup path
//
// The authorization server and the API gateway (role `appreg.lookup`) ask:
//
//	| call | answers |
//	|---|---|
//	| `GET /internal/clients/{clientId}?tenantId=T` | the client's policy: owner, type, state, URIs, `allowedForTenant`, `pkceRequired`, `grantTypes`, `tokenEndpointOnly`; 404 when unknown or purged |
//	| `POST /internal/clients/{clientId}/verify` `{"secret","tenantId"}` | `{"valid":true,"policy":…}` or `{"valid":false,"reason":…}` with `unknown_client`, `wrong_secret`, `disabled`, `locked`, `public_client`, `not_allowed_for_tenant` |
//	| `GET /internal/cors?origin=O&tenantId=T` | `{"allowed":…}` with `Cache-Control: max-age=1` (`APPREG_CORS_MAX_AGE`) |
//
// Verification compares the presented secret with every stored secret of the client (or
// with a dummy when the client is unknown) before deciding the reason, so the comparison's
// time does not tell an unknown client from a wrong secret; a client's state is only told to
// a caller that presented its secret. (An unknown id's answer may wait for a poll, below, so
// the whole answer's time can tell that an id does not exist: client ids are not secrets,
// RFC 6749 section 2.2, and the lookup answers the same 404.)
//
// # Caching across replicas
//
// Each replica answers from an in-process cache: a bounded,
// sharded LRU of client policies (unknown ids are answered from the known-id filter below) and of origins. Every write (create, patch, enable, disable, delete,
// purge, rotation, tenancy decision) inserts a row into `application_changes` in the same
// transaction; every replica polls that table every 200 ms and drops the entries of the
// changed applications, so a change is seen everywhere well within a second. We chose a
// polled change table over PostgreSQL `LISTEN/NOTIFY` because it works on every
// Postgres-compatible engine (distributed SQL engines have no NOTIFY), cannot miss a
// notification across a reconnect, and needs no extra connection per replica. Sequence
// numbers can commit out of order, so the poller re-reads from the highest contiguous
// sequence it has seen and waits up to 10 s for a gap to fill; when it cannot prove
// continuity after an outage it clears its cache. The writing replica also drops its own
// entries at once (read-your-writes). A fill that started before an invalidation is never
// stored after it.
//
// `lastUsedTime` (of applications and secrets) is fed by successful lookups and
// verifications, batched in memory: at most one write per application per 30 seconds, off
// the request path, flushed on shutdown.
//
// # Listings from kept answers
//
// A tenant's full list at 100 applications is 2,500
// columns to read, decode and encode again, 70 KB of JSON, on every call. Each replica keeps
// the encoded answer of each application it lists (`--list-cache-size`, 16 MiB, about 20,000
// applications), for one *state* of it: id, tenant, creation time, version and last use.
// Every write of an application moves its version (the lookup path's last use is in the
// state beside it), and an id purged and imported again has another creation time, so the
// answer kept for a state is that state's answer, on every replica: nothing is invalidated,
// and a listing is exactly as current as its own read. A listing then reads only the states
// (five columns a row), answers from the kept answers, and reads whole only the applications
// without one (by id; the whole listing at once when over a quarter miss). The two reads are
// not one snapshot: an application changed in between is listed as it is after the change,
// one gone by then is left out, and the next page starts after the last state read.
// Answers are kept only for a tenant listed again soon enough to find them (within about as
// many other tenants' listings as the budget holds the answers of): a listing made once
// reads whole in one query and encodes as it sends, as before, and takes no room from the
// tenants listed again and again (an open console, automation reading its configuration).
// Measured at 1,000,000 applications, old and new services side by side: a tenant's 100
// applications listed again and again went from about 2,200 to 3,650–4,550 listings/s; 2,000
// tenants listed in turn (more than the cache holds) stayed within noise of before.
// `/metrics` counts `appreg_list_cache_hits_total`, `appreg_list_cache_misses_total` and
// `appreg_list_cache_entries`.
//
// # Staleness: a bounded time, then fail closed
//
// While the change log cannot be read (the database cut, paused or restarting), a started
// cache keeps answering from memory for Config.MaxStale (default 10s) after its last
// successful poll: a short outage of the database is not an outage of every token request.
// Past it, every answer waits for a poll (shared by all callers, see below) and is an error
// (503 with Retry-After) until one succeeds. So a client disabled, or a secret revoked, on
// any replica just before an outage is accepted here for at most PollInterval + MaxStale.
//
// # Unknown client ids never reach the database
//
// A started cache holds every existing client id in a Bloom filter (knownIDs, 1% false
// positives, about 1.2 bytes an id), read once at Start and kept current from the change log
// and this replica's own writes. An id it does not know is answered unknown without a read
// of its own, so a flood of made-up ids costs no database work per id. The filter is only as
// current as the last poll, and a client created on another replica a moment ago must not be
// answered unknown: such an answer waits for a poll of the change log that begins after the
// question was asked (awaitPoll). Those polls are shared by every waiting caller and spaced
// by syncGap (10ms): at most 100 small indexed reads a second, however fast the flood. False
// positives and deleted ids go to the database as before and are cached as negative entries.
// Without the filter (not started, ids unreadable at start), every id may exist. The server's
// hot path answers unknown ids in front of its router too (an id held as not found:
// Cache.CachedClient; one not in the filter after such a poll: Cache.AbsentClient). A caller that comes less than syncGap
// after a poll failed gets that failure at once rather than waiting for the next poll, which
// would most likely fail as well: a request the hot path hands on after its poll failed is
// not made to wait twice.
//
// # Imported secrets: a bounded share of the CPU
//
// Imported secrets are stored with PBKDF2 (600,000 iterations, a fifth of a second of a core
// or more each): 16 connections of wrong secrets for one imported client once took every
// core and cut other clients' lookups from 10,300/s to 445/s. SlowHashes bounds them, and the
// handler (server.VerifyClientSecret) checks issued secrets (one SHA-256) first, so they, the
// lookups and the CORS checks never wait behind a slow hash:
//
//   - at most max(1, GOMAXPROCS/2) slow hashes run at once, taken without waiting; a verify
//     that finds every worker busy answers at once {"valid":false,"reason":"busy"};
//   - a hash the loaded replica cannot finish within a second (MaxWait, set by `appreg
//     serve`) answers busy then, its worker kept until the hash ends: a token request does
//     not hang on it;
//   - each client has a budget of failed slow hashes (5, then one every 2 s, in an LRU of
//     10,000 clients): past it a verify answers at once {"valid":false,"reason":"throttled"};
//   - a right secret is remembered for 5 minutes, keyed by HMAC-SHA-256 (a per-process random
//     key) of client id and secret, never the secret: the next verify answers from memory,
//     even while the client is throttled. What is remembered is tied to the snapshot of the
//     client it was checked against, so any change of the application (a rotation, a revoked
//     secret, a disable), on any replica, forgets it.
//
// Both refusals are 200 answers for that one call: the authorization server fails that token
// request, not every one.
//
// # Moving imported clients to issued secrets
//
// An imported client keeps paying for its slow hash (and may be refused busy or throttled
// under attack) until its secret is an issued one. Operators move it by rotation, with the
// client's owners:
//
//  1. POST /applications/{id}/secrets with {"previousSecretExpiresIn": <seconds>} (for
//     example 604800, a week): the answer carries a new secret, issued by appreg (256 random
//     bits, stored as SHA-256, checked in a microsecond); the imported secret keeps working
//     until it expires.
//  2. The client's owners configure the new secret; GET /applications/{id}/secrets shows
//     each secret's lastUsedTime, so the operator sees when the imported one is no longer
//     used.
//  3. Revoke the imported secret (DELETE /applications/{id}/secrets/{secretId}) or let it
//     expire. From then on the client has issued secrets only.
//
// Every rotation and revocation is notified to the client's contacts through the outbox, like
// every other lifecycle event.
package lookup
