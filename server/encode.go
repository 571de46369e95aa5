package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
)

// The answers of the hottest operations are written without reflection: viewApplication and
// listApplication (a tenant's full list at a hundred applications is about 70 KB, and
// encoding/json's reflective walk of it was over a quarter of listApplication's CPU), and the
// client lookup and verify of the lookup path. Each append function writes exactly the bytes
// encoding/json writes for its type (TestAppendIsEncodingJSON compares them over every field,
// so a field added to the contract and not here fails it), so a client sees no difference.

// viewApplicationResponse is gen.ViewApplication200JSONResponse, encoded by appendApplication.
type viewApplicationResponse struct {
	app  gen.Application
	etag string
}

func (r viewApplicationResponse) VisitViewApplicationResponse(w http.ResponseWriter) error {
	return writeJSON(w, http.StatusOK, r.etag, func(b []byte) ([]byte, error) {
		return appendApplication(b, &r.app)
	})
}

// applicationList is gen.ApplicationList as Server.list makes it: each application either
// already encoded, an answer kept in memory, or encoded here; it answers listApplication and
// the operators' listTenancyRequests, whose answers are both an ApplicationList.
type applicationList struct {
	apps       []listedApp // nil encodes as null, as encoding/json writes a nil list
	nextCursor *string
}

// listedApp is one application of an applicationList: its answer, encoded by
// appendApplication, or, when that is nil, the application to encode.
type listedApp struct {
	json []byte
	app  *store.Application
}

func (l applicationList) VisitListApplicationResponse(w http.ResponseWriter) error {
	return writeJSON(w, http.StatusOK, "", l.appendJSON)
}

func (l applicationList) VisitListTenancyRequestsResponse(w http.ResponseWriter) error {
	return writeJSON(w, http.StatusOK, "", l.appendJSON)
}

// verifyClientSecretResponse is gen.VerifyClientSecret200JSONResponse, encoded by
// appendVerifyResult.
type verifyClientSecretResponse gen.VerifyResult

func (r verifyClientSecretResponse) VisitVerifyClientSecretResponse(w http.ResponseWriter) error {
	return writeJSON(w, http.StatusOK, "", func(b []byte) ([]byte, error) {
		return appendVerifyResult(b, (*gen.VerifyResult)(&r)), nil
	})
}

// cachedPolicy is the policy of a cached client as the tenant asking sees it: the answer
// of gen.LookupClient200JSONResponse(policyOf(&client.App, tenant)) and, valid, of
// verifyClientSecretResponse{Valid: true, Policy: &policy}, byte for byte
// (TestCachedPolicyIsPolicyOf), but encoded once per snapshot of the client (Client.Memo):
// only allowedForTenant depends on the tenant asking.
type cachedPolicy struct {
	client  *lookup.Client
	allowed bool
}

func (r cachedPolicy) VisitLookupClientResponse(w http.ResponseWriter) error {
	return writeJSON(w, http.StatusOK, "", r.appendJSON)
}

func (r cachedPolicy) VisitVerifyClientSecretResponse(w http.ResponseWriter) error {
	return writeJSON(w, http.StatusOK, "", func(b []byte) ([]byte, error) {
		b, _ = r.appendJSON(append(b, `{"policy":`...))
		return append(b, `,"valid":true}`...), nil
	})
}

func (r cachedPolicy) appendJSON(b []byte) ([]byte, error) {
	b = strconv.AppendBool(append(b, policyHead...), r.allowed)
	return append(b, r.client.Memo(encodePolicyTail)...), nil
}

// policyHead is the policy's first member, the one that depends on the tenant asking.
const policyHead = `{"allowedForTenant":`

// encodePolicyTail is the JSON of c's policy after its first member's value.
func encodePolicyTail(c *lookup.Client) []byte {
	p := policyOf(&c.App, "")
	p.AllowedForTenant = false
	return appendClientPolicy(nil, &p)[len(policyHead+"false"):]
}

// corsAnswer is gen.CheckCORSOrigin200JSONResponse{Body: {Allowed: allowed}, Headers:
// {CacheControl: cacheControl}} with its two possible bodies written once at start
// (TestVisitMatchesGenerated compares them).
type corsAnswer struct {
	allowed      bool
	cacheControl []string // "max-age=N", shared by every answer (see frame)
}

var (
	corsAllowed, corsRefused = []byte(`{"allowed":true}` + "\n"), []byte(`{"allowed":false}` + "\n")
	corsAllowedLength        = []string{strconv.Itoa(len(corsAllowed))}
	corsRefusedLength        = []string{strconv.Itoa(len(corsRefused))}
)

func (r corsAnswer) VisitCheckCORSOriginResponse(w http.ResponseWriter) error {
	body, length := corsRefused, corsRefusedLength
	if r.allowed {
		body, length = corsAllowed, corsAllowedLength
	}
	h := w.Header()
	h["Content-Type"] = headerJSONType
	h["Content-Length"] = length
	h["Cache-Control"] = r.cacheControl
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}

