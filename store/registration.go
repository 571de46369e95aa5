package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Registration methods of Application.RegistrationMethod.
const (
	RegistrationInitialToken = "initialAccessToken"
	RegistrationAnonymous    = "anonymous"
)

var (
	// ErrTokenRefused means an initial access token or a registration access token cannot be
	// used: unknown, expired, used up, revoked or replaced. Nothing was written.
	ErrTokenRefused = errors.New("store: token refused")
	// ErrDailyLimit means the tenant's registrations of the day reached its policy's limit.
	// Nothing was written.
	ErrDailyLimit = errors.New("store: daily registration limit reached")
)

// RegistrationPolicy is a tenant's dynamic registration policy. A tenant without a row has
// the defaults the caller supplies.
type RegistrationPolicy struct {
	TenantID              string    `gorm:"column:tenant_id;primaryKey"`
	Enabled               bool      `gorm:"column:enabled"`
	Anonymous             bool      `gorm:"column:anonymous"`
	InitialState          string    `gorm:"column:initial_state"`
	AllowedRedirectHosts  []string  `gorm:"column:allowed_redirect_hosts;serializer:json"`
	AllowedTypes          []string  `gorm:"column:allowed_types;serializer:json"`
	DailyLimit            int       `gorm:"column:daily_limit"`
	DefaultContacts       []string  `gorm:"column:default_contacts;serializer:json"`
	DeleteUnusedAfterDays int       `gorm:"column:delete_unused_after_days"`
	LastModifiedBy        string    `gorm:"column:last_modified_by"`
	LastModifiedTime      time.Time `gorm:"column:last_modified_time"`
}

// TableName is the table of RegistrationPolicy rows.
func (RegistrationPolicy) TableName() string { return "registration_policies" }

func (p *RegistrationPolicy) normalize() {
	for _, l := range []*[]string{&p.AllowedRedirectHosts, &p.AllowedTypes, &p.DefaultContacts} {
		if *l == nil {
			*l = []string{}
		}
	}
	p.LastModifiedTime = p.LastModifiedTime.UTC()
}

// InitialAccessToken is an RFC 7591 initial access token a tenant administrator issued. Only
// the hash of its value is stored.
type InitialAccessToken struct {
	ID          string     `gorm:"column:id;primaryKey"`
	TenantID    string     `gorm:"column:tenant_id"`
	Hash        string     `gorm:"column:hash"`
	Description string     `gorm:"column:description"`
	UsesLeft    int        `gorm:"column:uses_left"`
	ExpiresTime time.Time  `gorm:"column:expires_time"`
	RevokedTime *time.Time `gorm:"column:revoked_time"`
	CreatedBy   string     `gorm:"column:created_by"`
	CreatedTime time.Time  `gorm:"column:created_time"`
}

// TableName is the table of InitialAccessToken rows.
func (InitialAccessToken) TableName() string { return "initial_access_tokens" }

// Usable reports whether the token can register a client at now.
func (t *InitialAccessToken) Usable(now time.Time) bool {
	return t.RevokedTime == nil && t.UsesLeft > 0 && now.Before(t.ExpiresTime)
}

func (t *InitialAccessToken) afterRead() {
	t.ExpiresTime = t.ExpiresTime.UTC()
	t.CreatedTime = t.CreatedTime.UTC()
	t.RevokedTime = utcPtr(t.RevokedTime)
}

// RegistrationAccessToken is the RFC 7592 registration access token of a registered client,
// by its hash.
type RegistrationAccessToken struct {
	ApplicationID string    `gorm:"column:application_id;primaryKey"`
	Hash          string    `gorm:"column:hash"`
	IssuedTime    time.Time `gorm:"column:issued_time"`
}

// TableName is the table of RegistrationAccessToken rows.
func (RegistrationAccessToken) TableName() string { return "registration_access_tokens" }

// registrationCount is a tenant's registrations on one UTC day.
type registrationCount struct {
	TenantID string `gorm:"column:tenant_id;primaryKey"`
	Day      string `gorm:"column:day;primaryKey"`
	Count    int    `gorm:"column:count"`
}

