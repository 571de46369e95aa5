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
// Without the filter (not started, ids unreadable at start), every id may exist.
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
