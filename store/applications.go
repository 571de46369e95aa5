package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Application is the stored row of a registered client application.
type Application struct {
	// ID is the primary key and the OAuth2 client_id: a UUID, or an imported id of at most
	// 128 characters.
	ID          string   `gorm:"column:id;primaryKey"`
	TenantID    string   `gorm:"column:tenant_id"`
	Name        string   `gorm:"column:name"`
	Description string   `gorm:"column:description"`
	Contacts    []string `gorm:"column:contacts;serializer:json"`
	// Type is confidential, public or backend; it never changes.
	Type string `gorm:"column:type"`
	// Tenancy is single or all; it never changes.
	Tenancy string `gorm:"column:tenancy"`
	// TenancyApproval is "" for single-tenant applications and pending, approved or rejected
	// for those that asked for all tenants.
	TenancyApproval    string     `gorm:"column:tenancy_approval"`
	TenancyDecidedBy   string     `gorm:"column:tenancy_decided_by"`
	TenancyDecidedTime *time.Time `gorm:"column:tenancy_decided_time"`
	TenancyComment     string     `gorm:"column:tenancy_comment"`
	Redirects          []string   `gorm:"column:redirects;serializer:json"`
	// Origins are the CORS origins; they are also kept in application_origins, which
	// the lookup path's origin reads search.
	Origins          []string   `gorm:"column:origins;serializer:json"`
	Logouts          []string   `gorm:"column:logouts;serializer:json"`
	AuthMethod       string     `gorm:"column:auth_method"`
	JWKSEndpoint     string     `gorm:"column:jwks_endpoint"`
	Scope            string     `gorm:"column:scope"`
	Enabled          bool       `gorm:"column:enabled"`
	CreatedBy        string     `gorm:"column:created_by"`
	CreatedTime      time.Time  `gorm:"column:created_time"`
	LastModifiedBy   string     `gorm:"column:last_modified_by"`
	LastModifiedTime time.Time  `gorm:"column:last_modified_time"`
	LastUsedTime     *time.Time `gorm:"column:last_used_time"`
	// ScheduledDeletionTime, when set, means the application is locked and will be purged at
	// that time; from then on it is invisible (ErrNotFound) even before the purger runs.
	ScheduledDeletionTime *time.Time `gorm:"column:scheduled_deletion_time"`
	// Version is 1 at creation and grows by one with every UpdateApplication, for ETags.
	Version int64 `gorm:"column:version"`
	// SecretExpiresTime is the earliest ExpiresTime among the application's stored secrets
	// (nil when none expires). The store derives it from the secrets on every write that
	// writes them (CreateApplication, UpdateApplication): whatever a caller sets is replaced.
	// It is a column rather than a join so that a listing reads it with the row: a page of a
	// thousand applications is one query, not one per application or a grouped subquery over
	// the secrets. The API revokes a secret by deleting it, so revoked secrets never count; a
	// secret past its expiry (or revoked by moving its expiry to now) still counts until it
	// is deleted, its time then in the past. That keeps the value a function of the stored
	// rows alone: a listing's state (Listed) moves with every write that changes it, and
	// never with the clock.
	SecretExpiresTime *time.Time `gorm:"column:secret_expires_time"`
	// RegistrationMethod is "" for an application an administrator created, and
	// RegistrationInitialToken or RegistrationAnonymous for one that registered itself (RFC
	// 7591); RegistrationTokenID is then the initial access token's id, if any. Both are fixed
	// at creation.
	RegistrationMethod  string `gorm:"column:registration_method"`
	RegistrationTokenID string `gorm:"column:registration_token_id"`

	// Secrets are the application's secrets, oldest first, when the store has loaded them:
	// CreateApplication sets them, UpdateApplication loads them under its lock for the updater
	// and saves what the updater leaves (see UpdateApplication). GetApplication and
	// ListApplications leave them nil. Not a column.
	Secrets []Secret `gorm:"-"`
}

// TableName is the table of Application rows.
func (Application) TableName() string { return "applications" }

// updatableColumns are written by UpdateApplication: all but id, tenant_id, type, created_by
// and created_time, which never change. Listed, rather than Updates(struct), so that false and
// "" are written too.
var updatableColumns = []string{
	"name", "description", "contacts", "tenancy", "tenancy_approval", "tenancy_decided_by",
	"tenancy_decided_time", "tenancy_comment", "redirects", "origins", "logouts",
	"auth_method", "jwks_endpoint", "scope", "enabled", "last_modified_by",
	"last_modified_time", "last_used_time", "scheduled_deletion_time", "version",
	"secret_expires_time",
}

