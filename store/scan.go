package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// applicationColumns are the columns of an Application row, in the order scanApplication
// reads them.
const applicationColumns = "id, tenant_id, name, description, contacts, type, tenancy, " +
	"tenancy_approval, tenancy_decided_by, tenancy_decided_time, tenancy_comment, redirects, " +
	"origins, logouts, auth_method, jwks_endpoint, scope, enabled, created_by, created_time, " +
	"last_modified_by, last_modified_time, last_used_time, scheduled_deletion_time, version"

// findApplications selects applicationColumns with the conditions and order of db, at most
// limit rows when limit > 0, and scans them with scanApplications.
func findApplications(db *gorm.DB, limit int) ([]Application, error) {
	q := db.Model(&Application{}).Select(applicationColumns)
	if limit > 0 {
		q = q.Limit(limit)
	}
	return scanApplications(q)
}

// scanApplications runs q, a query of applicationColumns, and scans its rows without
// reflection. It serves every read of whole applications: viewApplication and
// listApplication read them on every call, and GORM's reflective scan of 25 columns, four of
// them JSON, cost more CPU than the query itself.
func scanApplications(q *gorm.DB) ([]Application, error) {
	rows, err := q.Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	apps := make([]Application, 0, 16)
	for rows.Next() {
		apps = append(apps, Application{})
		if err := scanApplication(rows, &apps[len(apps)-1]); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range apps {
		apps[i].afterRead()
	}
	return apps, nil
}

// scanApplication reads one row of applicationColumns into a.
func scanApplication(rows *sql.Rows, a *Application) error {
	var (
		contacts, redirects, origins, logouts sql.RawBytes
		decided, lastUsed, scheduled          sql.NullTime
	)
	err := rows.Scan(&a.ID, &a.TenantID, &a.Name, &a.Description, &contacts, &a.Type, &a.Tenancy,
		&a.TenancyApproval, &a.TenancyDecidedBy, &decided, &a.TenancyComment, &redirects,
		&origins, &logouts, &a.AuthMethod, &a.JWKSEndpoint, &a.Scope, &a.Enabled, &a.CreatedBy, &a.CreatedTime,
		&a.LastModifiedBy, &a.LastModifiedTime, &lastUsed, &scheduled, &a.Version)
	if err != nil {
		return err
	}
	a.TenancyDecidedTime = timePtr(decided)
	a.LastUsedTime = timePtr(lastUsed)
	a.ScheduledDeletionTime = timePtr(scheduled)
	for _, l := range []struct {
		raw  sql.RawBytes
		list *[]string
		name string
	}{{contacts, &a.Contacts, "contacts"}, {redirects, &a.Redirects, "redirects"}, {origins, &a.Origins, "origins"}, {logouts, &a.Logouts, "logouts"}} {
		if err := decodeStringList(l.raw, l.list); err != nil {
			return fmt.Errorf("application %s: column %s: %w", a.ID, l.name, err)
		}
	}
	return nil
}

func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	return &t.Time
}

// decodeStringList decodes a JSON array of strings, as the store writes its list columns. The
// common form, with no escape in it, is split by hand: encoding/json's reflective decoding of
// four such columns per row was a quarter of listApplication's CPU. Anything else (an escape,
// whitespace, null, a malformed value) goes to encoding/json, which decodes or refuses it.
func decodeStringList(raw []byte, list *[]string) error {
	if out, ok := splitPlainStrings(raw); ok {
		*list = out
		return nil
	}
	return json.Unmarshal(raw, list)
}

// splitPlainStrings parses raw when it is exactly ["...","...",...] (or []) with no
// backslash and no control character in it; ok is false for anything else.
func splitPlainStrings(raw []byte) (out []string, ok bool) {
	if len(raw) < 2 || raw[0] != '[' || raw[len(raw)-1] != ']' {
		return nil, false
	}
	body := raw[1 : len(raw)-1]
	if len(body) == 0 {
		return []string{}, true
	}
	// One string holds every element, which are slices of it: one allocation per list. No
	// element holds an unescaped quote, so `","` occurs only between elements.
	text := string(body)
	out = make([]string, 0, 1+strings.Count(text, `","`))
	for len(text) > 0 {
		if text[0] != '"' {
			return nil, false
		}
		end := 1
		for end < len(text) && text[end] != '"' {
			if text[end] == '\\' || text[end] < 0x20 {
				return nil, false
			}
			end++
		}
		if end == len(text) || !utf8.ValidString(text[1:end]) {
			return nil, false
		}
		out = append(out, text[1:end])
		text = text[end+1:]
		if len(text) > 0 {
			if text[0] != ',' || len(text) == 1 {
				return nil, false
			}
			text = text[1:]
		}
	}
	return out, true
}