// TableName is the table of registrationCount rows.
func (registrationCount) TableName() string { return "registration_counts" }

// GetRegistrationPolicy returns tenantID's policy, or ErrNotFound when it never set one.
func (s *Store) GetRegistrationPolicy(ctx context.Context, tenantID string) (*RegistrationPolicy, error) {
	return run(s, ctx, func(ctx context.Context) (*RegistrationPolicy, error) {
		var p RegistrationPolicy
		if err := s.db.WithContext(ctx).Where("tenant_id = ?", tenantID).Take(&p).Error; err != nil {
			return nil, translate("get registration policy", err)
		}
		p.normalize()
		return &p, nil
	})
}

// UpdateRegistrationPolicy reads tenantID's policy (def when it has none), lets fn change it
// and saves it, in one transaction holding the row, so two concurrent partial updates both
// apply. An error of fn is returned as is and nothing is written.
func (s *Store) UpdateRegistrationPolicy(ctx context.Context, tenantID string, def RegistrationPolicy, fn func(*RegistrationPolicy) error) (*RegistrationPolicy, error) {
	return run(s, ctx, func(ctx context.Context) (*RegistrationPolicy, error) {
		var (
			saved RegistrationPolicy
			fnErr error
		)
		err := s.transaction(ctx, func(tx *gorm.DB) error {
			def.TenantID = tenantID
			def.LastModifiedTime = normTime(def.LastModifiedTime)
			def.normalize()
			// The row exists from here on, so the locking read below serialises writers even on
			// a tenant's first change.
			if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&def).Error; err != nil {
				return err
			}
			q := tx.Where("tenant_id = ?", tenantID)
			if s.dialect == DialectPostgres {
				q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
			}
			var cur RegistrationPolicy
			if err := q.Take(&cur).Error; err != nil {
				return err
			}
			cur.normalize()
			if fnErr = fn(&cur); fnErr != nil {
				return fnErr
			}
			cur.TenantID = tenantID
			cur.LastModifiedTime = normTime(cur.LastModifiedTime)
			cur.normalize()
			if err := tx.Select("*").Save(&cur).Error; err != nil {
				return err
			}
			saved = cur
			return nil
		})
		if fnErr != nil {
			return nil, fnErr
		}
		if err != nil {
			return nil, translate("update registration policy", err)
		}
		return &saved, nil
	})
}

// CreateInitialAccessToken stores t (times normalised in place).
func (s *Store) CreateInitialAccessToken(ctx context.Context, t *InitialAccessToken) error {
	return s.exec(ctx, func(ctx context.Context) error {
		t.ExpiresTime = normTime(t.ExpiresTime)
		t.CreatedTime = normTime(t.CreatedTime)
		t.RevokedTime = normTimePtr(t.RevokedTime)
		return translate("create initial access token", s.db.WithContext(ctx).Create(t).Error)
	})
}

// ListInitialAccessTokens returns tenantID's initial access tokens, newest first.
func (s *Store) ListInitialAccessTokens(ctx context.Context, tenantID string) ([]InitialAccessToken, error) {
	return run(s, ctx, func(ctx context.Context) ([]InitialAccessToken, error) {
		tokens := []InitialAccessToken{}
		err := s.db.WithContext(ctx).Where("tenant_id = ?", tenantID).Order("created_time DESC, id").Find(&tokens).Error
		if err != nil {
			return nil, translate("list initial access tokens", err)
		}
		for i := range tokens {
			tokens[i].afterRead()
		}
		return tokens, nil
	})
}

// InitialAccessTokenByHash returns the token whose value hashes to hash, if it belongs to
// tenantID; ErrNotFound otherwise.
func (s *Store) InitialAccessTokenByHash(ctx context.Context, tenantID, hash string) (*InitialAccessToken, error) {
	return run(s, ctx, func(ctx context.Context) (*InitialAccessToken, error) {
		var t InitialAccessToken
		err := s.db.WithContext(ctx).Where("hash = ? AND tenant_id = ?", hash, tenantID).Take(&t).Error
		if err != nil {
			return nil, translate("get initial access token", err)
		}
		t.afterRead()
		return &t, nil
	})
}