// applicationOrigin is a row of application_origins, the index of Application.Origins.
type applicationOrigin struct {
	ApplicationID string `gorm:"column:application_id;primaryKey"`
	Origin        string `gorm:"column:origin;primaryKey"`
}

// TableName is the table of applicationOrigin rows.
func (applicationOrigin) TableName() string { return "application_origins" }

// Cursor is a keyset position in (created_time, id) order.
type Cursor struct {
	CreatedTime time.Time
	ID          string
}

// The states ListQuery.State selects. They partition the visible applications.
const (
	// StateEnabled: enabled (and so not scheduled for deletion).
	StateEnabled = "enabled"
	// StateDisabled: disabled and not scheduled for deletion.
	StateDisabled = "disabled"
	// StatePendingDeletion: scheduled for deletion, not yet due (restorable).
	StatePendingDeletion = "pendingDeletion"
)

// stateConditions are the conditions of the states: literals, the predicates of the partial
// indexes applications_tenant_disabled_idx and applications_tenant_pending_deletion_idx, so
// that the databases match them (also in a generic plan) for the two rare states.
var stateConditions = map[string]string{
	StateEnabled:         "enabled AND scheduled_deletion_time IS NULL",
	StateDisabled:        "NOT enabled AND scheduled_deletion_time IS NULL",
	StatePendingDeletion: "scheduled_deletion_time IS NOT NULL",
}

// ListQuery selects applications in (created_time, id) order.
type ListQuery struct {
	// TenantID restricts the list to one tenant; "" lists every tenant (operators).
	TenantID string
	// PendingTenancy keeps only applications with tenancy 'all' awaiting approval.
	PendingTenancy bool
	// Type keeps only applications of this type; "" any.
	Type string
	// State keeps only applications in this state (StateEnabled, StateDisabled,
	// StatePendingDeletion); "" any. Another value is an error.
	State string
	// Search keeps only applications whose name contains it or whose id starts with it,
	// ignoring case; "" any. The case of ASCII letters is ignored on every database;
	// beyond ASCII it is as the database's lower() folds it (SQLite: not at all; PostgreSQL:
	// by the database's locale). Search is matched literally: a %, _ or \ in it is no wildcard.
	Search string
	// After starts the list strictly after this position.
	After *Cursor
	// Limit is the page size; 0 means no limit.
	Limit int
	// Now hides applications whose scheduled deletion time is at or before it; zero means
	// the store's clock.
	Now time.Time
}

// prepareWrite normalises a for storage: times in UTC truncated to microseconds, and empty
// lists rather than nil ones, so the row never holds NULL or JSON null.
func (a *Application) prepareWrite() {
	a.CreatedTime = normTime(a.CreatedTime)
	a.LastModifiedTime = normTime(a.LastModifiedTime)
	a.TenancyDecidedTime = normTimePtr(a.TenancyDecidedTime)
	a.LastUsedTime = normTimePtr(a.LastUsedTime)
	a.ScheduledDeletionTime = normTimePtr(a.ScheduledDeletionTime)
	a.SecretExpiresTime = normTimePtr(a.SecretExpiresTime)
	a.normalizeLists()
}

// afterRead normalises a row as read: UTC times (pgx reads timestamptz in time.Local) and
// non-nil lists (a NULL or "null" column decodes to nil).
func (a *Application) afterRead() {
	a.CreatedTime = a.CreatedTime.UTC()
	a.LastModifiedTime = a.LastModifiedTime.UTC()
	a.TenancyDecidedTime = utcPtr(a.TenancyDecidedTime)
	a.LastUsedTime = utcPtr(a.LastUsedTime)
	a.ScheduledDeletionTime = utcPtr(a.ScheduledDeletionTime)
	a.SecretExpiresTime = utcPtr(a.SecretExpiresTime)
	a.normalizeLists()
}

func (a *Application) normalizeLists() {
	for _, l := range []*[]string{&a.Contacts, &a.Redirects, &a.Origins, &a.Logouts} {
		if *l == nil {
			*l = []string{}
		}
	}
}

