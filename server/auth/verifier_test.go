package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"hash"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testIssuer   = "https://issuer.example"
	testAudience = "appreg"
)

var (
	t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

	rsaKey     = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	otherRSA   = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	smallRSA   = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(1024) })
	ecKey      = sync.OnceValue(func() *ecdsa.PrivateKey { return mustEC(elliptic.P256()) })
	otherEC    = sync.OnceValue(func() *ecdsa.PrivateKey { return mustEC(elliptic.P256()) })
	p384Key    = sync.OnceValue(func() *ecdsa.PrivateKey { return mustEC(elliptic.P384()) })
	attackerEC = sync.OnceValue(func() *ecdsa.PrivateKey { return mustEC(elliptic.P256()) })
)

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEC(c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// fakeClock is a settable Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testJWKS(t testing.TB, keys map[string]crypto.PublicKey) []byte {
	t.Helper()
	b, err := PublicJWKS(keys)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newTestVerifier trusts rsa-1 (RSA 2048) and ec-1 (P-256), with testIssuer
// and testAudience, at t0 unless cfg says otherwise.
func newTestVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	if cfg.JWKS == nil && cfg.JWKSURL == "" && cfg.JWKSFile == "" {
		cfg.JWKS = testJWKS(t, map[string]crypto.PublicKey{"rsa-1": rsaKey().Public(), "ec-1": ecKey().Public()})
	}
	if cfg.Issuer == "" {
		cfg.Issuer = testIssuer
	}
	if cfg.Audience == "" {
		cfg.Audience = testAudience
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return t0 }
	}
	v, err := NewVerifier(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func validClaims() map[string]any {
	return map[string]any{
		"iss":      testIssuer,
		"aud":      testAudience,
		"sub":      "user-1",
		"tenantId": "tenant-1",
		"roles":    []string{RoleAdmin, "other"},
		"iat":      t0.Unix(),
		"exp":      t0.Add(time.Hour).Unix(),
	}
}

// claimsWith returns validClaims changed by set: a nil value deletes the claim.
func claimsWith(set map[string]any) map[string]any {
	c := validClaims()
	for k, v := range set {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func mustSign(t testing.TB, key crypto.Signer, kid string, claims map[string]any) string {
	t.Helper()
	tok, err := Sign(key, kid, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// signRaw signs header and payload, given as JSON text, with key; ECDSA
// signatures are r||s sized for the key's curve.
func signRaw(t testing.TB, key crypto.Signer, header, payload string) string {
	t.Helper()
	input := enc(header) + "." + enc(payload)
	digest := sha256.Sum256([]byte(input))
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if pub, ok := key.Public().(*ecdsa.PublicKey); ok {
		var rs struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(sig, &rs); err != nil {
			t.Fatal(err)
		}
		size := (pub.Curve.Params().BitSize + 7) / 8
		sig = make([]byte, 2*size)
		rs.R.FillBytes(sig[:size])
		rs.S.FillBytes(sig[size:])
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// hmacToken is the alg confusion attack: an HMAC "signature" whose secret is
// the verifier's public key.
func hmacToken(t testing.TB, alg string, newHash func() hash.Hash, secret []byte) string {
	t.Helper()
	header := mustJSON(t, map[string]string{"alg": alg, "typ": "JWT", "kid": "rsa-1"})
	input := enc(header) + "." + enc(mustJSON(t, validClaims()))
	mac := hmac.New(newHash, secret)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func rsaPublicPEM(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(rsaKey().Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func rsaPublicDER(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(rsaKey().Public())
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func parts(tok string) []string { return strings.Split(tok, ".") }

// tamperSignature flips a bit of the signature.
func tamperSignature(t testing.TB, tok string) string {
	t.Helper()
	p := parts(tok)
	sig, err := base64.RawURLEncoding.DecodeString(p[2])
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)/2] ^= 0x01
	return p[0] + "." + p[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// withPayload replaces the payload of tok, keeping its header and signature.
func withPayload(t testing.TB, tok string, claims map[string]any) string {
	p := parts(tok)
	return p[0] + "." + enc(mustJSON(t, claims)) + "." + p[2]
}

func asn1Signature(t testing.TB, tok string) string {
	t.Helper()
	p := parts(tok)
	raw, err := base64.RawURLEncoding.DecodeString(p[2])
	if err != nil {
		t.Fatal(err)
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])})
	if err != nil {
		t.Fatal(err)
	}
	return p[0] + "." + p[1] + "." + base64.RawURLEncoding.EncodeToString(der)
}

func wantReason(t *testing.T, err error, want string) {
	t.Helper()
	var te *TokenError
	if !errors.As(err, &te) {
		t.Fatalf("Verify error = %v (%T), want a *TokenError containing %q", err, err, want)
	}
	if !strings.Contains(te.Reason, want) {
		t.Fatalf("Verify reason = %q, want it to contain %q", te.Reason, want)
	}
}

func TestVerify(t *testing.T) {
	rsaHeader := func(extra map[string]any) string {
		h := map[string]any{"alg": "RS256", "typ": "JWT", "kid": "rsa-1"}
		for k, v := range extra {
			if v == nil {
				delete(h, k)
			} else {
				h[k] = v
			}
		}
		return mustJSON(t, h)
	}
	valid := mustSign(t, rsaKey(), "rsa-1", validClaims())
	validPayload := mustJSON(t, validClaims())
	attackerJWK, err := toPublicJWK(attackerEC().Public())
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		token  func() string
		reason string // empty: accepted
	}{
		{"RS256", func() string { return valid }, ""},
		{"ES256", func() string { return mustSign(t, ecKey(), "ec-1", validClaims()) }, ""},
		{"RS256 without kid, one RSA key in the set", func() string { return mustSign(t, rsaKey(), "", validClaims()) }, ""},
		{"ES256 without kid, one EC key in the set", func() string { return mustSign(t, ecKey(), "", validClaims()) }, ""},
		{"audience in an array", func() string {
			return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"aud": []string{"other", testAudience}}))
		}, ""},
		{"no roles", func() string { return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"roles": nil})) }, ""},
		{"roles null", func() string {
			return signRaw(t, rsaKey(), rsaHeader(nil), strings.Replace(validPayload, `"roles":["appreg.admin","other"]`, `"roles":null`, 1))
		}, ""},
		{"no iat, no nbf", func() string { return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"iat": nil})) }, ""},
		{"fractional exp", func() string {
			return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"exp": float64(t0.Unix()) + 0.5}))
		}, ""},
		{"expired within leeway", func() string {
			return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"exp": t0.Add(-20 * time.Second).Unix()}))
		}, ""},
		{"nbf within leeway", func() string {
			return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"nbf": t0.Add(20 * time.Second).Unix()}))
		}, ""},
		{"typ at+jwt", func() string { return signRaw(t, rsaKey(), rsaHeader(map[string]any{"typ": "at+jwt"}), validPayload) }, ""},
		{"typ application/JWT", func() string {
			return signRaw(t, rsaKey(), rsaHeader(map[string]any{"typ": "application/JWT"}), validPayload)
		}, ""},
		{"typ absent", func() string { return signRaw(t, rsaKey(), rsaHeader(map[string]any{"typ": nil}), validPayload) }, ""},

		// Algorithms.
		{"alg none without signature", func() string {
			return enc(`{"alg":"none","typ":"JWT"}`) + "." + enc(validPayload) + "."
		}, `unsupported signing algorithm "none": use RS256 or ES256`},
		{"alg none with signature", func() string {
			return enc(`{"alg":"none","typ":"JWT"}`) + "." + enc(validPayload) + "." + parts(valid)[2]
		}, `unsupported signing algorithm "none"`},
		{"alg None", func() string { return enc(`{"alg":"None"}`) + "." + enc(validPayload) + "." }, `unsupported signing algorithm "None"`},
		{"alg NONE", func() string { return enc(`{"alg":"NONE"}`) + "." + enc(validPayload) + "." }, `unsupported signing algorithm "NONE"`},
		{"HS256 keyed with the public key PEM", func() string { return hmacToken(t, "HS256", sha256.New, rsaPublicPEM(t)) },
			`unsupported signing algorithm "HS256": use RS256 or ES256`},
		{"HS256 keyed with the public key DER", func() string { return hmacToken(t, "HS256", sha256.New, rsaPublicDER(t)) },
			`unsupported signing algorithm "HS256"`},
		{"HS384", func() string { return hmacToken(t, "HS384", sha512.New384, rsaPublicPEM(t)) }, `unsupported signing algorithm "HS384"`},
		{"HS512", func() string { return hmacToken(t, "HS512", sha512.New, rsaPublicPEM(t)) }, `unsupported signing algorithm "HS512"`},
		{"PS256", func() string { return signRaw(t, rsaKey(), rsaHeader(map[string]any{"alg": "PS256"}), validPayload) }, `unsupported signing algorithm "PS256"`},
		{"RS512", func() string { return signRaw(t, rsaKey(), rsaHeader(map[string]any{"alg": "RS512"}), validPayload) }, `unsupported signing algorithm "RS512"`},
		{"rs256 in lower case", func() string { return signRaw(t, rsaKey(), rsaHeader(map[string]any{"alg": "rs256"}), validPayload) }, `unsupported signing algorithm "rs256"`},
		{"long alg is cut", func() string {
			return signRaw(t, rsaKey(), rsaHeader(map[string]any{"alg": strings.Repeat("A", 500)}), validPayload)
		}, `unsupported signing algorithm "` + strings.Repeat("A", maxAlgorithmEchoLen) + `..."`},
		{"no alg", func() string { return signRaw(t, rsaKey(), rsaHeader(map[string]any{"alg": nil}), validPayload) }, reasonNoAlgorithm},
		{"alg in upper-case member name", func() string { return signRaw(t, rsaKey(), `{"ALG":"RS256","kid":"rsa-1"}`, validPayload) }, reasonNoAlgorithm},
		{"alg not a string", func() string { return signRaw(t, rsaKey(), `{"alg":256,"kid":"rsa-1"}`, validPayload) }, reasonMalformed},
		{"alg twice", func() string { return signRaw(t, rsaKey(), `{"alg":"RS256","alg":"none","kid":"rsa-1"}`, validPayload) }, reasonMalformed},
		{"ES256 header on the RSA key", func() string { return signRaw(t, rsaKey(), rsaHeader(map[string]any{"alg": "ES256"}), validPayload) }, reasonKeyMismatch},
		{"RS256 header naming the EC key", func() string { return signRaw(t, rsaKey(), rsaHeader(map[string]any{"kid": "ec-1"}), validPayload) }, reasonKeyMismatch},

		// Header.
		{"typ JOSE", func() string { return signRaw(t, rsaKey(), rsaHeader(map[string]any{"typ": "JOSE"}), validPayload) }, reasonType},
		{"crit", func() string {
			return signRaw(t, rsaKey(), rsaHeader(map[string]any{"crit": []string{"exp"}, "exp": 1}), validPayload)
		}, reasonCrit},
		{"unknown kid", func() string { return mustSign(t, rsaKey(), "rsa-9", validClaims()) }, reasonUnknownKey},
		{"unknown key without kid", func() string { return mustSign(t, otherRSA(), "", validClaims()) }, reasonSignature},
		{"key embedded in the header (jwk)", func() string {
			return signRaw(t, attackerEC(), mustJSON(t, map[string]any{"alg": "ES256", "kid": "evil", "jwk": attackerJWK}), validPayload)
		}, reasonUnknownKey},
		{"jwk header reusing a trusted kid", func() string {
			return signRaw(t, attackerEC(), mustJSON(t, map[string]any{"alg": "ES256", "kid": "ec-1", "jwk": attackerJWK}), validPayload)
		}, reasonSignature},
		{"kid not a string", func() string { return signRaw(t, rsaKey(), rsaHeader(map[string]any{"kid": 1}), validPayload) }, reasonMalformed},

		// Signature.
		{"tampered payload", func() string { return withPayload(t, valid, claimsWith(map[string]any{"tenantId": "tenant-2"})) }, reasonSignature},
		{"tampered signature", func() string { return tamperSignature(t, valid) }, reasonSignature},
		{"tampered ES256 signature", func() string { return tamperSignature(t, mustSign(t, ecKey(), "ec-1", validClaims())) }, reasonSignature},
		{"ES256 signature in ASN.1", func() string { return asn1Signature(t, mustSign(t, ecKey(), "ec-1", validClaims())) }, reasonSignature},
		{"signature by another key under a trusted kid", func() string { return mustSign(t, otherRSA(), "rsa-1", validClaims()) }, reasonSignature},
		{"empty signature", func() string { return parts(valid)[0] + "." + parts(valid)[1] + "." }, reasonSignature},

		// Times.
		{"expired", func() string {
			return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"exp": t0.Add(-time.Hour).Unix()}))
		}, reasonExpired},
		{"expired just beyond the leeway", func() string {
			return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"exp": t0.Add(-30 * time.Second).Unix()}))
		}, reasonExpired},
		{"no exp", func() string { return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"exp": nil})) }, reasonNoExpiry},
		{"exp as a string", func() string {
			return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"exp": "4102444800"}))
		}, reasonMalformed},
		{"exp beyond year 3000", func() string { return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"exp": 1e300})) }, reasonMalformed},
		{"not yet valid (nbf)", func() string {
			return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"nbf": t0.Add(5 * time.Minute).Unix()}))
		}, reasonNotYetValid},
		{"issued in the future (iat)", func() string {
			return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"iat": t0.Add(5 * time.Minute).Unix()}))
		}, reasonIssuedFuture},

		// Issuer and audience.
		{"wrong issuer", func() string {
			return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"iss": "https://evil.example"}))
		}, reasonIssuer},
		{"no issuer", func() string { return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"iss": nil})) }, reasonIssuer},
		{"wrong audience", func() string { return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"aud": "billing"})) }, reasonAudience},
		{"wrong audience array", func() string {
			return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"aud": []string{"billing", "appreg2"}}))
		}, reasonAudience},
		{"empty audience array", func() string { return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"aud": []string{}})) }, reasonAudience},
		{"audience array with a number", func() string {
			return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"aud": []any{testAudience, 1}}))
		}, reasonAudience},
		{"no audience", func() string { return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"aud": nil})) }, reasonAudience},

		// Tenant, subject, roles.
		{"no tenantId", func() string { return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"tenantId": nil})) }, reasonNoTenant},
		{"tenantId in another case", func() string {
			return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"tenantId": nil, "tenantid": "tenant-1"}))
		}, reasonNoTenant},
		{"empty tenantId", func() string { return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"tenantId": ""})) }, reasonEmptyTenant},
		{"tenantId of 129 characters", func() string {
			return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"tenantId": strings.Repeat("t", 129)}))
		}, reasonBadTenant},
		{"tenantId not a string", func() string { return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"tenantId": 42})) }, reasonBadTenant},
		{"tenantId with a control character", func() string {
			return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"tenantId": "a\nb"}))
		}, reasonBadTenant},
		{"tenantId twice", func() string {
			return signRaw(t, rsaKey(), rsaHeader(nil), strings.Replace(validPayload, `"tenantId":"tenant-1"`, `"tenantId":"tenant-1","tenantId":"tenant-2"`, 1))
		}, reasonMalformed},
		{"no sub", func() string { return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"sub": nil})) }, reasonNoSubject},
		{"empty sub", func() string { return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"sub": ""})) }, reasonNoSubject},
		{"roles a string", func() string { return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"roles": RoleAdmin})) }, reasonBadRoles},
		{"roles numbers", func() string { return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"roles": []int{1, 2}})) }, reasonBadRoles},
		{"roles with null", func() string {
			return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"roles": []any{RoleAdmin, nil}}))
		}, reasonBadRoles},
		{"roles an object", func() string {
			return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"roles": map[string]bool{RoleAdmin: true}}))
		}, reasonBadRoles},

		// Garbage.
		{"empty", func() string { return "" }, reasonMalformed},
		{"one part", func() string { return "abc" }, reasonMalformed},
		{"two parts", func() string { return parts(valid)[0] + "." + parts(valid)[1] }, reasonMalformed},
		{"four parts", func() string { return valid + ".abc" }, reasonMalformed},
		{"bad base64", func() string { return "e30.e30.!!!" }, reasonMalformed},
		{"padding", func() string { return valid + "==" }, reasonMalformed},
		{"line break in the signature", func() string { return valid[:len(valid)-10] + "\n" + valid[len(valid)-10:] }, reasonMalformed},
		{"spaces", func() string { return " " + valid }, reasonMalformed},
		{"standard base64 alphabet", func() string { return strings.NewReplacer("-", "+", "_", "/").Replace(valid) + "+/" }, reasonMalformed},
		{"non-canonical base64 (trailing bits)", func() string {
			p := parts(mustSign(t, ecKey(), "ec-1", validClaims())) // 64-byte signature: 86 characters, 4 spare bits
			last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", p[2][85])
			p[2] = p[2][:85] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last|1])
			return strings.Join(p, ".")
		}, reasonMalformed},
		{"header not JSON", func() string { return enc("alg=RS256") + "." + enc(validPayload) + ".c2ln" }, reasonMalformed},
		{"header a JSON array", func() string { return enc(`["RS256"]`) + "." + enc(validPayload) + ".c2ln" }, reasonMalformed},
		{"header with trailing data", func() string { return signRaw(t, rsaKey(), rsaHeader(nil)+"{}", validPayload) }, reasonMalformed},
		{"empty header", func() string { return "." + enc(validPayload) + ".c2ln" }, reasonMalformed},
		{"payload not JSON (signed)", func() string { return signRaw(t, rsaKey(), rsaHeader(nil), "hello") }, reasonMalformed},
		{"payload a JSON string (signed)", func() string { return signRaw(t, rsaKey(), rsaHeader(nil), `"hello"`) }, reasonMalformed},
		{"oversize", func() string {
			return mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"pad": strings.Repeat("x", maxTokenSize)}))
		}, reasonTooLarge},
	}
	v := newTestVerifier(t, Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.token()
			p, err := v.Verify(context.Background(), tok)
			if tc.reason != "" {
				wantReason(t, err, tc.reason)
				if strings.Contains(err.Error(), tok) && tok != "" {
					t.Errorf("error %q echoes the token", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.TenantID != "tenant-1" || p.Subject != "user-1" {
				t.Errorf("principal = %+v", p)
			}
		})
	}
}

