// Package server holds the handlers of the App Registration API, the rules of
// its applications, the error mapping and the echo setup. It implements the
// strict server interface generated from openapi.yaml into package gen.
//
// Why it is built the way it is (each choice also has its tests, see the README's promises):
//
// # Contract first
//
// `openapi.yaml` (OpenAPI 3.0.3) is the source of truth; `make generate`
// regenerates `gen/` (strict echo server, models, embedded spec, Go client) and CI fails when
// it is stale. Requests are validated against the spec by kin-openapi before any handler
// runs; the rules the spec cannot say (URI, origin and e-mail rules, type rules) live in
// `server/rules.go`.
//
// # The -enable / -disable suffix paths
//
// The published paths put the action in the id's
// path segment (`POST /applications/{id}-enable`). Echo cannot route a parameter followed by
// a literal in one segment, so a pre-routing middleware rewrites the suffix form into the
// alias `/applications/{id}/enable` before the router and the validator see it; ids keep
// their inner hyphens (`a-b-c-enable` is id `a-b-c`). Imported ids may not end in `-enable`
// or `-disable`, and may not be dots only.
//
// # One error shape
//
// Every error (validator, router, auth, handlers, panics) leaves through
// one echo error handler as `{"error","errorDescription","type","title","status","detail",
// "errors":[{"field","reason"}],"requestId"}`: the platform's fields and RFC 9457's side by
// side, served as `application/json` so SDKs generated from the published contract parse it
// unchanged. 5xx answers are generic and logged with the request id.
//
// # PATCH
//
// Fields present replace, absent and `null` fields keep their value, an empty
// string clears `description`, `jwksEndpoint` or `scope`. SDKs that send the whole object
// back may include the read-only fields: equal values are accepted, different ones are a
// 400 naming the field. `lastUsedTime` is the one exception, ignored whatever its value,
// because the lookup path moves it at any moment and a whole-object round trip could never
// match it.
//
// # Two-step delete
//
// `DELETE` disables, locks and schedules deletion after the grace period
// (`APPREG_DELETION_GRACE`, default 7 days); a repeated `DELETE` keeps the first schedule.
// Once the scheduled time has passed the application is gone for every operation, even
// before the purger has run, so behaviour never depends on purger lag. The purger runs in
// every `serve` replica and as `appreg purge`: each pass takes due rows with
// `FOR UPDATE SKIP LOCKED` in small transactions, so replicas never purge the same row twice
// and a crash mid-pass rolls back to be finished by the next pass.
//
// # Secrets
//
// 256 bits from `crypto/rand`, base64url (43 characters), shown once, stored as
// SHA-256 and compared in constant time. A fast hash is sound for a 256-bit random value (no
// dictionary or brute force can reach it) and keeps verification on the token path to about
// a microsecond. Imported secrets, whose entropy we cannot vouch for, are stored with
// PBKDF2-HMAC-SHA256 (600,000 iterations, random salt).
//
// # Tenancy
//
// `single` by default. `all` starts `pending` and works as single-tenant until
// an operator approves it (`effectiveTenancy` shows what is in force).
//
// # Authentication
//
// Bearer JWTs, RS256 or ES256 only (`none` and HMAC are refused, which
// also closes the HMAC-with-the-public-key confusion), checked against a JWKS
// (`APPREG_JWKS_URL`, refreshed every 5 minutes and on an unknown `kid`, or
// `APPREG_JWKS_FILE`); `iss`/`aud` checked when configured. Verified tokens are cached until
// they expire, so a token is verified once, not on every call. Without a JWKS the service
// runs in development mode, logs so loudly, and trusts a key it keeps in its data dir.
//
// # Rate limits
//
// The management API allows `APPREG_RATE_LIMIT` requests per second per
// tenant (default 50, bursts of twice that; `0` turns it off) and answers `429` with
// `Retry-After` beyond. The lookup path is the platform's own traffic and is not limited
// per tenant. When the database cannot be reached every operation answers `503` with
// `Retry-After` (never 500), and the service recovers by itself when the database returns.
//
// # Client hang-ups
//
// A request runs on a context that its client going away does not
// cancel, bounded at 30 s instead; the log and `/metrics` still record it as 499. Every
// operation is a few milliseconds of database work, so cancelling it saves nothing, while
// the PostgreSQL driver answers a cancelled query by closing its connection: under many
// hang-ups at once (a gateway's retry storm, a load balancer draining) the pool kept
// reconnecting, and requests handed a connection in that state failed with "bad
// connection" or an i/o timeout (one or two per benchmark run, at the end of a load, before
// the change).
//
// # Answers without reflection
//
// viewApplication, listApplication, the client lookup, verify and every error answer
// (under attack the hot path: a flood of unknown client ids or bad tokens is answered 404 or
// 401, thousands a second) write their JSON with hand-written append functions instead of encoding/json's
// reflective walk (over a quarter of listApplication's CPU: a tenant's 100 applications are
// about 70 KB), into pooled buffers. They write exactly the bytes encoding/json writes:
// `TestAppendIsEncodingJSON` fills every field of each type by reflection (set, unset,
// awkward strings and times) and compares, so a field added to the contract and not to the
// encoder fails it, and `FuzzAppendJSONString` compares string escaping on any input.
//
// # The lookup path's overhead
//
// A lookup answered from the cache is a map read and bytes already encoded; what else it
// pays for was measured (issue 15, `BENCH_PROFILE=1 scripts/bench`) and cut without
// turning anything off:
//
//   - Validation: kin-openapi decides every request, but when every parameter of an
//     operation is a plain string (length, pattern, enum), they are checked first by a
//     shortcut (validate.go) that can only accept what kin-openapi accepts
//     (`TestFastParamsAgreeWithKin`, `FuzzFastParams`); anything it refuses is validated
//     again by kin-openapi, whose error is the answer. The ids' pattern ^[class]+$ is a byte
//     table. It was a third of the lookup's time in process. A body that is a closed JSON
//     object of plain strings (verify's {secret, tenantId}) is checked the same way, parsed
//     by fastjson without allocating (encoding/json's parse alone cost as much as
//     kin-openapi's whole check): escapes, duplicate or unknown names and anything else not
//     certain go to kin-openapi as sent (`TestFastBodyAgreesWithKin`, `FuzzFastBody`).
//     kin-openapi's body check was a sixth of a verify's CPU on the wire.
//   - The answer: a cached client's policy is encoded once per snapshot
//     (`lookup.Client.Memo`); only allowedForTenant is written per request, and
//     `TestCachedPolicyIsPolicyOf` compares the bytes with the generated code's answer.
//   - The frame (frame.go): one middleware instead of five for the request id, the
//     security headers (shared values), the detached context, the metrics and the log line:
//     one context value, one clock read at each end. Request ids are a random process
//     prefix and a counter (a random read each was 3%).
//   - Metrics keep their pre-resolved series (see Metrics); successes of /internal/ are
//     logged at debug level, and the reasons of 503s at most once a second (logFailure), as
//     the README says.
//
// # The hot path
//
// Each layer above was cheap; together they were still about 15 µs of a lookup's 65 (echo's
// context and router, the operation's chain, the generated wrapper binding the parameters
// again, the strict handler's request object), where a handler writing the same bytes spends
// about 4. So the lookup path's three calls (GET /internal/clients/{id}, POST
// /internal/clients/{id}/verify, GET /internal/cors), when everything their answer needs is
// in memory, are answered in front of echo (hotpath.go): a token the verifier remembers
// (`auth.Verifier.Verified`: verified before, not expired) holding the lookup role,
// parameters and a body the validator's own shortcut certainly accepts (each query parameter
// sent once, as the generated binder wants; no escaped path; verify's body application/json,
// with a length, at most 4 KiB, read last), and the client or origin in the lookup cache,
// which is fresh (`lookup.Cache.CachedClient`, `CachedOrigin`: memory only, no wait, no
// read), or a client id known not to exist (held as not found by `CachedClient`, or not
// among the known ids after the poll an unknown id waits for: `lookup.Cache.AbsentClient`). Then it writes what
// the full path would, with the full path's own functions: the frame's request id and
// headers, the handler's policyAnswer, verifyAnswer or corsAnswer (whose valid:false
// answers, an unknown client's among them, are 200s too), the error handler's problemBody
// for an unknown id's 404, the same metrics series and log line. It decides nothing else:
// every other request, every other error above all, goes on to echo unchanged, which words
// it. The unknown id's 404 is the one error it answers: a flood of made-up ids is the attack
// the lookup path meets most (anyone can send one to the token endpoint), and through echo
// an unknown id cost about 36 µs of server CPU where a cached lookup cost 27 (issue 15's
// fifth round); in front of it, a quarter less CPU and 31 allocations instead of 56
// (`BenchmarkUnknownIDs`). `TestHotPathAnswersAsEcho` sends 60 requests (ordinary ones,
// unknown ids, and every way one can fall short of the hot path) to the whole stack and to
// echo alone and wants the same status, headers and body, the same metrics and log line,
// and the hot path to have answered exactly the ordinary ones; the rest of the suite, which
// goes through the whole stack, exercises it on every lookup.
// `appreg_lookup_hot_answers_total` counts its answers beside
// `appreg_http_requests_total`. Inside it, two costs went after a second profile: the query
// is read where it is, as url.ParseQuery would read it, without building a url.Values
// (`hotRequest.queryValue`, pinned against url.ParseQuery by `TestHotRequestQuery` and its
// fuzz target), and a cached client's use is passed to the usage recorder once a second per
// snapshot and secret (`lookup.Cache.NoteClientUse`), not under its lock at every lookup:
// lastUsedTime is written every 30 s and keeps that second's first use. The profile put the
// two at about 1.4 µs of the hot path's 7.7 for a lookup.
//
// # Rotation without downtime
//
// `POST /applications/{id}/secrets` issues a new secret
// (shown once) and keeps the previous ones valid for `previousSecretExpiresIn` seconds
// (default a day, `0` revokes at once, at most 30 days); at most three secrets are valid at
// a time. `GET …/secrets` lists metadata only (id, last four characters, times);
// `DELETE …/secrets/{secretId}` revokes one, never the last valid one.
//
// # Concurrent writers
//
// Every application answer carries an `ETag` (its version);
// `PATCH`, `DELETE`, `-enable`, `-disable` and secret operations honour `If-Match` (412 on
// mismatch). Writes are read-modify-write under a row lock, so two clients patching
// different fields at once both land.
//
// # Idempotent creates
//
// `Idempotency-Key` on `POST /applications` and
// `POST …/secrets`: the same key and body within 24 hours answers the first answer, with
// `Idempotent-Replayed: true`, without creating anything; another body is 409
// `idempotency_key_reused`. The replay never carries the secret: the key travels in places
// (proxies, logs, retries by other processes) that must never be able to obtain a
// credential, so a secret is shown exactly once, to the request that created it.
package server