// RevokeInitialAccessToken revokes token id of tenantID at now; revoking a revoked token keeps
// its first revocation time. ErrNotFound when tenantID has no such token.
func (s *Store) RevokeInitialAccessToken(ctx context.Context, tenantID, id string, now time.Time) error {
	return s.exec(ctx, func(ctx context.Context) error {
		db := s.db.WithContext(ctx)
		res := db.Model(&InitialAccessToken{}).Where("id = ? AND tenant_id = ? AND revoked_time IS NULL", id, tenantID).
			Update("revoked_time", normTime(now))
		if res.Error != nil {
			return translate("revoke initial access token", res.Error)
		}
		if res.RowsAffected == 1 {
			return nil
		}
		var n int64
		if err := db.Model(&InitialAccessToken{}).Where("id = ? AND tenant_id = ?", id, tenantID).Count(&n).Error; err != nil {
			return translate("revoke initial access token", err)
		}
		if n == 0 {
			return translate("revoke initial access token", ErrNotFound)
		}
		return nil
	})
}

// Registration is what RegisterApplication needs beside the application.
type Registration struct {
	// InitialTokenID is the initial access token that pays for the registration with one of
	// its uses; "" for an anonymous registration.
	InitialTokenID string
	// AccessTokenHash is the hash of the new client's registration access token.
	AccessTokenHash string
	// DailyLimit caps the tenant's registrations on the UTC day of the application's
	// CreatedTime.
	DailyLimit int
}

// RegisterApplication creates a self-registered application (see CreateApplication for app
// and secrets) in one transaction with what registration adds: it takes one use of the
// initial access token (ErrTokenRefused, and nothing written, when the token is revoked,
// expired at app.CreatedTime or used up, also when a concurrent registration took its last
// use), counts the registration against the tenant's daily limit (ErrDailyLimit), and stores
// the registration access token's hash.
func (s *Store) RegisterApplication(ctx context.Context, app *Application, secrets []Secret, r Registration) error {
	return s.exec(ctx, func(ctx context.Context) error {
		prepareCreate(app, secrets)
		err := s.transaction(ctx, func(tx *gorm.DB) error {
			// The rows every registration of a tenant shares, the token's and the day's count,
			// are written last, so each transaction holds their locks only for its last two
			// statements and its commit: a flood of registrations into one tenant queues there.
			w := txWriter{tx}
			if err := insertCreated(w, app, secrets); err != nil {
				return err
			}
			if err := w.insert(&RegistrationAccessToken{ApplicationID: app.ID, Hash: r.AccessTokenHash, IssuedTime: app.CreatedTime}, nil); err != nil {
				return err
			}
			day := app.CreatedTime.Format(time.DateOnly)
			res := tx.Exec("INSERT INTO registration_counts (tenant_id, day, count) VALUES (?, ?, 1) "+
				"ON CONFLICT (tenant_id, day) DO UPDATE SET count = registration_counts.count + 1 "+
				"WHERE registration_counts.count < ?", app.TenantID, day, r.DailyLimit)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				return ErrDailyLimit
			}
			if r.InitialTokenID != "" {
				// A conditional decrement: concurrent registrations with the token's last use
				// queue on its row and all but one find uses_left at 0, and roll back.
				res := tx.Model(&InitialAccessToken{}).
					Where("id = ? AND tenant_id = ? AND uses_left > 0 AND revoked_time IS NULL AND expires_time > ?",
						r.InitialTokenID, app.TenantID, app.CreatedTime).
					Update("uses_left", gorm.Expr("uses_left - 1"))
				if res.Error != nil {
					return res.Error
				}
				if res.RowsAffected != 1 {
					return ErrTokenRefused
				}
			}
			return nil
		})
		return translate("register application "+app.ID, err)
	})
}

// RegistrationAccessTokenOf returns the registration access token of application id;
// ErrNotFound when it has none (not registered, or its registration was deleted).
func (s *Store) RegistrationAccessTokenOf(ctx context.Context, id string) (*RegistrationAccessToken, error) {
	return run(s, ctx, func(ctx context.Context) (*RegistrationAccessToken, error) {
		var t RegistrationAccessToken
		if err := s.db.WithContext(ctx).Where("application_id = ?", id).Take(&t).Error; err != nil {
			return nil, translate("get registration access token", err)
		}
		t.IssuedTime = t.IssuedTime.UTC()
		return &t, nil
	})
}