// clone is a deep copy of a, so that an updater cannot change the original's lists or times.
func (a *Application) clone() Application {
	c := *a
	c.Contacts = slices.Clone(a.Contacts)
	c.Redirects = slices.Clone(a.Redirects)
	c.Origins = slices.Clone(a.Origins)
	c.Logouts = slices.Clone(a.Logouts)
	c.TenancyDecidedTime = clonePtr(a.TenancyDecidedTime)
	c.LastUsedTime = clonePtr(a.LastUsedTime)
	c.ScheduledDeletionTime = clonePtr(a.ScheduledDeletionTime)
	c.SecretExpiresTime = clonePtr(a.SecretExpiresTime)
	c.Secrets = cloneSecrets(a.Secrets)
	return c
}

// clonePtr is a deep copy of a.
func (a *Application) clonePtr() *Application {
	c := a.clone()
	return &c
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func clonePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// visible restricts db to the applications a caller may see: those of tenantID ("" = any
// tenant) that are not due for deletion at now.
func visible(db *gorm.DB, tenantID string, now time.Time) *gorm.DB {
	if tenantID != "" {
		db = db.Where("tenant_id = ?", tenantID)
	}
	return db.Where(visibleAt, now)
}

// visibleAt is GoneAt as SQL, for queries: the condition of an application not gone at a
// time (the one parameter). TestGoneAt checks the two agree.
const visibleAt = "(scheduled_deletion_time IS NULL OR scheduled_deletion_time > ?)"

// GoneAt reports whether a is due for deletion at now. From its scheduled deletion time on,
// an application is gone for every operation, whether or not the purger has run yet, so that
// behaviour never depends on the purger's lag. Every read that has a row already in hand
// (the store's coalesced reads, the lookup caches) asks this method; queries use visibleAt.
func (a *Application) GoneAt(now time.Time) bool {
	return a.ScheduledDeletionTime != nil && !now.Before(*a.ScheduledDeletionTime)
}

// CreateApplication stores app, its secrets and its origin index rows in one transaction.
// It normalises app in place (UTC microsecond times, empty rather than nil lists, Version 1;
// a zero CreatedTime becomes now and a zero LastModifiedTime becomes CreatedTime), so app is
// afterwards equal to what GetApplication returns, except that app.Secrets is set to the
// stored secrets (app.Secrets is ignored on input: the secrets are the argument). Each secret
// gets ApplicationID = app.ID, a new UUID if its ID is empty, and app.CreatedTime if its
// CreatedTime is zero; the caller's slice elements are updated. An existing id is
// ErrConflict. The same transaction records the "created" event (actor CreatedBy, changes the
// initial values) with its notification to the contacts, and the change (see Changes), so
// every replica's cache drops a negative entry for the id. SecretExpiresTime is derived from
// the secrets.
func (s *Store) CreateApplication(ctx context.Context, app *Application, secrets []Secret) error {
	return s.create(ctx, app, secrets, nil)
}

// create is CreateApplication, inserting rec too when it is not nil.
func (s *Store) create(ctx context.Context, app *Application, secrets []Secret, rec *IdempotencyRecord) error {
	return s.exec(ctx, func(ctx context.Context) error {
		prepareCreate(app, secrets)
		err := s.insertAll(ctx, func(w rowWriter) error {
			if rec != nil {
				if err := insertIdempotency(w, rec); err != nil {
					return err
				}
			}
			return insertCreated(w, app, secrets)
		})
		return translate("create application "+app.ID, err)
	})
}

// prepareCreate normalises a new application and its secrets as CreateApplication documents.
func prepareCreate(app *Application, secrets []Secret) {
	if app.CreatedTime.IsZero() {
		app.CreatedTime = now()
	}
	if app.LastModifiedTime.IsZero() {
		app.LastModifiedTime = app.CreatedTime
	}
	app.Version = 1
	app.prepareWrite()
	for i := range secrets {
		secrets[i].ApplicationID = app.ID
		if secrets[i].CreatedTime.IsZero() {
			secrets[i].CreatedTime = app.CreatedTime
		}
		secrets[i].prepareWrite()
	}
	app.Secrets = cloneSecrets(secrets)
	if app.Secrets == nil {
		app.Secrets = []Secret{}
	}
	slices.SortStableFunc(app.Secrets, compareSecrets)
	app.SecretExpiresTime = earliestExpiry(app.Secrets)
}

// insertCreated writes a new application prepared by prepareCreate: its row, secrets, origin
// index rows, "created" event and change row.
func insertCreated(w rowWriter, app *Application, secrets []Secret) error {
	if err := w.insert(app, nil); err != nil {
		return err
	}
	if len(secrets) > 0 {
		if err := w.insert(&secrets, nil); err != nil {
			return err
		}
	}
	if err := insertOrigins(w, app.ID, app.Origins); err != nil {
		return err
	}
	if err := recordCreated(w, app); err != nil {
		return err
	}
	return recordChange(w, app.ID, now())
}

// insertOrigins writes the application_origins rows of one application, once per distinct
// origin (a repeated origin must not look like a duplicate application).
func insertOrigins(w rowWriter, applicationID string, origins []string) error {
	if len(origins) == 0 {
		return nil
	}
	rows := make([]applicationOrigin, 0, len(origins))
	seen := make(map[string]bool, len(origins))
	for _, o := range origins {
		if seen[o] {
			continue
		}
		seen[o] = true
		rows = append(rows, applicationOrigin{ApplicationID: applicationID, Origin: o})
	}
	return w.insert(&rows, nil)
}

// GetApplication returns application id of tenantID ("" = any tenant). It is ErrNotFound if
// the application does not exist, belongs to another tenant, or is scheduled for deletion at
// or before now (zero now = the store's clock). Concurrent calls share queries under load
// (readCoalescer).
func (s *Store) GetApplication(ctx context.Context, tenantID, id string, now time.Time) (*Application, error) {
	return run(s, ctx, func(ctx context.Context) (*Application, error) {
		app, err := s.reads.get(ctx, tenantID, id, nowOr(now))
		if err != nil {
			return nil, translate("get application "+id, err)
		}
		return app, nil
	})
}

// applicationsByID reads the applications of ids (distinct, at most maxReadBatch) visible at
// now, in any order: the query of GetApplication's coalesced reads. It runs on every
// viewApplication, so its SQL is written out: on PostgreSQL it goes straight to pgx, one
// statement text whatever the number of ids (= ANY of an array, prepared once per
// connection), where building it with GORM for each read cost about 7 µs of a view's CPU.
func (s *Store) applicationsByID(ctx context.Context, ids []string, now time.Time) ([]Application, error) {
	if onPgx(s.db) {
		var apps []Application
		if err := sendPgx(ctx, s.db, applicationsByIDOnPostgres, []any{now, ids}, readApplications(&apps, len(ids))); err != nil {
			return nil, err
		}
		return apps, nil
	}
	q := "SELECT " + applicationColumns + " FROM applications WHERE " + visibleAt + " AND id IN ?"
	return scanApplications(s.db.WithContext(ctx).Raw(q, now, ids), len(ids))
}

// applicationsByIDOnPostgres is applicationsByID's query on pgx: visibleAt's time at $1, the
// ids an array at $2.
var applicationsByIDOnPostgres = "SELECT " + applicationColumns + " FROM applications WHERE " +
	strings.Replace(visibleAt, "?", "$1", 1) + " AND id = ANY($2)"

// Filtered reports whether q has a filter of the console's (Type, State, Search).
func (q ListQuery) Filtered() bool { return q.Type != "" || q.State != "" || q.Search != "" }

// ListApplications returns the applications q selects in (created_time, id) order. more is
// true when further rows exist beyond q.Limit; the next page starts After the last one.
func (s *Store) ListApplications(ctx context.Context, q ListQuery) (apps []Application, more bool, err error) {
	err = s.exec(ctx, func(ctx context.Context) error {
		db, limit, err := s.listing(ctx, q)
		if err != nil {
			return err
		}
		read, err := findApplications(db, limit)
		if err != nil {
			return translate("list applications", err)
		}
		apps, more = cutPage(read, q.Limit)
		return nil
	})
	return apps, more, err
}

// Listed is one application of a listing as ListApplicationStates reads it: its place in the
// order, and its state. Every write of an application moves its Version except the lookup
// path's lastUsedTime, and no two applications of one id share a CreatedTime (an imported id
// can come back after a purge), so two reads with equal Listed read equal rows: an answer
// encoded from the first is the answer of the second.
type Listed struct {
	ID           string     `gorm:"column:id"`
	TenantID     string     `gorm:"column:tenant_id"`
	CreatedTime  time.Time  `gorm:"column:created_time"`
	Version      int64      `gorm:"column:version"`
	LastUsedTime *time.Time `gorm:"column:last_used_time"`
}

// State is a's state, as ListApplicationStates reads it.
func (a *Application) State() Listed {
	return Listed{ID: a.ID, TenantID: a.TenantID, CreatedTime: a.CreatedTime, Version: a.Version, LastUsedTime: a.LastUsedTime}
}

// Same reports whether l and o are one state of one application.
func (l Listed) Same(o Listed) bool {
	return l.ID == o.ID && l.TenantID == o.TenantID && l.Version == o.Version &&
		l.CreatedTime.Equal(o.CreatedTime) && equalTimePtr(l.LastUsedTime, o.LastUsedTime)
}

// listedColumns are the columns of Listed, in its order.
const listedColumns = "id, tenant_id, created_time, version, last_used_time"

// ListApplicationStates is ListApplications reading only the Listed columns of each row: a
// tenant's hundred applications are 2,500 columns, of which listApplication, answering from
// answers it encoded before, needs 500.
func (s *Store) ListApplicationStates(ctx context.Context, q ListQuery) (rows []Listed, more bool, err error) {
	err = s.exec(ctx, func(ctx context.Context) error {
		rows, more, err = s.listApplicationStates(ctx, q)
		return err
	})
	return rows, more, err
}

// listApplicationStates is ListApplicationStates once begun.
func (s *Store) listApplicationStates(ctx context.Context, q ListQuery) (rows []Listed, more bool, err error) {
	db, limit, err := s.listing(ctx, q)
	if err != nil {
		return nil, false, err
	}
	db = db.Model(&Application{}).Select(listedColumns)
	if limit > 0 {
		db = db.Limit(limit)
	}
	if onPgx(db) {
		err = queryPgx(db, &[]Application{}, func(r pgx.Rows) error {
			rows = make([]Listed, 0, 16)
			var row Listed // pgx writes every field anew: no copy shares a time with the next
			dest := []any{&row.ID, &row.TenantID, &row.CreatedTime, &row.Version, &row.LastUsedTime}
			for r.Next() {
				if err := r.Scan(dest...); err != nil {
					return err
				}
				rows = append(rows, row)
			}
			return nil
		})
	} else {
		err = db.Find(&rows).Error
	}
	if err != nil {
		return nil, false, translate("list applications", err)
	}
	for i := range rows {
		rows[i].CreatedTime = rows[i].CreatedTime.UTC()
		rows[i].LastUsedTime = utcPtr(rows[i].LastUsedTime)
	}
	rows, more = cutPage(rows, q.Limit)
	return rows, more, nil
}

// listing is the query of q, ordered, and the number of rows to read (0: all): one more than
// q.Limit, which tells whether there is a next page.
//
// The filters need no index of their own to be correct, and the order stays (created_time,
// id), so keyset paging works through filtered results as through whole ones. Each page reads
// the tenant's applications in list order until it has its rows; indexes keep that short where
// a filter can be rare: applications_tenant_type_idx for Type, and the partial
// applications_tenant_disabled_idx and applications_tenant_pending_deletion_idx for the
// disabled and pending states. Search is a substring: no B-tree serves it, so it
// filters what the tenant's index (or one of those) reads (see BenchmarkFilteredListing).
func (s *Store) listing(ctx context.Context, q ListQuery) (*gorm.DB, int, error) {
	db := visible(s.db.WithContext(ctx), q.TenantID, nowOr(q.Now))
	if q.PendingTenancy {
		// Literals, not parameters, so PostgreSQL can match the partial index in a generic plan.
		db = db.Where("tenancy = 'all' AND tenancy_approval = 'pending'")
	}
	if q.Type != "" {
		db = db.Where("type = ?", q.Type)
	}
	if q.State != "" {
		cond, ok := stateConditions[q.State]
		if !ok {
			return nil, 0, fmt.Errorf("store: list applications: unknown state %q", q.State)
		}
		db = db.Where(cond)
	}
	if q.Search != "" {
		// lower() on both sides, so that the pattern folds exactly as the columns do on each
		// database. The escape character is stated: SQLite has none by default.
		db = db.Where(`(lower(name) LIKE lower(?) ESCAPE '\' OR lower(id) LIKE lower(?) ESCAPE '\')`,
			"%"+escapeLike(q.Search)+"%", escapeLike(q.Search)+"%")
	}
	if q.After != nil {
		db = db.Where("(created_time, id) > (?, ?)", normTime(q.After.CreatedTime), q.After.ID)
	}
	limit := 0
	if q.Limit > 0 {
		limit = q.Limit + 1
	}
	return db.Order("created_time, id"), limit, nil
}

// likeEscaper escapes LIKE's wildcards and its escape character, so a search matches its text
// literally.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// escapeLike is s as a literal in a LIKE pattern whose escape character is a backslash.
func escapeLike(s string) string { return likeEscaper.Replace(s) }

// cutPage cuts rows, read with listing's limit, to a page of limit (0: all); more tells
// whether there were rows beyond it.
func cutPage[T any](rows []T, limit int) ([]T, bool) {
	if limit > 0 && len(rows) > limit {
		return rows[:limit], true
	}
	return rows, false
}

// ApplicationsByID returns the applications among ids (distinct) of tenantID ("" = any tenant)
// that are visible at now (zero = the store's clock), in any order; an id with none is left
// out.
func (s *Store) ApplicationsByID(ctx context.Context, tenantID string, ids []string, now time.Time) ([]Application, error) {
	return run(s, ctx, func(ctx context.Context) ([]Application, error) {
		now = nowOr(now)
		var apps []Application
		for batch := range slices.Chunk(slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return !possibleID(id) }), maxReadBatch) {
			read, err := s.applicationsByID(ctx, batch, now)
			if err != nil {
				return nil, translate("get applications", err)
			}
			for _, a := range read {
				if tenantID == "" || a.TenantID == tenantID {
					apps = append(apps, a)
				}
			}
		}
		return apps, nil
	})
}

