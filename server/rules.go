package server

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cxone/appreg/gen"
)

// appSpec is the changeable part of an application as the rules see it.
type appSpec struct {
	Name, Description                     string
	Contacts, Redirects, Origins, Logouts []string
	AuthMethod, JWKSEndpoint, Scope       string
}

// Limits of the contract (openapi.yaml repeats them for the validator).
const (
	maxName        = 128
	maxDescription = 1024
	maxContacts    = 10
	maxEmail       = 254
	maxURIs        = 100
	maxURI         = 2048
	maxScope       = 2048
)

// checkSpec applies the rules of an application of appType to s, normalising
// s in place (origins, contacts, scope, default authMethod), and returns a
// *ValidationError naming every offending field, or nil.
func checkSpec(appType string, s *appSpec) error {
	var ve ValidationError
	if v, reason := cleanText(s.Name, maxName, false); reason != "" {
		ve.Add("name", reason)
	} else if v == "" {
		ve.Add("name", "is required")
	} else {
		s.Name = v
	}
	if v, reason := cleanText(s.Description, maxDescription, true); reason != "" {
		ve.Add("description", reason)
	} else {
		s.Description = v
	}
	s.Contacts = checkList(&ve, "contacts", s.Contacts, maxContacts, normalizeContact)
	if len(s.Contacts) == 0 && !ve.has("contacts") {
		ve.Add("contacts", "at least one notification address is required")
	}

	public := appType == string(gen.Public)
	uriRule := func(raw string) (string, string) { return raw, redirectReason(raw, public) }
	s.Redirects = checkList(&ve, "redirects", s.Redirects, maxURIs, uriRule)
	s.Logouts = checkList(&ve, "logouts", s.Logouts, maxURIs, uriRule)
	s.Origins = checkList(&ve, "origins", s.Origins, maxURIs, normalizeOrigin)

	switch appType {
	case string(gen.Public):
		if len(s.Redirects) == 0 && !ve.has("redirects") {
			ve.Add("redirects", "public applications need at least one redirect URI")
		}
		if s.AuthMethod != "" {
			ve.Add("authMethod", "public applications authenticate with PKCE (S256) and take no authMethod")
		}
	case string(gen.Confidential), string(gen.Backend):
		if appType == string(gen.Confidential) && len(s.Redirects) == 0 && !ve.has("redirects") {
			ve.Add("redirects", "confidential applications need at least one redirect URI")
		}
		if appType == string(gen.Backend) {
			for field, list := range map[string][]string{"redirects": s.Redirects, "origins": s.Origins, "logouts": s.Logouts} {
				if len(list) > 0 && !ve.has(field) {
					ve.Add(field, "backend applications use the token endpoint only and take no "+field)
				}
			}
		}
		switch gen.AuthMethod(s.AuthMethod) {
		case "":
			s.AuthMethod = string(gen.ClientSecretBasic)
		case gen.ClientSecretBasic, gen.ClientSecretPost:
		default:
			ve.Add("authMethod", "must be client_secret_basic or client_secret_post")
		}
	default:
		ve.Add("type", "must be confidential, public or backend")
	}

	if s.JWKSEndpoint != "" {
		if reason := httpsURLReason(s.JWKSEndpoint); reason != "" {
			ve.Add("jwksEndpoint", reason)
		}
	}
	if v, reason := normalizeScope(s.Scope); reason != "" {
		ve.Add("scope", reason)
	} else {
		s.Scope = v
	}
	sortFields(&ve)
	return ve.Err()
}

// has reports whether a field, or an element of it, is already refused.
func (e *ValidationError) has(field string) bool {
	for _, f := range e.Fields {
		if f.Field == field || strings.HasPrefix(f.Field, field+"[") {
			return true
		}
	}
	return false
}

// sortFields keeps field errors in a stable order (map iteration above is not).
func sortFields(ve *ValidationError) {
	fs := ve.Fields
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].Field < fs[j-1].Field; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

// checkList normalises each element of list with rule, refusing bad and
// duplicate elements by index, and returns the normalised list.
func checkList(ve *ValidationError, field string, list []string, max int, rule func(string) (string, string)) []string {
	if len(list) > max {
		ve.Add(field, fmt.Sprintf("at most %d are allowed", max))
		return list
	}
	out := make([]string, 0, len(list))
	seen := make(map[string]int, len(list))
	for i, raw := range list {
		name := fmt.Sprintf("%s[%d]", field, i)
		v, reason := rule(raw)
		if reason != "" {
			ve.Add(name, reason)
			continue
		}
		if j, dup := seen[v]; dup {
			ve.Add(name, fmt.Sprintf("repeats %s[%d]", field, j))
			continue
		}
		seen[v] = i
		out = append(out, v)
	}
	return out
}

