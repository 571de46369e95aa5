package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// The signing algorithms this service accepts.
const (
	algRS256 = string(jose.RS256)
	algES256 = string(jose.ES256)
)

const (
	minRSABits = 2048
	maxRSABits = 8192
	// maxJWKSSize bounds a fetched or read key set.
	maxJWKSSize = 1 << 20
)

// verifyKey is a public key of the set that can verify one algorithm.
type verifyKey struct {
	kid        string
	alg        string // algRS256 or algES256
	key        crypto.PublicKey
	thumbprint string
}

// keySet is an immutable parsed JWK set; a refresh replaces it whole.
type keySet struct {
	keys    []*verifyKey
	byKID   map[string][]*verifyKey
	ignored []string // why keys of the set were left out, for error messages
}

// jwkPolicy holds the members of a JWK that decide whether this service uses
// it; go-jose parses the key material.
type jwkPolicy struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	Alg    string   `json:"alg"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
}

// parseKeySet parses a JWK set and keeps the keys usable for RS256 or ES256.
// Keys that are not (other types, curves or algorithms, RSA under 2048 bits,
// encryption keys) are left out, not refused, as a set may serve other
// consumers; a set without a single usable key is an error.
func parseKeySet(data []byte) (*keySet, error) {
	if len(data) > maxJWKSSize {
		return nil, fmt.Errorf("JWKS is larger than %d bytes", maxJWKSSize)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("JWKS is not a JSON JWK set: %w", err)
	}
	if doc.Keys == nil {
		return nil, errors.New(`JWKS has no "keys" member`)
	}
	set := &keySet{byKID: make(map[string][]*verifyKey)}
	for i, raw := range doc.Keys {
		var p jwkPolicy
		if err := json.Unmarshal(raw, &p); err != nil {
			set.ignored = append(set.ignored, fmt.Sprintf("key %d: %v", i, err))
			continue
		}
		vk, err := p.verifyKey(raw)
		if err != nil {
			name := fmt.Sprintf("key %d", i)
			if p.Kid != "" {
				name = fmt.Sprintf("key %q", p.Kid)
			}
			set.ignored = append(set.ignored, name+": "+err.Error())
			continue
		}
		set.keys = append(set.keys, vk)
		if vk.kid != "" {
			set.byKID[vk.kid] = append(set.byKID[vk.kid], vk)
		}
	}
	if len(set.keys) == 0 {
		msg := "JWKS has no key usable for RS256 (RSA of at least 2048 bits) or ES256 (EC P-256)"
		if len(set.ignored) > 0 {
			msg += "; ignored: " + strings.Join(set.ignored, "; ")
		}
		return nil, errors.New(msg)
	}
	return set, nil
}

// verifyKey applies the policy to the JWK raw and, when it passes, has
// go-jose parse the key.
func (p *jwkPolicy) verifyKey(raw []byte) (*verifyKey, error) {
	if p.Use != "" && p.Use != "sig" {
		return nil, fmt.Errorf("use %q is not sig", p.Use)
	}
	if p.KeyOps != nil && !slices.Contains(p.KeyOps, "verify") {
		return nil, errors.New(`key_ops does not allow "verify"`)
	}
	vk := &verifyKey{kid: p.Kid}
	switch p.Kty {
	case "RSA":
		vk.alg = algRS256
	case "EC":
		vk.alg = algES256
		if p.Crv != "P-256" {
			return nil, fmt.Errorf("EC curve %q is not accepted (ES256 needs P-256)", p.Crv)
		}
	default:
		return nil, fmt.Errorf("key type %q is not accepted", p.Kty)
	}
	if p.Alg != "" && p.Alg != vk.alg {
		return nil, fmt.Errorf("alg %q is not accepted (want %s for this key)", p.Alg, vk.alg)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	jwk = jwk.Public() // a set published with private members by mistake
	switch k := jwk.Key.(type) {
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return nil, fmt.Errorf("RSA key of %d bits is not accepted (want %d to %d)", bits, minRSABits, maxRSABits)
		}
		if k.E < 3 || k.E%2 == 0 {
			return nil, fmt.Errorf("RSA exponent %d is not accepted", k.E)
		}
	case *ecdsa.PublicKey:
	default:
		return nil, fmt.Errorf("key of type %T is not accepted", jwk.Key)
	}
	vk.key = jwk.Key
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	vk.thumbprint = base64.RawURLEncoding.EncodeToString(tp)
	return vk, nil
}

// algorithmOf returns the JWS algorithm of an RSA or ECDSA (P-256, P-384,
// P-521) public key.
func algorithmOf(key crypto.PublicKey) (jose.SignatureAlgorithm, error) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return jose.RS256, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		case elliptic.P521():
			return jose.ES512, nil
		}
		return "", errors.New("unsupported EC curve")
	}
	return "", fmt.Errorf("unsupported key type %T (want RSA or ECDSA)", key)
}

// publicOf returns the public half of key when key is a private key, so a
// private key passed by mistake is never published.
func publicOf(key crypto.PublicKey) crypto.PublicKey {
	if s, ok := key.(interface{ Public() crypto.PublicKey }); ok {
		return s.Public()
	}
	return key
}

// thumbprint returns the RFC 7638 JWK thumbprint (SHA-256, base64url) of key.
func thumbprint(key crypto.PublicKey) (string, error) {
	tp, err := (&jose.JSONWebKey{Key: publicOf(key)}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// PublicJWKS returns the JWK set (JSON) of keys, kid → public key, RSA or
// ECDSA. Private keys are accepted and only their public half is written.
// Members are ordered by kid so the output is stable.
func PublicJWKS(keys map[string]crypto.PublicKey) ([]byte, error) {
	kids := make([]string, 0, len(keys))
	for kid := range keys {
		kids = append(kids, kid)
	}
	slices.Sort(kids)
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(kids))}
	for _, kid := range kids {
		pub := publicOf(keys[kid])
		alg, err := algorithmOf(pub)
		if err != nil {
			return nil, fmt.Errorf("auth: key %q: %w", kid, err)
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: kid, Use: "sig", Algorithm: string(alg)})
	}
	b, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