// UpdateApplication reads application id of tenantID ("" = any tenant), lets fn change it and
// saves it, all in one transaction that holds the row: SELECT ... FOR UPDATE on PostgreSQL;
// on SQLite the transaction holds the database's write lock from its start. Concurrent
// updates of one application therefore apply one after the other and none is lost.
//
// Visibility is GetApplication's (ErrNotFound). fn sees the application with its Secrets,
// oldest first, read under the same lock. If fn returns an error, nothing is written and that
// error is returned as is. Otherwise every updatable column is written (false and ""
// included), Version grows by one, the origin index follows Origins, the secrets follow
// Secrets, and the saved row (with its secrets) is returned. ID, TenantID, Type, CreatedBy
// and CreatedTime keep their stored values whatever fn does. LastModifiedBy and
// LastModifiedTime are the caller's to set.
//
// Secrets: one whose ID is not stored is inserted (ApplicationID forced, an ID assigned if
// empty, CreatedTime now if zero); a stored one missing from Secrets is deleted; a stored one
// whose ExpiresTime changed gets the new expiry (its other fields are not changed and are
// returned as stored). A nil Secrets leaves them all as they are; an empty one deletes them
// all. A secret change is a change like any other: Version grows, an event is recorded.
// SecretExpiresTime is derived from the secrets saved, whatever fn set.
//
// The same transaction records the change (see Changes), so a rolled-back update records
// none, and, when the write changed anything beyond Version, exactly one event with its
// notification (see ListEvents and ClaimOutbox). The event's action is the first that
// applies: deletion_scheduled or deletion_cancelled (ScheduledDeletionTime set or cleared);
// disabled or enabled; tenancy_approved or tenancy_rejected (TenancyApproval changed to
// approved or rejected); secret_issued (a secret added, whatever else happened to the
// others); secret_revoked (secrets deleted, or their expiry moved to now or before);
// otherwise updated. Its actor is the saved LastModifiedBy, its time now, its changes every
// audited field that changed. A write that changes nothing at all still saves (Version
// grows, a change is recorded, so ETags move as before) but records no event.
func (s *Store) UpdateApplication(ctx context.Context, tenantID, id string, now time.Time, fn func(*Application) error) (*Application, error) {
	return s.update(ctx, tenantID, id, now, fn, nil, nil)
}