func TestVerifyPrincipal(t *testing.T) {
	v := newTestVerifier(t, Config{})
	p, err := v.Verify(context.Background(), mustSign(t, ecKey(), "ec-1", validClaims()))
	if err != nil {
		t.Fatal(err)
	}
	want := Principal{TenantID: "tenant-1", Subject: "user-1", Roles: []string{RoleAdmin, "other"}, ExpiresAt: t0.Add(time.Hour)}
	if p.TenantID != want.TenantID || p.Subject != want.Subject || !slices.Equal(p.Roles, want.Roles) || !p.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("principal = %+v, want %+v", p, want)
	}
	if !p.HasRole(RoleAdmin) || p.HasRole(RoleLookup) {
		t.Errorf("HasRole: admin %v lookup %v, want true false", p.HasRole(RoleAdmin), p.HasRole(RoleLookup))
	}
}

func TestVerifyWithoutIssuerAndAudience(t *testing.T) {
	v, err := NewVerifier(context.Background(), Config{
		JWKS: testJWKS(t, map[string]crypto.PublicKey{"rsa-1": rsaKey().Public()}),
		Now:  func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	tok := mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"iss": "anyone", "aud": nil}))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestVerifyAmbiguousKeyWithoutKid(t *testing.T) {
	v := newTestVerifier(t, Config{JWKS: testJWKS(t, map[string]crypto.PublicKey{"a": rsaKey().Public(), "b": otherRSA().Public()})})
	_, err := v.Verify(context.Background(), mustSign(t, rsaKey(), "", validClaims()))
	wantReason(t, err, reasonAmbiguousKey)
	if _, err := v.Verify(context.Background(), mustSign(t, rsaKey(), "a", validClaims())); err != nil {
		t.Fatalf("with kid: %v", err)
	}
}

