package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	// maxTokenSize bounds the compact token; platform tokens are well under 2 KiB.
	maxTokenSize = 8 << 10
	// maxNumericDate bounds exp, nbf and iat (year 3000) so they convert to
	// time.Time without overflow.
	maxNumericDate = 32503680000
)

// b64 is the base64url alphabet without padding, strict on trailing bits so a
// signature has exactly one encoding.
var b64 = base64.RawURLEncoding.Strict()

// jws is a compact JWS split and decoded, not yet verified.
type jws struct {
	alg          string
	kid          string
	signingInput string // header.payload, what the signature covers
	payload      []byte
	signature    []byte
}

// parseJWS splits a compact JWS and checks its header: the algorithm, typ and
// crit. It does not look at the payload beyond its encoding.
func parseJWS(token string) (*jws, *TokenError) {
	// Only the base64url alphabet and two dots: this refuses padding, spaces
	// and the line breaks the base64 decoder would otherwise skip.
	dots := 0
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case c == '.':
			dots++
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return nil, malformed("not a compact JWS (base64url parts separated by dots)")
		}
	}
	if dots != 2 {
		return nil, malformed("not three dot-separated parts")
	}
	h64, rest, _ := strings.Cut(token, ".")
	p64, s64, _ := strings.Cut(rest, ".")
	if h64 == "" || p64 == "" {
		return nil, malformed("empty header or payload")
	}
	headerJSON, err := b64.DecodeString(h64)
	if err != nil {
		return nil, malformed("the header is not base64url")
	}
	header, err := parseObject(headerJSON)
	if err != nil {
		return nil, malformed("the header is not a JSON object")
	}
	t := &jws{signingInput: token[:len(h64)+1+len(p64)]}

	alg, ok, terr := stringMember(header, "alg")
	switch {
	case terr != nil:
		return nil, terr
	case !ok || alg == "":
		return nil, tokenError(reasonNoAlgorithm)
	case alg != algRS256 && alg != algES256:
		if len(alg) > maxAlgorithmEchoLen {
			alg = alg[:maxAlgorithmEchoLen] + "..."
		}
		return nil, tokenError(fmt.Sprintf("unsupported signing algorithm %q: use RS256 or ES256", alg))
	}
	t.alg = alg

	typ, ok, terr := stringMember(header, "typ")
	if terr != nil {
		return nil, terr
	}
	if ok && !acceptedType(typ) {
		return nil, tokenError(reasonType)
	}
	if _, ok := header["crit"]; ok {
		return nil, tokenError(reasonCrit)
	}
	if t.kid, _, terr = stringMember(header, "kid"); terr != nil {
		return nil, terr
	}

	if t.payload, err = b64.DecodeString(p64); err != nil {
		return nil, malformed("the payload is not base64url")
	}
	if t.signature, err = b64.DecodeString(s64); err != nil {
		return nil, malformed("the signature is not base64url")
	}
	if len(t.signature) == 0 {
		return nil, tokenError(reasonSignature)
	}
	return t, nil
}

// acceptedType reports whether typ names a JWT: "JWT" or "at+jwt" (RFC 9068),
// with or without the "application/" prefix, in any case.
func acceptedType(typ string) bool {
	typ = strings.ToLower(typ)
	typ = strings.TrimPrefix(typ, "application/")
	return typ == "jwt" || typ == "at+jwt"
}

// verifySignature reports whether sig is k's signature of input.
func verifySignature(k *verifyKey, input string, sig []byte) bool {
	digest := sha256.Sum256([]byte(input))
	switch k.alg {
	case algRS256:
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, digest[:], sig) == nil
	case algES256:
		// JWS carries r||s, 32 bytes each (RFC 7518 3.4), not ASN.1.
		if len(sig) != 64 {
			return false
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k.ec, digest[:], r, s)
	}
	return false
}

// claimRules are the checks of the payload that depend on the configuration.
type claimRules struct {
	now      time.Time
	leeway   time.Duration
	issuer   string
	audience string
}