// cleanText trims s and refuses invalid UTF-8, control characters (line
// breaks and tabs too unless multiline) and the bidirectional overrides that
// make text read differently from what it is.
func cleanText(s string, max int, multiline bool) (string, string) {
	if !utf8.ValidString(s) {
		return "", "must be valid UTF-8"
	}
	s = strings.TrimSpace(s)
	if n := utf8.RuneCountInString(s); n > max {
		return "", fmt.Sprintf("must be at most %d characters (got %d)", max, n)
	}
	for _, r := range s {
		switch {
		case multiline && (r == '\n' || r == '\t' || r == '\r'):
		case unicode.IsControl(r):
			return "", "must not contain control characters"
		case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F:
			return "", "must not contain bidirectional control characters"
		}
	}
	return s, ""
}

// normalizeContact accepts a plain e-mail address (no display name) and
// lower-cases its domain.
func normalizeContact(raw string) (string, string) {
	const want = "must be a plain e-mail address such as it-admins@example.com"
	if raw == "" || len(raw) > maxEmail || !printableASCII(raw) {
		return "", want
	}
	addr, err := mail.ParseAddress(raw)
	if err != nil || addr.Name != "" || addr.Address != raw {
		return "", want
	}
	local, domain, ok := strings.Cut(raw, "@")
	if !ok || local == "" || len(local) > 64 || !validDomain(domain) {
		return "", want
	}
	return local + "@" + strings.ToLower(domain), ""
}

