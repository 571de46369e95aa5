package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
)

// maxTokenSize bounds the compact token; platform tokens are well under 2 KiB.
const maxTokenSize = 8 << 10

// acceptedAlgorithms is the allow-list handed to go-jose: a token whose
// header names any other alg is refused before a key is looked at.
var acceptedAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// parseJWS parses a compact JWS with go-jose and checks what go-jose leaves
// to its caller: the canonical base64url form, typ and crit. It does not look
// at the payload.
func parseJWS(token string) (*jose.JSONWebSignature, *TokenError) {
	if terr := checkCompactForm(token); terr != nil {
		return nil, terr
	}
	jws, err := jose.ParseSignedCompact(token, acceptedAlgorithms)
	if err != nil {
		return nil, parseError(token, err)
	}
	h := jws.Signatures[0].Header
	if typ, ok := h.ExtraHeaders[jose.HeaderType]; ok && typ != nil {
		s, isString := typ.(string)
		if !isString {
			return nil, malformed(`"typ" is not a string`)
		}
		if !acceptedType(s) {
			return nil, tokenError(reasonType)
		}
	}
	if _, ok := h.ExtraHeaders["crit"]; ok {
		return nil, tokenError(reasonCrit)
	}
	if len(jws.Signatures[0].Signature) == 0 {
		return nil, tokenError(reasonSignature)
	}
	return jws, nil
}

// checkCompactForm refuses what the base64 decoder go-jose uses lets
// through: line breaks (which it skips), padding, and non-zero trailing bits
// (so a signature has exactly one spelling). The token is also checked to be
// three parts, the first two not empty.
func checkCompactForm(token string) *TokenError {
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case c == '.', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return malformed("not a compact JWS (base64url parts separated by dots)")
		}
	}
	h64, rest, _ := strings.Cut(token, ".")
	p64, s64, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(s64, ".") {
		return malformed("not three dot-separated parts")
	}
	if h64 == "" || p64 == "" {
		return malformed("empty header or payload")
	}
	for _, part := range [...]string{h64, p64, s64} {
		if !canonicalBase64(part) {
			return malformed("a part is not canonical base64url")
		}
	}
	return nil
}

// canonicalBase64 reports whether the last quantum of part, whose alphabet
// is already checked, decodes strictly (no stray trailing bits).
func canonicalBase64(part string) bool {
	tail := part[len(part)&^3:]
	if tail == "" {
		return true
	}
	var buf [3]byte
	_, err := base64.RawURLEncoding.Strict().Decode(buf[:], []byte(tail))
	return err == nil
}

// parseError turns go-jose's parse error into the reason the caller reads.
// An unexpected alg is named (cut to a length safe to echo); anything else
// is a malformed token, without go-jose's text, which may quote the token.
func parseError(token string, err error) *TokenError {
	var algErr *jose.ErrUnexpectedSignatureAlgorithm
	if !errors.As(err, &algErr) {
		return malformed("the header is not a JSON object of a JWS")
	}
	alg := string(algErr.Got)
	if alg == "" {
		// go-jose reads an alg that is not a string as no alg.
		if algMember(token) {
			return malformed(`"alg" is not a string`)
		}
		return tokenError(reasonNoAlgorithm)
	}
	if len(alg) > maxAlgorithmEchoLen {
		alg = alg[:maxAlgorithmEchoLen] + "..."
	}
	return tokenError(fmt.Sprintf("unsupported signing algorithm %q: use RS256 or ES256", alg))
}

// algMember reports whether the header of token, which go-jose parsed, has
// an alg member other than null.
func algMember(token string) bool {
	h64, _, _ := strings.Cut(token, ".")
	header, err := base64.RawURLEncoding.DecodeString(h64)
	if err != nil {
		return false
	}
	var members map[string]josejson.RawMessage
	if josejson.Unmarshal(header, &members) != nil {
		return false
	}
	raw, ok := members["alg"]
	return ok && !isNull(raw)
}

// acceptedType reports whether typ names a JWT: "JWT" or "at+jwt" (RFC 9068),
// with or without the "application/" prefix, in any case.
func acceptedType(typ string) bool {
	typ = strings.ToLower(typ)
	typ = strings.TrimPrefix(typ, "application/")
	return typ == "jwt" || typ == "at+jwt"
}
