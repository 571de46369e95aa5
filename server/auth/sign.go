package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// Sign returns a compact JWS of claims signed with key: RS256 for an RSA
// key, ES256 for an ECDSA P-256 key. kid, when not empty, names the key in
// the header. Any crypto.Signer with such a public key will do, an
// *rsa.PrivateKey or *ecdsa.PrivateKey as well as a key held elsewhere.
//
// Sign does not check the claims: tests use it to make bad tokens too.
func Sign(key crypto.Signer, kid string, claims map[string]any) (string, error) {
	var alg string
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		alg = algRS256
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return "", errors.New("auth: sign: ECDSA keys must be on P-256 (ES256)")
		}
		alg = algES256
	default:
		return "", fmt.Errorf("auth: sign: unsupported key type %T (want RSA or ECDSA P-256)", pub)
	}
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid,omitempty"`
		Typ string `json:"typ"`
	}{alg, kid, "JWT"})
	if err != nil {
		return "", err
	}
	if claims == nil {
		claims = map[string]any{}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("auth: sign: encode claims: %w", err)
	}
	input := b64.EncodeToString(header) + "." + b64.EncodeToString(payload)
	digest := sha256.Sum256([]byte(input))
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	if alg == algES256 {
		if sig, err = ecdsaRawSignature(sig); err != nil {
			return "", fmt.Errorf("auth: sign: %w", err)
		}
	}
	return input + "." + b64.EncodeToString(sig), nil
}

// ecdsaRawSignature turns the ASN.1 signature crypto.Signer returns into the
// 64-byte r||s form of JWS (RFC 7518 3.4).
func ecdsaRawSignature(der []byte) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &rs)
	if err != nil || len(rest) > 0 || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 ||
		rs.R.BitLen() > 256 || rs.S.BitLen() > 256 {
		return nil, errors.New("unexpected ECDSA signature encoding")
	}
	raw := make([]byte, 64)
	rs.R.FillBytes(raw[:32])
	rs.S.FillBytes(raw[32:])
	return raw, nil
}
