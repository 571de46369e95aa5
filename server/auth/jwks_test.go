package auth

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// jwksServer serves a JWK set that tests change, and counts the fetches.
type jwksServer struct {
	*httptest.Server
	body   atomic.Pointer[[]byte]
	status atomic.Int32
	hits   atomic.Int64
}

func newJWKSServer(t *testing.T, keys map[string]crypto.PublicKey) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.set(t, keys)
	s.status.Store(http.StatusOK)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(s.status.Load()))
		w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(t *testing.T, keys map[string]crypto.PublicKey) {
	b := testJWKS(t, keys)
	s.body.Store(&b)
}

// manualClock stands in for the wall clock of the refresh rate limit.
func manualClock(v *Verifier) *fakeClock {
	c := newClock()
	v.mu.Lock()
	v.clock = c.Now
	v.mu.Unlock()
	return c
}

func TestJWKSKeyRotation(t *testing.T) {
	srv := newJWKSServer(t, map[string]crypto.PublicKey{"rsa-1": rsaKey().Public()})
	v := newTestVerifier(t, Config{JWKSURL: srv.URL})
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("fetches after start = %d, want 1", got)
	}

	// The issuer starts signing with a new key, published alongside the old one.
	srv.set(t, map[string]crypto.PublicKey{"rsa-1": rsaKey().Public(), "ec-2": otherEC().Public()})
	if _, err := v.Verify(context.Background(), mustSign(t, otherEC(), "ec-2", validClaims())); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Errorf("fetches = %d, want 2", got)
	}
	if _, err := v.Verify(context.Background(), mustSign(t, rsaKey(), "rsa-1", validClaims())); err != nil {
		t.Fatalf("token of the old key: %v", err)
	}
}

func TestJWKSRefreshRateLimited(t *testing.T) {
	srv := newJWKSServer(t, map[string]crypto.PublicKey{"rsa-1": rsaKey().Public()})
	v := newTestVerifier(t, Config{JWKSURL: srv.URL})
	clock := manualClock(v)
	unknown := func(kid string) {
		t.Helper()
		_, err := v.Verify(context.Background(), mustSign(t, rsaKey(), kid, validClaims()))
		wantReason(t, err, reasonUnknownKey)
	}

	unknown("nope-1")
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("fetches after the first unknown kid = %d, want 2", got)
	}
	unknown("nope-2")
	clock.Add(29 * time.Second)
	unknown("nope-3")
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("fetches within 30 s = %d, want still 2", got)
	}

	clock.Add(2 * time.Second)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			_, err := v.Verify(context.Background(), mustSign(t, ecKey(), "burst-"+string(rune('a'+i)), validClaims()))
			var te *TokenError
			if !errors.As(err, &te) || te.Reason != reasonUnknownKey {
				t.Errorf("Verify = %v, want unknown kid", err)
			}
		})
	}
	wg.Wait()
	if got := srv.hits.Load(); got != 3 {
		t.Errorf("fetches after a burst of unknown kids 31 s later = %d, want 3", got)
	}
}

func TestJWKSRefreshFailureKeepsKeys(t *testing.T) {
	srv := newJWKSServer(t, map[string]crypto.PublicKey{"rsa-1": rsaKey().Public()})
	v := newTestVerifier(t, Config{JWKSURL: srv.URL, CacheSize: -1})
	srv.status.Store(http.StatusInternalServerError)
	_, err := v.Verify(context.Background(), mustSign(t, rsaKey(), "nope", validClaims()))
	wantReason(t, err, reasonUnknownKey)
	if srv.hits.Load() != 2 {
		t.Fatalf("fetches = %d, want 2", srv.hits.Load())
	}
	if _, err := v.Verify(context.Background(), mustSign(t, rsaKey(), "rsa-1", validClaims())); err != nil {
		t.Fatalf("after a failed refresh: %v", err)
	}
}

func TestJWKSBackgroundRefresh(t *testing.T) {
	srv := newJWKSServer(t, map[string]crypto.PublicKey{"rsa-1": rsaKey().Public()})
	v := newTestVerifier(t, Config{JWKSURL: srv.URL, RefreshInterval: 10 * time.Millisecond})
	// A new key shows up without any token asking for it.
	srv.set(t, map[string]crypto.PublicKey{"rsa-1": rsaKey().Public(), "ec-2": otherEC().Public()})
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := v.keys.Load().find("ec-2", algES256); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background refresh did not pick up the new key")
		}
		time.Sleep(5 * time.Millisecond)
	}

	v.Close()
	after := srv.hits.Load()
	time.Sleep(50 * time.Millisecond)
	if got := srv.hits.Load(); got != after {
		t.Errorf("fetches after Close went from %d to %d", after, got)
	}
	// After Close an unknown kid fetches nothing either.
	_, err := v.Verify(context.Background(), mustSign(t, rsaKey(), "nope", validClaims()))
	wantReason(t, err, reasonUnknownKey)
	if got := srv.hits.Load(); got != after {
		t.Errorf("fetch after Close")
	}
}