// update is UpdateApplication, inserting the idempotency record rec returns, if any. pre, when
// not nil, runs first in the same transaction; its error is returned as is and writes nothing.
func (s *Store) update(ctx context.Context, tenantID, id string, now time.Time, fn func(*Application) error, rec func(*Application) *IdempotencyRecord, pre func(tx *gorm.DB) error) (*Application, error) {
	return run(s, ctx, func(ctx context.Context) (*Application, error) {
		now = nowOr(now)
		var (
			saved *Application
			fnErr error // pre's or fn's, returned as is
		)
		err := s.transaction(ctx, func(tx *gorm.DB) error {
			if pre != nil {
				if fnErr = pre(tx); fnErr != nil {
					return fnErr
				}
			}
			cur, err := s.lockApplication(tx, tenantID, id, now)
			if err != nil {
				return err
			}
			next := cur.clone()
			if fnErr = fn(&next); fnErr != nil {
				return fnErr
			}
			diff, err := writeUpdate(tx, &cur, &next, now)
			if err != nil {
				return err
			}
			if err := recordUpdated(txWriter{tx}, &cur, &next, diff, now, rec); err != nil {
				return err
			}
			saved = &next
			return nil
		})
		if fnErr != nil {
			return nil, fnErr
		}
		if err != nil {
			return nil, translate("update application "+id, err)
		}
		return saved, nil
	})
}

