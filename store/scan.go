package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"gorm.io/gorm"
)

// applicationColumns are the columns of an Application row, in the order scanApplication
// reads them.
const applicationColumns = "id, tenant_id, name, description, contacts, type, tenancy, " +
	"tenancy_approval, tenancy_decided_by, tenancy_decided_time, tenancy_comment, redirects, " +
	"origins, logouts, auth_method, jwks_endpoint, scope, enabled, created_by, created_time, " +
	"last_modified_by, last_modified_time, last_used_time, scheduled_deletion_time, version, " +
	"secret_expires_time, registration_method, registration_token_id"

// findApplications selects applicationColumns with the conditions and order of db, at most
// limit rows when limit > 0, and scans them with scanApplications.
func findApplications(db *gorm.DB, limit int) ([]Application, error) {
	q := db.Model(&Application{}).Select(applicationColumns)
	if limit > 0 {
		q = q.Limit(limit)
	}
	return scanApplications(q, limit)
}

// scanApplications runs q, a query of applicationColumns expected to read about rows rows (0:
// unknown), and scans its rows without reflection. It serves every read of whole
// applications: viewApplication and listApplication read them on every call, and GORM's
// reflective scan of 25 columns, four of them JSON, cost more CPU than the query itself. On
// PostgreSQL, outside a transaction, the query runs on pgx itself (onPgx).
func scanApplications(q *gorm.DB, rows int) ([]Application, error) {
	if !onPgx(q) {
		return scanSQL(q, rows)
	}
	var apps []Application
	if err := queryPgx(q, &[]Application{}, readApplications(&apps, rows)); err != nil {
		return nil, err
	}
	return apps, nil
}

// rowsHint is the capacity to give the slice of a read expected to return about rows rows:
// a view's read of one id took a slice of 16 applications, 8 KB, a third of what the whole
// request allocated.
func rowsHint(rows int) int {
	if rows <= 0 {
		return 16
	}
	return min(rows, 1000)
}

// scanSQL is scanApplications on database/sql.
func scanSQL(q *gorm.DB, rows int) ([]Application, error) {
	r, err := q.Rows()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	apps := make([]Application, 0, rowsHint(rows))
	for r.Next() {
		apps = append(apps, Application{})
		a := &apps[len(apps)-1]
		if err := scanApplication(r, a); err != nil {
			return nil, err
		}
		a.afterRead()
	}
	return apps, r.Err()
}

// readApplications is the read of a pgx query of applicationColumns expected to return about
// rows rows: it sets *apps to them (afterRead), anew each time it is called (a retried query
// reads again).
func readApplications(apps *[]Application, rows int) func(pgx.Rows) error {
	return func(r pgx.Rows) error {
		*apps = make([]Application, 0, rowsHint(rows))
		// Every row is scanned into row through one set of destinations, then copied out: pgx
		// writes every field of it anew (new strings; a new time or nil for the nullable
		// ones), so no copy shares anything with the next row.
		var (
			row                                   Application
			contacts, redirects, origins, logouts pgtype.DriverBytes // valid until Next
		)
		dest := applicationFields(&row, &contacts, &redirects, &origins, &logouts,
			&row.TenancyDecidedTime, &row.LastUsedTime, &row.ScheduledDeletionTime, &row.SecretExpiresTime)
		for r.Next() {
			if err := r.Scan(dest...); err != nil {
				return err
			}
			if err := decodeLists(&row, contacts, redirects, origins, logouts); err != nil {
				return err
			}
			row.afterRead()
			*apps = append(*apps, row)
		}
		return nil
	}
}

// onPgx reports whether q can run on pgx itself: on PostgreSQL, outside a transaction.
func onPgx(q *gorm.DB) bool {
	_, pooled := q.Statement.ConnPool.(*sql.DB)
	return pooled && q.Dialector.Name() == "postgres"
}