func TestJWKSKeyRemovalPurgesCache(t *testing.T) {
	srv := newJWKSServer(t, map[string]crypto.PublicKey{"rsa-1": rsaKey().Public(), "ec-1": ecKey().Public()})
	v := newTestVerifier(t, Config{JWKSURL: srv.URL})
	tok := mustSign(t, ecKey(), "ec-1", validClaims())
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	// ec-1 is withdrawn (compromised, say); the next refresh drops it.
	srv.set(t, map[string]crypto.PublicKey{"rsa-1": rsaKey().Public()})
	_, err := v.Verify(context.Background(), mustSign(t, rsaKey(), "nope", validClaims()))
	wantReason(t, err, reasonUnknownKey)
	_, err = v.Verify(context.Background(), tok)
	wantReason(t, err, reasonUnknownKey)
}

func TestJWKSWaitRespectsContext(t *testing.T) {
	release := make(chan struct{})
	var slow atomic.Bool
	body := testJWKS(t, map[string]crypto.PublicKey{"rsa-1": rsaKey().Public()})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		w.Write(body)
	}))
	defer srv.Close()
	defer close(release)
	v := newTestVerifier(t, Config{JWKSURL: srv.URL})
	slow.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := v.Verify(ctx, mustSign(t, rsaKey(), "nope", validClaims()))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Verify = %v, want the context's error", err)
	}
}

func TestJWKSFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, testJWKS(t, map[string]crypto.PublicKey{"ec-1": ecKey().Public()}), 0o600); err != nil {
		t.Fatal(err)
	}
	v := newTestVerifier(t, Config{JWKSFile: path})
	if _, err := v.Verify(context.Background(), mustSign(t, ecKey(), "ec-1", validClaims())); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(context.Background(), mustSign(t, rsaKey(), "rsa-1", validClaims()))
	wantReason(t, err, reasonUnknownKey)
}