func TestVerifyIgnoresWeakKeys(t *testing.T) {
	jwks := testJWKS(t, map[string]crypto.PublicKey{
		"small": smallRSA().Public(),
		"rsa-1": rsaKey().Public(),
	})
	// P-384 key published for ES256, which must be P-256.
	p384, err := toPublicJWK(p384Key().Public())
	if err != nil {
		t.Fatal(err)
	}
	p384.Kid, p384.Alg = "p384", ""
	var set map[string][]json.RawMessage
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	set["keys"] = append(set["keys"], json.RawMessage(mustJSON(t, p384)))
	v := newTestVerifier(t, Config{JWKS: []byte(mustJSON(t, set))})

	tests := []struct {
		name   string
		token  string
		reason string
	}{
		{"RSA 1024 by kid", mustSign(t, smallRSA(), "small", validClaims()), reasonUnknownKey},
		{"EC P-384 by kid", signRaw(t, p384Key(), `{"alg":"ES256","kid":"p384"}`, mustJSON(t, validClaims())), reasonUnknownKey},
		{"EC P-384 without kid", signRaw(t, p384Key(), `{"alg":"ES256"}`, mustJSON(t, validClaims())), reasonUnknownKey},
		{"RSA 1024 without kid", mustSign(t, smallRSA(), "", validClaims()), reasonSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tc.token)
			wantReason(t, err, tc.reason)
		})
	}
}

func TestTokenErrorDoesNotEchoToken(t *testing.T) {
	v := newTestVerifier(t, Config{})
	tok := mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"exp": t0.Add(-time.Hour).Unix()}))
	_, err := v.Verify(context.Background(), tok)
	for _, part := range parts(tok) {
		if strings.Contains(err.Error(), part) {
			t.Fatalf("error %q contains part of the token", err)
		}
	}
	if got, want := err.Error(), "invalid token: the token has expired"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
