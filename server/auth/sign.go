package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
)

// Sign returns a compact JWS of claims signed with key: RS256 for an RSA
// key, ES256 for an ECDSA P-256 key. kid, when not empty, names the key in
// the header. Any crypto.Signer with such a public key will do, an
// *rsa.PrivateKey or *ecdsa.PrivateKey as well as a key held elsewhere.
//
// Sign does not check the claims: tests use it to make bad tokens too.
func Sign(key crypto.Signer, kid string, claims map[string]any) (string, error) {
	var alg jose.SignatureAlgorithm
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		alg = jose.RS256
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return "", errors.New("auth: sign: ECDSA keys must be on P-256 (ES256)")
		}
		alg = jose.ES256
	default:
		return "", fmt.Errorf("auth: sign: unsupported key type %T (want RSA or ECDSA P-256)", pub)
	}
	var signingKey any = key
	switch key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
	default:
		signingKey = cryptosigner.Opaque(key)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: signingKey}, opts)
	if err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	if claims == nil {
		claims = map[string]any{}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("auth: sign: encode claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	return jws.CompactSerialize()
}
