// Package auth authenticates callers of appreg: it verifies the bearer JWTs
// of the platform's issuer against its JWKS (RS256 and ES256 only) and turns
// them into a Principal, the tenant and actor a request acts for.
//
// In development mode `appreg serve` signs its own tokens with a DevKey kept
// in its data directory, and `appreg token` mints them.
//
// # The JOSE library: go-jose
//
// Everything JOSE is github.com/go-jose/go-jose/v4: splitting and decoding the
// compact JWS, the algorithm allow-list (ParseSignedCompact refuses any alg
// but RS256 and ES256 before a key is looked at), the signature check, the
// JWK parsing and RFC 7638 thumbprints, and signing development tokens. It was
// chosen over the two other maintained candidates for these reasons:
//
//   - Strict JSON. go-jose decodes headers and claims with its own fork of
//     encoding/json that matches member names by case and refuses duplicate
//     members, so {"alg":"RS256","alg":"none"} or a second "tenantId" cannot
//     read one way here and another way in a different parser.
//     golang-jwt/jwt/v5 uses encoding/json (last member wins), so it would
//     need a second hand-written parse of every token to keep that promise.
//   - Refresh on an unknown kid. keyfunc/v3 (through jwkset) waits on its
//     rate limiter when an unknown kid arrives too soon after a refresh
//     (RateLimitWaitMax, a minute by default): a flood of made-up kids would
//     hold requests open. This package answers "unknown signing key" at once
//     and coalesces concurrent refreshes.
//   - Weight. go-jose v4.1.9 is one module that requires nothing outside the
//     standard library. lestrrat-go/jwx/v3 (v3.4.0) requires ten modules
//     (goccy/go-json, httprc, dsig, secp256k1, segmentio/asm, fastjson, ...);
//     golang-jwt/v5 plus keyfunc/v3 is three (with jwkset).
//   - The hot path does not depend on it: a verified token is remembered (see
//     tokenCache) until it expires, so go-jose runs once per token, not once
//     per request (see BenchmarkVerifyCached and BenchmarkVerifyUncached).
//
// # What stays hand-written, and why
//
//   - The claim rules (claims.go): exp is required and a token is refused at
//     exactly exp+leeway; go-jose's jwt.Expected accepts a token without exp
//     and one at exp+leeway. tenantId, sub and roles are this service's own
//     rules with their own 401 reasons.
//   - Two header rules go-jose leaves to the caller: typ must name a JWT, and
//     any crit parameter is refused (go-jose would honour "b64").
//   - A check that the token is three base64url parts in canonical form: the
//     standard decoder go-jose uses skips line breaks and ignores non-zero
//     trailing bits, so one signature would have several spellings.
//   - The key policy (jwks.go): which keys of a published set are used (RSA of
//     2048 to 8192 bits, EC P-256, use "sig"), with a reason for each key left
//     out.
//   - Fetching the JWKS (verifier.go): a GET with a size limit, a scheduled
//     refresh, and a refresh on an unknown kid at most once per 30 s
//     (golang.org/x/time/rate), coalesced with golang.org/x/sync/singleflight.
//   - The verified-token cache (cache.go): sharded, bounded, keyed by the
//     token's SHA-256, purged when a key leaves the set.
package auth