func TestNewVerifierErrors(t *testing.T) {
	good := testJWKS(t, map[string]crypto.PublicKey{"rsa-1": rsaKey().Public()})
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }))
	defer garbage.Close()
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"keys":[],"pad":"` + strings.Repeat("x", maxJWKSSize) + `"}`))
	}))
	defer huge.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()

	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no source", Config{}, "exactly one key source"},
		{"two sources", Config{JWKS: good, JWKSFile: "/x"}, "exactly one key source"},
		{"negative leeway", Config{JWKS: good, Leeway: -time.Second}, "must not be negative"},
		{"not an http URL", Config{JWKSURL: "file:///etc/jwks.json"}, "is not an http(s) URL"},
		{"404", Config{JWKSURL: notFound.URL}, "404 Not Found"},
		{"not JSON", Config{JWKSURL: garbage.URL}, "not a JSON JWK set"},
		{"too large", Config{JWKSURL: huge.URL}, "larger than"},
		{"unreachable", Config{JWKSURL: down.URL}, "connection refused"},
		{"missing file", Config{JWKSFile: filepath.Join(t.TempDir(), "none.json")}, "no such file"},
		{"no keys member", Config{JWKS: []byte(`{"key":[]}`)}, `no "keys" member`},
		{"only unusable keys", Config{JWKS: testJWKS(t, map[string]crypto.PublicKey{"small": smallRSA().Public(), "p384": p384Key().Public()})},
			`no key usable for RS256 (RSA of at least 2048 bits) or ES256 (EC P-256); ignored: key "p384": EC curve "P-384" is not accepted (ES256 needs P-256); key "small": RSA key of 1024 bits is not accepted`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVerifier(context.Background(), tc.cfg)
			if err == nil {
				v.Close()
				t.Fatal("NewVerifier succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseKeySet(t *testing.T) {
	rsaJWK, err := toPublicJWK(rsaKey().Public())
	if err != nil {
		t.Fatal(err)
	}
	ecJWK, err := toPublicJWK(ecKey().Public())
	if err != nil {
		t.Fatal(err)
	}
	with := func(j publicJWK, f func(*publicJWK)) publicJWK { f(&j); return j }
	tests := []struct {
		name    string
		key     any
		ignored string // empty: usable
	}{
		{"RSA", rsaJWK, ""},
		{"EC", ecJWK, ""},
		{"RSA without alg and use", with(rsaJWK, func(j *publicJWK) { j.Alg, j.Use = "", "" }), ""},
		{"RSA for encryption", with(rsaJWK, func(j *publicJWK) { j.Use = "enc" }), `use "enc" is not sig`},
		{"RSA for RS512", with(rsaJWK, func(j *publicJWK) { j.Alg = "RS512" }), `alg "RS512" is not accepted`},
		{"RSA for PS256", with(rsaJWK, func(j *publicJWK) { j.Alg = "PS256" }), `alg "PS256" is not accepted`},
		{"RSA exponent 1", with(rsaJWK, func(j *publicJWK) { j.E = "AQ" }), "invalid RSA key, bad e value"}, // go-jose's words
		{"RSA without n", with(rsaJWK, func(j *publicJWK) { j.N = "" }), "invalid RSA key, missing n/e values"},
		{"EC for ES384", with(ecJWK, func(j *publicJWK) { j.Alg = "ES384" }), `alg "ES384" is not accepted`},
		{"EC on P-384", with(ecJWK, func(j *publicJWK) { j.Crv = "P-384" }), `EC curve "P-384" is not accepted`},
		{"EC with a short x", with(ecJWK, func(j *publicJWK) { j.X = j.X[:40] }), "wrong length for x"},
		{"EC point off the curve", with(ecJWK, func(j *publicJWK) { j.X, j.Y = j.Y, j.X }), "not on declared curve"},
		{"symmetric key", map[string]string{"kty": "oct", "k": "c2VjcmV0"}, `key type "oct" is not accepted`},
		{"key_ops without verify", map[string]any{"kty": "EC", "crv": "P-256", "x": ecJWK.X, "y": ecJWK.Y, "key_ops": []string{"encrypt"}}, "key_ops"},
		{"not an object", "RSA", "cannot unmarshal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Another usable key keeps the set valid.
			doc := map[string]any{"keys": []any{tc.key, with(rsaJWK, func(j *publicJWK) { j.Kid = "anchor" })}}
			set, err := parseKeySet([]byte(mustJSON(t, doc)))
			if err != nil {
				t.Fatal(err)
			}
			if tc.ignored == "" {
				if len(set.keys) != 2 || len(set.ignored) != 0 {
					t.Fatalf("keys %d, ignored %q; want 2 keys", len(set.keys), set.ignored)
				}
				return
			}
			if len(set.keys) != 1 || len(set.ignored) != 1 || !strings.Contains(set.ignored[0], tc.ignored) {
				t.Fatalf("keys %d, ignored %q; want 1 key and %q ignored", len(set.keys), set.ignored, tc.ignored)
			}
		})
	}
}

func TestThumbprintRFC7638(t *testing.T) {
	// RFC 7638, section 3.1.
	set, err := parseKeySet([]byte(`{"keys":[{"kty":"RSA","alg":"RS256","kid":"2011-04-29","e":"AQAB",` +
		`"n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := set.keys[0].thumbprint, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Errorf("thumbprint = %s, want %s", got, want)
	}
}

func TestPublicJWKS(t *testing.T) {
	// Private keys given by mistake publish their public half only.
	b, err := PublicJWKS(map[string]crypto.PublicKey{"rsa": rsaKey(), "ec": ecKey(), "p384": p384Key().Public()})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range doc.Keys {
		if _, ok := k["d"]; ok {
			t.Errorf("key %s has private member d", k["kid"])
		}
		kids = append(kids, k["kid"]+":"+k["kty"]+":"+k["alg"])
	}
	if got, want := strings.Join(kids, " "), "ec:EC:ES256 p384:EC:ES384 rsa:RSA:RS256"; got != want {
		t.Errorf("keys = %s, want %s", got, want)
	}

	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := PublicJWKS(map[string]crypto.PublicKey{"ed": edKey.Public()}); err == nil {
		t.Error("PublicJWKS accepted an Ed25519 key")
	}
}

func TestSignRefusesOtherKeys(t *testing.T) {
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	for name, key := range map[string]crypto.Signer{"Ed25519": edKey, "P-384": p384Key()} {
		if _, err := Sign(key, "k", validClaims()); err == nil {
			t.Errorf("Sign accepted an %s key", name)
		}
	}
}

// publicJWK is the JSON form of a public key in a JWK set, member by member,
// so tests can publish keys with wrong members.
type publicJWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid,omitempty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// toPublicJWK returns the JWK form of an RSA or ECDSA public key, without kid,
// as PublicJWKS writes it.
func toPublicJWK(key crypto.PublicKey) (publicJWK, error) {
	b, err := PublicJWKS(map[string]crypto.PublicKey{"": key})
	if err != nil {
		return publicJWK{}, err
	}
	var set struct{ Keys []publicJWK }
	if err := json.Unmarshal(b, &set); err != nil {
		return publicJWK{}, err
	}
	set.Keys[0].Kid = ""
	return set.Keys[0], nil
}
