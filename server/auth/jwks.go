package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// The signing algorithms this service accepts.
const (
	algRS256 = "RS256"
	algES256 = "ES256"
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
	rsa        *rsa.PublicKey
	ec         *ecdsa.PublicKey
	thumbprint string
}

// keySet is an immutable parsed JWK set; a refresh replaces it whole.
type keySet struct {
	keys    []*verifyKey
	byKID   map[string][]*verifyKey
	ignored []string // why keys of the set were left out, for error messages
}

// jwk is one member of a JWK set as published (RFC 7517, 7518).
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	Alg    string   `json:"alg"`
	KeyOps []string `json:"key_ops"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
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
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			set.ignored = append(set.ignored, fmt.Sprintf("key %d: %v", i, err))
			continue
		}
		vk, err := k.verifyKey()
		if err != nil {
			name := fmt.Sprintf("key %d", i)
			if k.Kid != "" {
				name = fmt.Sprintf("key %q", k.Kid)
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

func (k *jwk) verifyKey() (*verifyKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return nil, fmt.Errorf("use %q is not sig", k.Use)
	}
	if k.KeyOps != nil && !slices.Contains(k.KeyOps, "verify") {
		return nil, errors.New(`key_ops does not allow "verify"`)
	}
	vk := &verifyKey{kid: k.Kid}
	switch k.Kty {
	case "RSA":
		vk.alg = algRS256
		pub, err := parseRSA(k.N, k.E)
		if err != nil {
			return nil, err
		}
		vk.rsa = pub
	case "EC":
		vk.alg = algES256
		if k.Crv != "P-256" {
			return nil, fmt.Errorf("EC curve %q is not accepted (ES256 needs P-256)", k.Crv)
		}
		pub, err := parseP256(k.X, k.Y)
		if err != nil {
			return nil, err
		}
		vk.ec = pub
	default:
		return nil, fmt.Errorf("key type %q is not accepted", k.Kty)
	}
	if k.Alg != "" && k.Alg != vk.alg {
		return nil, fmt.Errorf("alg %q is not accepted (want %s for this key)", k.Alg, vk.alg)
	}
	tp, err := thumbprint(vk.publicKey())
	if err != nil {
		return nil, err
	}
	vk.thumbprint = tp
	return vk, nil
}

func (vk *verifyKey) publicKey() crypto.PublicKey {
	if vk.rsa != nil {
		return vk.rsa
	}
	return vk.ec
}

// decodeJWKField decodes a base64url member of a JWK, tolerating the padding
// some publishers add.
func decodeJWKField(name, s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("member %q is not base64url", name)
	}
	return b, nil
}

func parseRSA(n64, e64 string) (*rsa.PublicKey, error) {
	nb, err := decodeJWKField("n", n64)
	if err != nil {
		return nil, err
	}
	eb, err := decodeJWKField("e", e64)
	if err != nil {
		return nil, err
	}
	n := new(big.Int).SetBytes(nb)
	if bits := n.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("RSA key of %d bits is not accepted (want %d to %d)", bits, minRSABits, maxRSABits)
	}
	if len(eb) > 4 {
		return nil, errors.New("RSA exponent is too large")
	}
	e := 0
	for _, b := range eb {
		e = e<<8 | int(b)
	}
	if e < 3 || e%2 == 0 || e > 1<<31-1 {
		return nil, fmt.Errorf("RSA exponent %d is not accepted", e)
	}
	return &rsa.PublicKey{N: n, E: e}, nil
}

func parseP256(x64, y64 string) (*ecdsa.PublicKey, error) {
	x, err := decodeJWKField("x", x64)
	if err != nil {
		return nil, err
	}
	y, err := decodeJWKField("y", y64)
	if err != nil {
		return nil, err
	}
	if len(x) != 32 || len(y) != 32 {
		return nil, errors.New("EC P-256 coordinates must be 32 bytes each")
	}
	point := make([]byte, 0, 65)
	point = append(point, 4)
	point = append(point, x...)
	point = append(point, y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("EC key is not a P-256 point: %w", err)
	}
	return pub, nil
}

// publicJWK is the JSON form of a public key in a JWK set.
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

// toPublicJWK returns the JWK form of an RSA or ECDSA (P-256, P-384, P-521)
// public key, without kid.
func toPublicJWK(key crypto.PublicKey) (publicJWK, error) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		e := big.NewInt(int64(k.E)).Bytes()
		return publicJWK{
			Kty: "RSA", Use: "sig", Alg: algRS256,
			N: base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(e),
		}, nil
	case *ecdsa.PublicKey:
		var crv, alg string
		switch k.Curve {
		case elliptic.P256():
			crv, alg = "P-256", algES256
		case elliptic.P384():
			crv, alg = "P-384", "ES384"
		case elliptic.P521():
			crv, alg = "P-521", "ES512"
		default:
			return publicJWK{}, errors.New("unsupported EC curve")
		}
		point, err := k.Bytes()
		if err != nil {
			return publicJWK{}, err
		}
		size := (len(point) - 1) / 2
		return publicJWK{
			Kty: "EC", Use: "sig", Alg: alg, Crv: crv,
			X: base64.RawURLEncoding.EncodeToString(point[1 : 1+size]),
			Y: base64.RawURLEncoding.EncodeToString(point[1+size:]),
		}, nil
	default:
		return publicJWK{}, fmt.Errorf("unsupported key type %T (want RSA or ECDSA)", key)
	}
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
	j, err := toPublicJWK(publicOf(key))
	if err != nil {
		return "", err
	}
	// Required members only, in lexicographic order, no whitespace.
	var m map[string]string
	switch j.Kty {
	case "RSA":
		m = map[string]string{"e": j.E, "kty": j.Kty, "n": j.N}
	default:
		m = map[string]string{"crv": j.Crv, "kty": j.Kty, "x": j.X, "y": j.Y}
	}
	b, err := json.Marshal(m) // encoding/json sorts map keys
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
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
	set := struct {
		Keys []publicJWK `json:"keys"`
	}{Keys: make([]publicJWK, 0, len(kids))}
	for _, kid := range kids {
		j, err := toPublicJWK(publicOf(keys[kid]))
		if err != nil {
			return nil, fmt.Errorf("auth: key %q: %w", kid, err)
		}
		j.Kid = kid
		set.Keys = append(set.Keys, j)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(set); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