// validDomain accepts a DNS name with at least two labels (IDNs as punycode).
func validDomain(d string) bool {
	if len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// printableASCII reports whether s holds only visible ASCII (no space).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// isLoopback reports whether host (as url.URL.Hostname gives it) is one of
// the loopback names RFC 8252 allows plain http for.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// forbiddenSchemes can run code or read local data in a browser; never a redirect.
var forbiddenSchemes = map[string]bool{
	"javascript": true, "data": true, "vbscript": true, "file": true, "blob": true,
	"about": true, "ftp": true, "ws": true, "wss": true,
}

// parseURI refuses what no redirect, logout or origin URI may hold: non-ASCII
// or spaces, wildcards, fragments, user info, relative references.
func parseURI(raw string) (*url.URL, string) {
	if raw == "" {
		return nil, "must not be empty"
	}
	if len(raw) > maxURI {
		return nil, fmt.Sprintf("must be at most %d characters", maxURI)
	}
	if !printableASCII(raw) {
		return nil, "must be printable ASCII without spaces; encode international host names as punycode"
	}
	if strings.Contains(raw, "*") {
		return nil, "must not contain a wildcard (*)"
	}
	if strings.Contains(raw, "#") {
		return nil, "must not contain a fragment (#)"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "is not a valid URI"
	}
	if u.Scheme == "" {
		return nil, "must be an absolute URI with a scheme"
	}
	if u.User != nil {
		return nil, "must not contain user information (user@)"
	}
	return u, ""
}

// hostReason checks the authority of an http(s) URI.
func hostReason(u *url.URL) string {
	host := u.Hostname()
	if host == "" {
		return "must have a host"
	}
	if strings.Contains(u.Host, "%") {
		return "must not contain an IPv6 zone or percent-encoded host"
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "must have a port between 1 and 65535"
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return "must not end the host with an empty port"
	}
	if net.ParseIP(host) == nil && !validDomain(host) && !strings.EqualFold(host, "localhost") {
		return "must have a valid host name"
	}
	return ""
}

// redirectReason says why raw is refused as a redirect or post-logout URI,
// or "" when it is fine: https; http on loopback hosts only (RFC 8252 7.3);
// for public (native) applications also a private-use reverse-domain scheme
// (RFC 8252 7.1). Accepted URIs are kept exactly as given: the authorization
// server compares them exactly.
func redirectReason(raw string, public bool) string {
	u, reason := parseURI(raw)
	if reason != "" {
		return reason
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme == "https":
		return hostReason(u)
	case scheme == "http":
		if reason := hostReason(u); reason != "" {
			return reason
		}
		if !isLoopback(u.Hostname()) {
			return "http is only allowed for loopback hosts (127.0.0.1, [::1], localhost); use https"
		}
		return ""
	case forbiddenSchemes[scheme]:
		return "the " + scheme + " scheme is not allowed"
	case !public:
		return "must use https (or http on a loopback host)"
	case !strings.Contains(scheme, "."):
		return "a private-use scheme must be a reverse domain name such as com.example.app (RFC 8252)"
	}
	if u.Opaque == "" && u.Path == "" {
		return "must have a path after the scheme, such as com.example.app:/callback"
	}
	return ""
}

// httpsURLReason checks a URL the service itself may fetch (jwksEndpoint).
func httpsURLReason(raw string) string {
	u, reason := parseURI(raw)
	if reason != "" {
		return reason
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return "must be an https URL"
	}
	return hostReason(u)
}

// normalizeOrigin accepts scheme://host[:port] (one trailing slash allowed)
// and returns it lower-cased without a default port, as browsers send it.
// An origin already in that form is recognised without parsing it as a URL
// (canonicalOrigin; the gateway asks with what browsers send, on every CORS
// check); FuzzOrigin checks that both ways give the same answer.
func normalizeOrigin(raw string) (string, string) {
	if canonicalOrigin(raw) {
		return raw, ""
	}
	return parseOrigin(raw)
}

// canonicalOrigin reports whether raw is an https origin that parseOrigin
// returns unchanged: a lower-case domain name and no port, or a port of 1 to
// 65535 other than 443 written without leading zeros. Anything else (upper
// case, IP literals, http, a trailing slash) is left to parseOrigin.
func canonicalOrigin(raw string) bool {
	rest, ok := strings.CutPrefix(raw, "https://")
	if !ok || len(raw) > maxURI {
		return false
	}
	host, port, hasPort := strings.Cut(rest, ":")
	if hasPort {
		if port == "" || len(port) > 5 || port[0] == '0' || port == "443" {
			return false
		}
		n := 0
		for i := 0; i < len(port); i++ {
			if port[i] < '0' || port[i] > '9' {
				return false
			}
			n = 10*n + int(port[i]-'0')
		}
		if n > 65535 {
			return false
		}
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return validDomain(host)
}

// parseOrigin is normalizeOrigin for any input.
func parseOrigin(raw string) (string, string) {
	u, reason := parseURI(strings.TrimSuffix(raw, "/"))
	if reason != "" {
		return "", reason
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", "must be an https (or loopback http) origin: scheme://host[:port]"
	}
	if u.Opaque != "" || u.Path != "" || u.RawQuery != "" || u.ForceQuery {
		return "", "must be an origin only (scheme://host[:port]), without a path or query"
	}
	if reason := hostReason(u); reason != "" {
		return "", reason
	}
	host := strings.ToLower(u.Hostname())
	if scheme == "http" && !isLoopback(host) {
		return "", "http is only allowed for loopback hosts (127.0.0.1, [::1], localhost); use https"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	port := u.Port()
	if port != "" {
		n, _ := strconv.Atoi(port)
		port = strconv.Itoa(n)
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, ""
}

// normalizeScope checks each space-separated scope token (RFC 6749 3.3) and
// joins them with single spaces, without repeats.
func normalizeScope(raw string) (string, string) {
	if len(raw) > maxScope {
		return "", fmt.Sprintf("must be at most %d characters", maxScope)
	}
	var out []string
	seen := map[string]bool{}
	for _, tok := range strings.Split(raw, " ") {
		if tok == "" {
			continue
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
				return "", fmt.Sprintf("scope %q has a character RFC 6749 does not allow", tok)
			}
		}
		if !seen[tok] {
			seen[tok] = true
			out = append(out, tok)
		}
	}
	return strings.Join(out, " "), ""
}

// validImportedID says why an imported client id is refused, or "": 1 to 128
// of A-Za-z0-9._~-, not ending in -enable or -disable (the published suffix
// paths would route it to the wrong operation), not dots only (path traversal).
func validImportedID(id string) string {
	if id == "" || len(id) > 128 {
		return "must be 1 to 128 characters"
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '~' || c == '-') {
			return "must contain only A-Z, a-z, 0-9 and . _ ~ -"
		}
	}
	if strings.HasSuffix(id, "-enable") || strings.HasSuffix(id, "-disable") {
		return "must not end in -enable or -disable (they are the enable and disable paths)"
	}
	if strings.Trim(id, ".") == "" {
		return "must not consist of dots only"
	}
	return ""
}
