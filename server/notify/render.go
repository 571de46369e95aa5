package notify

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cxone/appreg/store"
)

// Render is the plain-text subject and body of an outbox message. It reads
// only the payload keys it knows, so nothing else a payload might carry can
// reach a mailbox; payloads never hold a secret or a hash in the first place.
func Render(m store.OutboxMessage) (subject, body string) {
	p := m.Payload
	r := &rendering{m: m, p: p, id: m.ApplicationID, when: formatTime(str(p, "time"))}
	r.name = oneLine(str(p, "applicationName"))
	if r.name == "" {
		r.name = m.ApplicationID
	}
	r.actor = oneLine(str(p, "actor"))
	if r.actor == "appreg" || r.actor == "" {
		r.actor = "the App Registration service"
	}
	r.line("Application: %s", r.name)
	r.line("Client id:   %s", r.id)
	r.line("Tenant:      %s", m.TenantID)
	r.line("")
	subject, ok := r.lifecycle()
	if !ok {
		subject = r.secretsTenancyAndReminders()
	}
	r.line("")
	r.line("-- ")
	r.line("App Registration, CXone platform. Message %s.", m.ID)
	return "[appreg] " + oneLine(subject), r.b.String()
}

// rendering is one message being rendered: what every kind's text names, and the body.
type rendering struct {
	m                     store.OutboxMessage
	p                     map[string]any
	name, id, when, actor string
	b                     strings.Builder
}

func (r *rendering) line(format string, args ...any) { fmt.Fprintf(&r.b, format+"\n", args...) }

// lifecycle writes the text of an application's own lifecycle events, from registration to
// purge, and returns its subject; ok is false for any other kind.
func (r *rendering) lifecycle() (subject string, ok bool) {
	m, p, name, id, when, actor, line := r.m, r.p, r.name, r.id, r.when, r.actor, r.line
	switch m.Kind {
	case store.ActionCreated:
		subject = fmt.Sprintf("Application %q was registered", name)
		line("%s registered this application on %s. You receive this message because this address is one of its contacts.", actor, when)
		if refs := secretList(p, "secretsIssued"); refs != "" {
			line("")
			line("A client secret was issued (ending %s). It was shown once, to whoever registered the application; it is never sent by e-mail.", refs)
		}
	case store.ActionUpdated:
		subject = fmt.Sprintf("Application %q was changed", name)
		line("%s changed this application on %s.", actor, when)
		if fields := strList(p, "changedFields"); len(fields) > 0 {
			line("Changed: %s.", strings.Join(fields, ", "))
		}
	case store.ActionDisabled:
		subject = fmt.Sprintf("Application %q was disabled", name)
		line("%s disabled this application on %s. It can no longer authenticate until it is enabled again.", actor, when)
	case store.ActionEnabled:
		subject = fmt.Sprintf("Application %q was enabled", name)
		line("%s enabled this application on %s. It can authenticate again.", actor, when)
	case store.ActionDeletionScheduled:
		at := formatTime(str(p, "scheduledDeletionTime"))
		subject = fmt.Sprintf("Deletion of application %q scheduled for %s", name, at)
		line("%s deleted this application on %s. It is disabled and locked now, and will be deleted for good at %s.", actor, when, at)
		line("")
		line("To cancel the deletion before then, enable it: POST /applications/%s-enable", id)
	case store.ActionDeletionCancelled:
		subject = fmt.Sprintf("Deletion of application %q cancelled", name)
		line("%s cancelled the deletion of this application on %s. It is enabled and unlocked again.", actor, when)
	case store.ActionPurged:
		subject = fmt.Sprintf("Application %q was deleted for good", name)
		line("This application was deleted for good on %s, with its secrets, as scheduled. This cannot be undone.", when)
	default:
		return "", false
	}
	return subject, true
}