// lockApplication reads application id of tenantID ("" = any tenant) as visible at now, with
// its secrets, and holds its row until tx ends: SELECT ... FOR UPDATE on PostgreSQL; on SQLite
// the transaction holds the write lock already (see UpdateApplication).
func (s *Store) lockApplication(tx *gorm.DB, tenantID, id string, now time.Time) (Application, error) {
	q := visible(tx, tenantID, now).Where("id = ?", id)
	if s.dialect == DialectPostgres {
		q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	var cur Application
	if err := q.Take(&cur).Error; err != nil {
		return Application{}, err
	}
	cur.afterRead()
	secrets, err := loadSecrets(tx, id)
	if err != nil {
		return Application{}, err
	}
	cur.Secrets = secrets
	return cur, nil
}

// writeUpdate saves next, what the updater made of cur, in tx: the fields that never change
// kept from cur, Version moved on, its secrets, its row and its origin index rows. It returns
// what happened to the secrets, for the event.
func writeUpdate(tx *gorm.DB, cur, next *Application, now time.Time) (secretDiff, error) {
	next.ID, next.TenantID, next.Type = cur.ID, cur.TenantID, cur.Type
	next.CreatedBy, next.CreatedTime = cur.CreatedBy, cur.CreatedTime
	next.Version = cur.Version + 1
	next.prepareWrite()
	// The secrets first: the row's secret_expires_time follows what they are now.
	diff, err := syncSecrets(tx, cur.Secrets, next, now)
	if err != nil {
		return diff, err
	}
	next.SecretExpiresTime = earliestExpiry(next.Secrets)
	res := tx.Model(next).Select(updatableColumns).Updates(next)
	if res.Error != nil {
		return diff, res.Error
	}
	if res.RowsAffected != 1 {
		return diff, fmt.Errorf("updated %d rows, want 1", res.RowsAffected)
	}
	if !slices.Equal(cur.Origins, next.Origins) {
		if err := tx.Where("application_id = ?", next.ID).Delete(&applicationOrigin{}).Error; err != nil {
			return diff, err
		}
		if err := insertOrigins(txWriter{tx}, next.ID, next.Origins); err != nil {
			return diff, err
		}
	}
	return diff, nil
}

// recordUpdated writes what follows from an update saved by writeUpdate: its event (none when
// nothing changed), the idempotency record rec returns (if rec is not nil), and its change
// row.
func recordUpdated(w rowWriter, cur, next *Application, diff secretDiff, now time.Time, rec func(*Application) *IdempotencyRecord) error {
	if err := recordUpdate(w, cur, next, diff, now); err != nil && !errors.Is(err, errNoEvent) {
		return err
	}
	if rec != nil {
		if r := rec(next.clonePtr()); r != nil {
			if err := insertIdempotency(w, r); err != nil {
				return err
			}
		}
	}
	// Stamped with the wall clock, not with now (the caller's visibility time): pruning goes
	// by it.
	return recordChange(w, next.ID, time.Now())
}
