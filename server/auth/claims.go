package auth

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	json "github.com/go-jose/go-jose/v4/json"
)

// maxNumericDate bounds exp, nbf and iat (year 3000) so they convert to
// time.Time without overflow.
const maxNumericDate = 32503680000

// claimRules are the checks of the payload that depend on the configuration.
type claimRules struct {
	now      time.Time
	leeway   time.Duration
	issuer   string
	audience string
}

// claimSet holds the members of a payload this service reads, undecoded, so
// each rule says what a wrong type means. go-jose's JSON decoder matches the
// names by case and refuses a payload with a member twice.
type claimSet struct {
	Issuer    json.RawMessage `json:"iss"`
	Subject   json.RawMessage `json:"sub"`
	Audience  json.RawMessage `json:"aud"`
	Expiry    json.RawMessage `json:"exp"`
	NotBefore json.RawMessage `json:"nbf"`
	IssuedAt  json.RawMessage `json:"iat"`
	TenantID  json.RawMessage `json:"tenantId"`
	Roles     json.RawMessage `json:"roles"`
}

// principal checks the claims of a verified payload and returns the caller.
func (c claimRules) principal(payload []byte) (Principal, *TokenError) {
	var claims claimSet
	if len(payload) == 0 || payload[0] != '{' || json.Unmarshal(payload, &claims) != nil {
		return Principal{}, malformed("the payload is not a JSON object")
	}

	exp, ok, terr := numericDate(claims.Expiry, "exp")
	if terr != nil {
		return Principal{}, terr
	}
	if !ok {
		return Principal{}, tokenError(reasonNoExpiry)
	}
	if !c.now.Before(exp.Add(c.leeway)) {
		return Principal{}, tokenError(reasonExpired)
	}
	nbf, ok, terr := numericDate(claims.NotBefore, "nbf")
	if terr != nil {
		return Principal{}, terr
	}
	if ok && c.now.Add(c.leeway).Before(nbf) {
		return Principal{}, tokenError(reasonNotYetValid)
	}
	iat, ok, terr := numericDate(claims.IssuedAt, "iat")
	if terr != nil {
		return Principal{}, terr
	}
	if ok && c.now.Add(c.leeway).Before(iat) {
		return Principal{}, tokenError(reasonIssuedFuture)
	}

	if c.issuer != "" {
		if iss, _, _ := stringMember(claims.Issuer, "iss"); iss != c.issuer {
			return Principal{}, tokenError(reasonIssuer)
		}
	}
	if c.audience != "" && !hasAudience(claims.Audience, c.audience) {
		return Principal{}, tokenError(reasonAudience)
	}

	p := Principal{ExpiresAt: exp}
	tenant, ok, terr := stringMember(claims.TenantID, "tenantId")
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

	sub, _, terr := stringMember(claims.Subject, "sub")
	if terr != nil {
		return Principal{}, terr
	}
	if sub == "" {
		return Principal{}, tokenError(reasonNoSubject)
	}
	p.Subject = sub

	if !isNull(claims.Roles) {
		roles, ok := stringArray(claims.Roles)
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
	if len(raw) == 0 || raw[0] != '[' {
		return nil, false
	}
	var ptrs []*string
	if err := json.Unmarshal(raw, &ptrs); err != nil {
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

// isNull reports whether a member is absent or null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// stringMember decodes a string member; absent and null are reported as not
// present, any other type is malformed.
func stringMember(raw json.RawMessage, name string) (string, bool, *TokenError) {
	if isNull(raw) {
		return "", false, nil
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false, malformed(fmt.Sprintf("%q is not a string", name))
	}
	return s, true, nil
}

// numericDate decodes a NumericDate (seconds since the epoch, possibly
// fractional).
func numericDate(raw json.RawMessage, name string) (time.Time, bool, *TokenError) {
	if isNull(raw) {
		return time.Time{}, false, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || f < 0 || f > maxNumericDate {
		return time.Time{}, false, malformed(fmt.Sprintf("the %s claim is not a date in seconds", name))
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}