// principal checks the claims of a verified payload and returns the caller.
func (c claimRules) principal(payload []byte) (Principal, *TokenError) {
	claims, err := parseObject(payload)
	if err != nil {
		return Principal{}, malformed("the payload is not a JSON object")
	}

	exp, ok, terr := numericDate(claims, "exp")
	if terr != nil {
		return Principal{}, terr
	}
	if !ok {
		return Principal{}, tokenError(reasonNoExpiry)
	}
	if !c.now.Before(exp.Add(c.leeway)) {
		return Principal{}, tokenError(reasonExpired)
	}
	nbf, ok, terr := numericDate(claims, "nbf")
	if terr != nil {
		return Principal{}, terr
	}
	if ok && c.now.Add(c.leeway).Before(nbf) {
		return Principal{}, tokenError(reasonNotYetValid)
	}
	iat, ok, terr := numericDate(claims, "iat")
	if terr != nil {
		return Principal{}, terr
	}
	if ok && c.now.Add(c.leeway).Before(iat) {
		return Principal{}, tokenError(reasonIssuedFuture)
	}

	if c.issuer != "" {
		iss, _, _ := stringMember(claims, "iss")
		if iss != c.issuer {
			return Principal{}, tokenError(reasonIssuer)
		}
	}
	if c.audience != "" && !hasAudience(claims["aud"], c.audience) {
		return Principal{}, tokenError(reasonAudience)
	}

	p := Principal{ExpiresAt: exp}
	tenant, ok, terr := stringMember(claims, "tenantId")
	switch {
	case terr != nil:
		return Principal{}, tokenError(reasonBadTenant)
	case !ok:
		return Principal{}, tokenError(reasonNoTenant)
	case tenant == "":
		return Principal{}, tokenError(reasonEmptyTenant)
	case !validTenantID(tenant):
		return Principal{}, tokenError(reasonBadTenant)
	}
	p.TenantID = tenant

	sub, _, terr := stringMember(claims, "sub")
	if terr != nil {
		return Principal{}, terr
	}
	if sub == "" {
		return Principal{}, tokenError(reasonNoSubject)
	}
	p.Subject = sub

	if raw, ok := claims["roles"]; ok && !isNull(raw) {
		roles, ok := stringArray(raw)
		if !ok {
			return Principal{}, tokenError(reasonBadRoles)
		}
		p.Roles = roles
	}
	return p, nil
}

func validTenantID(s string) bool {
	if utf8.RuneCountInString(s) > maxTenantIDRunes {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// hasAudience reports whether aud, a string or an array of strings, names want.
func hasAudience(aud json.RawMessage, want string) bool {
	if len(aud) > 0 && aud[0] == '"' {
		var one string
		return json.Unmarshal(aud, &one) == nil && one == want
	}
	many, ok := stringArray(aud)
	return ok && slices.Contains(many, want)
}

// stringArray decodes a JSON array whose elements are all strings.
func stringArray(raw json.RawMessage) ([]string, bool) {
	var ptrs []*string
	if err := json.Unmarshal(raw, &ptrs); err != nil || ptrs == nil {
		return nil, false
	}
	out := make([]string, len(ptrs))
	for i, p := range ptrs {
		if p == nil {
			return nil, false
		}
		out[i] = *p
	}
	return out, true
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(raw, []byte("null"))
}

// stringMember returns the string member name of obj; absent and null are
// reported as not present, any other type is malformed.
func stringMember(obj map[string]json.RawMessage, name string) (string, bool, *TokenError) {
	raw, ok := obj[name]
	if !ok || isNull(raw) {
		return "", false, nil
	}
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false, malformed(fmt.Sprintf("%q is not a string", name))
	}
	return s, true, nil
}

// numericDate returns the NumericDate (seconds since the epoch, possibly
// fractional) member name of obj.
func numericDate(obj map[string]json.RawMessage, name string) (time.Time, bool, *TokenError) {
	raw, ok := obj[name]
	if !ok || isNull(raw) {
		return time.Time{}, false, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || f < 0 || f > maxNumericDate {
		return time.Time{}, false, malformed(fmt.Sprintf("the %s claim is not a date in seconds", name))
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

var errDuplicateMember = errors.New("duplicate member")

// parseObject parses a JSON object into its members, exactly as named.
// Unlike json.Unmarshal into a struct it neither matches names without regard
// to case nor lets a repeated member override an earlier one: a token whose
// "alg" or "tenantId" reads differently to another parser is refused.
func parseObject(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not an object")
	}
	obj := make(map[string]json.RawMessage, 8)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("member name is not a string")
		}
		if _, dup := obj[name]; dup {
			return nil, fmt.Errorf("%w %q", errDuplicateMember, name)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		obj[name] = raw
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the object")
	}
	return obj, nil
}