// secretsTenancyAndReminders writes the text of secret, tenancy and reminder messages (and
// of a kind this version does not know) and returns its subject.
func (r *rendering) secretsTenancyAndReminders() (subject string) {
	m, p, name, id, when, actor, line := r.m, r.p, r.name, r.id, r.when, r.actor, r.line
	switch m.Kind {
	case store.ActionSecretIssued:
		subject = fmt.Sprintf("A new secret was issued for application %q", name)
		line("%s issued a new client secret (ending %s) on %s. The secret was shown once, to whoever issued it; it is never sent by e-mail.", actor, secretList(p, "secretsIssued"), when)
		if old := secretExpiries(p, "secretsExpiryChanged"); old != "" {
			line("The previous secrets stay valid until: %s.", old)
		}
		if rev := secretList(p, "secretsRevoked"); rev != "" {
			line("Revoked at once: the secrets ending %s.", rev)
		}
	case store.ActionSecretRevoked:
		subject = fmt.Sprintf("A secret of application %q was revoked", name)
		line("%s revoked the client secrets ending %s on %s. They no longer authenticate.", actor, secretList(p, "secretsRevoked"), when)
	case store.ActionTenancyApproved:
		subject = fmt.Sprintf("Application %q is approved for all tenants", name)
		line("An operator approved this application for all tenants on %s. It can now sign in users of every tenant.", when)
		if c := oneLine(str(p, "tenancyComment")); c != "" {
			line("Comment: %s", c)
		}
	case store.ActionTenancyRejected:
		subject = fmt.Sprintf("Application %q was not approved for all tenants", name)
		line("An operator rejected the all-tenant request of this application on %s. It keeps working in its own tenant only.", when)
		if c := oneLine(str(p, "tenancyComment")); c != "" {
			line("Comment: %s", c)
		}
	case store.KindSecretExpiring7d, store.KindSecretExpiring1d:
		days := "7 days"
		if m.Kind == store.KindSecretExpiring1d {
			days = "1 day"
		}
		subject = fmt.Sprintf("A secret of application %q expires in %s", name, days)
		line("The client secret ending %s expires at %s. Rotate it before then: POST /applications/%s/secrets", oneLine(str(p, "hint")), formatTime(str(p, "expiresTime")), id)
	case store.KindPurgeComing1d:
		at := formatTime(str(p, "scheduledDeletionTime"))
		subject = fmt.Sprintf("Application %q will be deleted for good in 1 day", name)
		line("This application will be deleted for good at %s. To keep it, enable it before then: POST /applications/%s-enable", at, id)
	case store.KindImportedSecret:
		subject = fmt.Sprintf("Application %q: please move to an issued client secret", name)
		line("This application authenticates with the client secret ending %s, imported from an older system.", oneLine(str(p, "hint")))
		line("Such secrets are checked with a deliberately slow hash, so under load or attack their checks can be refused")
		line("for a moment (\"busy\", \"throttled\") while issued secrets never are.")
		line("Move to an issued secret: rotate with POST /applications/%s/secrets (keep the old one valid for a while with", id)
		line("previousSecretExpiresIn), configure the new secret in the client, then revoke the imported one.")
	default:
		subject = fmt.Sprintf("Application %q: %s", name, oneLine(m.Kind))
		line("Event %s on %s.", oneLine(m.Kind), when)
	}
	return subject
}

func str(p map[string]any, key string) string {
	s, _ := p[key].(string)
	return s
}

func strList(p map[string]any, key string) []string {
	var out []string
	switch v := p[key].(type) {
	case []string:
		out = append(out, v...)
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, oneLine(s))
			}
		}
	}
	return out
}

// refs reads a list of secret references ({secretId, hint, expiresTime}).
func refs(p map[string]any, key string) []map[string]any {
	var out []map[string]any
	switch v := p[key].(type) {
	case []map[string]any:
		out = v
	case []any:
		for _, x := range v {
			if m, ok := x.(map[string]any); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

func secretList(p map[string]any, key string) string {
	var hints []string
	for _, r := range refs(p, key) {
		hints = append(hints, oneLine(str(r, "hint")))
	}
	sort.Strings(hints)
	return strings.Join(hints, ", ")
}

func secretExpiries(p map[string]any, key string) string {
	var out []string
	for _, r := range refs(p, key) {
		out = append(out, fmt.Sprintf("ending %s until %s", oneLine(str(r, "hint")), formatTime(str(r, "expiresTime"))))
	}
	return strings.Join(out, "; ")
}

// formatTime shows an RFC 3339 time to people, in UTC to the minute.
func formatTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return oneLine(s)
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// oneLine removes line breaks and other control characters, so no value can
// add a header or forge lines in a message.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