// appendProblem appends the JSON of e, as encoding/json writes it. Error answers are a hot
// path of their own under attack: a flood of unknown client ids or of bad tokens is answered
// 404 or 401, thousands a second.
func appendProblem(b []byte, e *gen.Error) []byte {
	b = appendJSONString(append(b, `{"detail":`...), e.Detail)
	b = appendJSONString(append(b, `,"error":`...), e.Error)
	b = appendJSONString(append(b, `,"errorDescription":`...), e.ErrorDescription)
	if e.Errors != nil {
		b = append(b, `,"errors":`...)
		if *e.Errors == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for i, f := range *e.Errors {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(append(b, `{"field":`...), f.Field)
				b = append(appendJSONString(append(b, `,"reason":`...), f.Reason), '}')
			}
			b = append(b, ']')
		}
	}
	if e.RequestID != nil {
		b = appendJSONString(append(b, `,"requestId":`...), *e.RequestID)
	}
	b = strconv.AppendInt(append(b, `,"status":`...), int64(e.Status), 10)
	b = appendJSONString(append(b, `,"title":`...), e.Title)
	b = appendJSONString(append(b, `,"type":`...), e.Type)
	return append(b, '}')
}

// answerBuffers holds the buffers answers are encoded in; one bigger than maxPooledAnswer is
// left to the garbage collector rather than kept.
var answerBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledAnswer = 1 << 20

// writeJSON encodes an answer with encode, then writes it with status and, unless "", an ETag,
// as the generated Visit methods do (and with its Content-Length): nothing is written if
// encoding fails.
func writeJSON(w http.ResponseWriter, status int, etag string, encode func([]byte) ([]byte, error)) error {
	return withAnswerBuffer(func(b []byte) ([]byte, error) {
		b, err := encode(b)
		return append(b, '\n'), err // json.Encoder ends what it writes with a newline
	}, func(b []byte) error {
		w.Header()["Content-Type"] = headerJSONType // shared, as frame's headers are
		// The length is known: the answer goes without chunked framing, and the client knows
		// where it ends before it has read it.
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		w.WriteHeader(status)
		_, err := w.Write(b)
		return err
	})
}

// withAnswerBuffer encodes into a pooled buffer and, unless encode fails, hands the bytes to
// use; they are not valid after use returns. The buffer goes back to the pool unless it grew
// past maxPooledAnswer.
func withAnswerBuffer(encode func([]byte) ([]byte, error), use func([]byte) error) error {
	bp := answerBuffers.Get().(*[]byte)
	b, err := encode((*bp)[:0])
	if err != nil {
		answerBuffers.Put(bp) // as it was: encode may have dropped what it grew
		return err
	}
	err = use(b)
	if cap(b) <= maxPooledAnswer {
		*bp = b[:0]
		answerBuffers.Put(bp)
	}
	return err
}