// queryPgx runs q's query on pgx itself and hands its rows to read, which scans each column
// straight into its field: through database/sql every column became a driver.Value first (a
// string boxed in an interface, one allocation more per column) and was then copied again, and
// GORM's scan adds reflection on top; a tenant's list of 100 applications is 2,500 columns.
// GORM builds the statement (without running it) for model, a pointer to a slice of q's model.
// read is called again, from the start of a new result, if the query is retried.
func queryPgx(q *gorm.DB, model any, read func(pgx.Rows) error) error {
	stmt := q.Session(&gorm.Session{DryRun: true}).Find(model)
	if stmt.Error != nil {
		return stmt.Error
	}
	return sendPgx(q.Statement.Context, q, stmt.Statement.SQL.String(), stmt.Statement.Vars, read)
}

// sendPgx runs query (PostgreSQL's $n placeholders) with args on a pooled connection of db,
// on pgx itself, and hands its rows to read; a query that failed on a stale connection is sent
// once more, and read is called again from the start of the new result.
func sendPgx(ctx context.Context, db *gorm.DB, query string, args []any, read func(pgx.Rows) error) error {
	send := func() error {
		return withPgx(ctx, db, func(conn *pgx.Conn) error {
			rows, err := conn.Query(ctx, query, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			if err := read(rows); err != nil {
				return err
			}
			return rows.Err()
		})
	}
	err := send()
	if err != nil && IsUnavailable(err) && ctx.Err() == nil {
		// database/sql retries a query that failed on a pooled connection gone stale (the
		// server restarted, a proxy dropped it); a read is always safe to run again.
		err = send()
	}
	// Observed once retried, as database/sql's retries are: a stale connection replaced is
	// not an outage.
	observeOn(db, err)
	return err
}

// applicationFields are the scan destinations of a row of applicationColumns into a: its
// fields, and the given destinations for the four list columns and the four nullable times.
func applicationFields(a *Application, contacts, redirects, origins, logouts, decided, lastUsed, scheduled, secretExpires any) []any {
	return []any{&a.ID, &a.TenantID, &a.Name, &a.Description, contacts, &a.Type, &a.Tenancy,
		&a.TenancyApproval, &a.TenancyDecidedBy, decided, &a.TenancyComment, redirects,
		origins, logouts, &a.AuthMethod, &a.JWKSEndpoint, &a.Scope, &a.Enabled, &a.CreatedBy, &a.CreatedTime,
		&a.LastModifiedBy, &a.LastModifiedTime, lastUsed, scheduled, &a.Version, secretExpires,
		&a.RegistrationMethod, &a.RegistrationTokenID}
}

// scanApplication reads one database/sql row of applicationColumns into a.
func scanApplication(rows *sql.Rows, a *Application) error {
	var (
		contacts, redirects, origins, logouts sql.RawBytes
		decided, lastUsed, scheduled          sql.NullTime
		secretExpires                         sql.NullTime
	)
	err := rows.Scan(applicationFields(a, &contacts, &redirects, &origins, &logouts, &decided, &lastUsed, &scheduled, &secretExpires)...)
	if err != nil {
		return err
	}
	a.TenancyDecidedTime = timePtr(decided)
	a.LastUsedTime = timePtr(lastUsed)
	a.ScheduledDeletionTime = timePtr(scheduled)
	a.SecretExpiresTime = timePtr(secretExpires)
	return decodeLists(a, contacts, redirects, origins, logouts)
}

// decodeLists decodes the four list columns of a row into a.
func decodeLists[B ~[]byte](a *Application, contacts, redirects, origins, logouts B) error {
	for _, l := range []struct {
		raw  []byte
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
	// Into a new slice: encoding/json would append into the backing array of one already
	// in *list, which a previous row's copy may share (scanPgx reuses its row).
	var out []string
	if err := json.Unmarshal(raw, &out); err != nil {
		return err
	}
	*list = out
	return nil
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
