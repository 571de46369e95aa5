package lookup

import (
	"unique"

	"github.com/cxone/appreg/store"
)

// The cache keeps of each application only what the lookup path decides with. A full row
// with two secrets, read from the database, takes about 2 KiB; at 50,000 clients and as many
// origin answers that is some 200 MiB, more than a 256 MiB process can give. The copies below
// halve it.

// policyCopy is the cached form of a client: the policy fields, with the low-cardinality
// strings interned (a tenant's applications share its id; types, tenancies, methods and
// scopes repeat across all), and without the fields no lookup reads: Name, Description,
// Contacts and the people of the audit fields (CreatedBy, LastModifiedBy, TenancyDecidedBy,
// TenancyComment). Secrets keep their id, hash, hint and times, and share App.ID as their
// ApplicationID.
func policyCopy(app *store.Application, secrets []store.Secret) *Client {
	a := *app
	a.Secrets = nil // the client's are Client.Secrets
	a.Name, a.Description, a.Contacts = "", "", []string{}
	a.CreatedBy, a.LastModifiedBy, a.TenancyDecidedBy, a.TenancyComment = "", "", "", ""
	intern(&a.TenantID, &a.Type, &a.Tenancy, &a.TenancyApproval, &a.AuthMethod, &a.Scope, &a.JWKSEndpoint)
	out := make([]store.Secret, len(secrets))
	for i, s := range secrets {
		s.ApplicationID = a.ID
		out[i] = s
	}
	return &Client{App: a, Secrets: out}
}

// corsCopy is the cached form of an application in an origin answer: what the CORS decision
// reads (ID, TenantID, Type, Tenancy, TenancyApproval, Enabled, ScheduledDeletionTime and the
// plain-value fields); every other string and list is empty.
func corsCopy(app *store.Application) store.Application {
	a := store.Application{
		ID:                    app.ID,
		TenantID:              app.TenantID,
		Type:                  app.Type,
		Tenancy:               app.Tenancy,
		TenancyApproval:       app.TenancyApproval,
		TenancyDecidedTime:    app.TenancyDecidedTime,
		Contacts:              []string{},
		Redirects:             []string{},
		Origins:               []string{},
		Logouts:               []string{},
		Enabled:               app.Enabled,
		CreatedTime:           app.CreatedTime,
		LastModifiedTime:      app.LastModifiedTime,
		ScheduledDeletionTime: app.ScheduledDeletionTime,
		Version:               app.Version,
	}
	intern(&a.TenantID, &a.Type, &a.Tenancy, &a.TenancyApproval)
	return a
}

// intern replaces each string by its canonical copy, so equal strings of many cached
// applications share one allocation.
func intern(ss ...*string) {
	for _, s := range ss {
		if *s != "" {
			*s = unique.Make(*s).Value()
		}
	}
}