// appendJSON appends the JSON of the list, as encoding/json writes a gen.ApplicationList.
func (l applicationList) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"applications":`...)
	if l.apps == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, app := range l.apps {
			if i > 0 {
				b = append(b, ',')
			}
			if app.json != nil {
				b = append(b, app.json...)
				continue
			}
			api := toAPI(app.app)
			var err error
			if b, err = appendApplication(b, &api); err != nil {
				return nil, fmt.Errorf("application %s: %w", app.app.ID, err)
			}
		}
		b = append(b, ']')
	}
	if l.nextCursor != nil {
		b = appendJSONString(append(b, `,"nextCursor":`...), *l.nextCursor)
	}
	return append(b, '}'), nil
}

// appendApplication appends the JSON of a, as encoding/json writes it: the fields in the
// struct's order, optional ones omitted when nil, nil lists as null.
func appendApplication(b []byte, a *gen.Application) ([]byte, error) {
	b = append(b, '{')
	if a.AuthMethod != nil {
		b = appendJSONString(append(b, `"authMethod":`...), string(*a.AuthMethod))
		b = append(b, ',')
	}
	b = appendStringList(append(b, `"contacts":`...), a.Contacts)
	b = appendJSONString(append(b, `,"createdBy":`...), a.CreatedBy)
	var err error
	if b, err = appendJSONTime(append(b, `,"createdTime":`...), a.CreatedTime); err != nil {
		return nil, err
	}
	b = appendJSONString(append(b, `,"description":`...), a.Description)
	b = appendJSONString(append(b, `,"effectiveTenancy":`...), string(a.EffectiveTenancy))
	b = appendJSONString(append(b, `,"id":`...), a.ID)
	b = strconv.AppendBool(append(b, `,"isEnabled":`...), a.IsEnabled)
	b = strconv.AppendBool(append(b, `,"isLocked":`...), a.IsLocked)
	if a.JWKSEndpoint != nil {
		b = appendJSONString(append(b, `,"jwksEndpoint":`...), *a.JWKSEndpoint)
	}
	b = appendJSONString(append(b, `,"lastModifiedBy":`...), a.LastModifiedBy)
	if b, err = appendJSONTime(append(b, `,"lastModifiedTime":`...), a.LastModifiedTime); err != nil {
		return nil, err
	}
	if a.LastUsedTime != nil {
		if b, err = appendJSONTime(append(b, `,"lastUsedTime":`...), *a.LastUsedTime); err != nil {
			return nil, err
		}
	}
	b = appendStringList(append(b, `,"logouts":`...), a.Logouts)
	b = appendJSONString(append(b, `,"name":`...), a.Name)
	b = appendStringList(append(b, `,"origins":`...), a.Origins)
	b = appendStringList(append(b, `,"redirects":`...), a.Redirects)
	if r := a.Registration; r != nil {
		b = appendJSONString(append(b, `,"registration":{"method":`...), string(r.Method))
		if r.TokenID != nil {
			b = appendJSONString(append(b, `,"tokenId":`...), *r.TokenID)
		}
		b = append(b, '}')
	}
	if a.ScheduledDeletionTime != nil {
		if b, err = appendJSONTime(append(b, `,"scheduledDeletionTime":`...), *a.ScheduledDeletionTime); err != nil {
			return nil, err
		}
	}
	b = appendJSONString(append(b, `,"scope":`...), a.Scope)
	if a.SecretExpiresTime != nil {
		if b, err = appendJSONTime(append(b, `,"secretExpiresTime":`...), *a.SecretExpiresTime); err != nil {
			return nil, err
		}
	}
	b = appendJSONString(append(b, `,"tenancy":`...), string(a.Tenancy))
	if a.TenancyApproval != nil {
		b = appendJSONString(append(b, `,"tenancyApproval":`...), string(*a.TenancyApproval))
	}
	b = appendJSONString(append(b, `,"tenantId":`...), a.TenantID)
	b = appendJSONString(append(b, `,"type":`...), string(a.Type))
	return append(b, '}'), nil
}

// appendVerifyResult appends the JSON of v, as encoding/json writes it.
func appendVerifyResult(b []byte, v *gen.VerifyResult) []byte {
	b = append(b, '{')
	if v.Policy != nil {
		b = append(appendClientPolicy(append(b, `"policy":`...), v.Policy), ',')
	}
	if v.Reason != nil {
		b = append(appendJSONString(append(b, `"reason":`...), string(*v.Reason)), ',')
	}
	b = strconv.AppendBool(append(b, `"valid":`...), v.Valid)
	return append(b, '}')
}

// appendClientPolicy appends the JSON of p, as encoding/json writes it.
func appendClientPolicy(b []byte, p *gen.ClientPolicy) []byte {
	b = strconv.AppendBool(append(b, `{"allowedForTenant":`...), p.AllowedForTenant)
	if p.AuthMethod != nil {
		b = appendJSONString(append(b, `,"authMethod":`...), string(*p.AuthMethod))
	}
	b = appendJSONString(append(b, `,"effectiveTenancy":`...), string(p.EffectiveTenancy))
	b = appendStringList(append(b, `,"grantTypes":`...), p.GrantTypes)
	b = appendJSONString(append(b, `,"id":`...), p.ID)
	b = strconv.AppendBool(append(b, `,"isEnabled":`...), p.IsEnabled)
	if p.JWKSEndpoint != nil {
		b = appendJSONString(append(b, `,"jwksEndpoint":`...), *p.JWKSEndpoint)
	}
	b = strconv.AppendBool(append(b, `,"locked":`...), p.Locked)
	b = appendStringList(append(b, `,"logouts":`...), p.Logouts)
	b = appendStringList(append(b, `,"origins":`...), p.Origins)
	b = strconv.AppendBool(append(b, `,"pkceRequired":`...), p.PkceRequired)
	b = appendStringList(append(b, `,"redirects":`...), p.Redirects)
	b = appendJSONString(append(b, `,"scope":`...), p.Scope)
	b = appendJSONString(append(b, `,"tenantId":`...), p.TenantID)
	b = strconv.AppendBool(append(b, `,"tokenEndpointOnly":`...), p.TokenEndpointOnly)
	b = appendJSONString(append(b, `,"type":`...), string(p.Type))
	return append(b, '}')
}

func appendStringList[S ~string](b []byte, l []S) []byte {
	if l == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, string(s))
	}
	return append(b, ']')
}

// appendJSONTime appends t as time.Time's MarshalJSON does, which refuses years outside
// 0 to 9999.
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		_, err := json.Marshal(t)
		return nil, err
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

const hexDigits = "0123456789abcdef"

// plainJSON marks the ASCII bytes appendJSONString copies as they are.
var plainJSON = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString appends s as a JSON string the way encoding/json does with its default
// HTML escaping: <, > and & as \u00XX, U+2028 and U+2029 escaped, invalid UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if plainJSON[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(append(b, s[start:i]...), `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