// UpdateRegisteredApplication is UpdateApplication for a client updating its own registration
// (RFC 7592): in the same transaction it replaces the registration access token whose hash is
// oldHash with newHash, or returns ErrTokenRefused (and writes nothing) when oldHash is no
// longer the client's token, for instance because a concurrent update rotated it first.
func (s *Store) UpdateRegisteredApplication(ctx context.Context, tenantID, id, oldHash, newHash string, now time.Time, fn func(*Application) error) (*Application, error) {
	now = nowOr(now)
	return s.update(ctx, tenantID, id, now, fn, nil, func(tx *gorm.DB) error {
		res := tx.Model(&RegistrationAccessToken{}).Where("application_id = ? AND hash = ?", id, oldHash).
			Updates(map[string]any{"hash": newHash, "issued_time": now})
		if res.Error != nil {
			return fmt.Errorf("store: rotate registration access token: %w", res.Error)
		}
		if res.RowsAffected != 1 {
			return ErrTokenRefused
		}
		return nil
	})
}

// DeleteRegistration is UpdateApplication for a client deleting its own registration (RFC
// 7592): in the same transaction it removes the registration access token whose hash is hash
// (ErrTokenRefused when it is not the client's), so the token stops working at once.
func (s *Store) DeleteRegistration(ctx context.Context, tenantID, id, hash string, now time.Time, fn func(*Application) error) (*Application, error) {
	return s.update(ctx, tenantID, id, now, fn, nil, func(tx *gorm.DB) error {
		res := tx.Where("application_id = ? AND hash = ?", id, hash).Delete(&RegistrationAccessToken{})
		if res.Error != nil {
			return fmt.Errorf("store: delete registration access token: %w", res.Error)
		}
		if res.RowsAffected != 1 {
			return ErrTokenRefused
		}
		return nil
	})
}

// UnusedRegistration is a self-registered application that has never been used and whose
// tenant deletes such clients after DeleteAfterDays.
type UnusedRegistration struct {
	ID              string    `gorm:"column:id"`
	TenantID        string    `gorm:"column:tenant_id"`
	CreatedTime     time.Time `gorm:"column:created_time"`
	DeleteAfterDays int       `gorm:"-"`
}

// UnusedRegistrations returns at most limit (0: no limit) self-registered applications, never
// used, not scheduled for deletion, registered with a tenant whose policy deletes unused
// clients and older than that policy's days at now; oldest first within each tenant. One
// indexed query per tenant that opted in (applications_registered_unused_idx), so the cost
// follows what is due, not how many registered clients wait.
func (s *Store) UnusedRegistrations(ctx context.Context, now time.Time, limit int) ([]UnusedRegistration, error) {
	now = nowOr(now)
	db := s.db.WithContext(ctx)
	var policies []RegistrationPolicy
	if err := db.Select("tenant_id, delete_unused_after_days").Where("delete_unused_after_days > 0").
		Order("tenant_id").Find(&policies).Error; err != nil {
		return nil, translate("unused registrations", err)
	}
	out := []UnusedRegistration{}
	for _, p := range policies {
		q := db.Model(&Application{}).Select("id, tenant_id, created_time").
			Where("tenant_id = ? AND registration_method <> '' AND last_used_time IS NULL AND scheduled_deletion_time IS NULL", p.TenantID).
			Where("created_time <= ?", now.AddDate(0, 0, -p.DeleteUnusedAfterDays)).
			Order("created_time, id")
		if limit > 0 {
			q = q.Limit(limit - len(out))
		}
		var rows []UnusedRegistration
		if err := q.Find(&rows).Error; err != nil {
			return nil, translate("unused registrations", err)
		}
		for _, r := range rows {
			r.CreatedTime = r.CreatedTime.UTC()
			r.DeleteAfterDays = p.DeleteUnusedAfterDays
			out = append(out, r)
		}
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out, nil
}
