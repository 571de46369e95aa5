package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// Secret is the stored hash of one client secret. The secret itself is never stored.
type Secret struct {
	// ID is a UUID; CreateApplication assigns one when it is empty.
	ID            string `gorm:"column:id;primaryKey"`
	ApplicationID string `gorm:"column:application_id"`
	// Hash is an opaque, scheme-tagged string computed by the caller.
	Hash string `gorm:"column:hash"`
	// Hint is the secret's last four characters, for people telling secrets apart.
	Hint         string     `gorm:"column:hint"`
	CreatedTime  time.Time  `gorm:"column:created_time"`
	ExpiresTime  *time.Time `gorm:"column:expires_time"`
	LastUsedTime *time.Time `gorm:"column:last_used_time"`
}

// TableName is the table of Secret rows.
func (Secret) TableName() string { return "application_secrets" }

// prepareWrite normalises s for storage (UTC microsecond times) and assigns an ID if missing.
func (s *Secret) prepareWrite() {
	if s.ID == "" {
		s.ID = uuid.NewString()
	}
	s.CreatedTime = normTime(s.CreatedTime)
	s.ExpiresTime = normTimePtr(s.ExpiresTime)
	s.LastUsedTime = normTimePtr(s.LastUsedTime)
}

// afterRead normalises s as read: UTC times.
func (s *Secret) afterRead() {
	s.CreatedTime = s.CreatedTime.UTC()
	s.ExpiresTime = utcPtr(s.ExpiresTime)
	s.LastUsedTime = utcPtr(s.LastUsedTime)
}

// ListSecrets returns the secrets of an application, oldest first; none is an empty slice.
// It does not check that the application exists or is visible.
func (s *Store) ListSecrets(ctx context.Context, applicationID string) ([]Secret, error) {
	return run(s, ctx, func(ctx context.Context) ([]Secret, error) {
		secrets, err := loadSecrets(s.db.WithContext(ctx), applicationID)
		if err != nil {
			return nil, translate("list secrets of "+applicationID, err)
		}
		return secrets, nil
	})
}

// loadSecrets reads the secrets of an application in tx, oldest first; none is an empty slice.
func loadSecrets(tx *gorm.DB, applicationID string) ([]Secret, error) {
	secrets := []Secret{}
	if err := tx.Where("application_id = ?", applicationID).Order("created_time, id").Find(&secrets).Error; err != nil {
		return nil, err
	}
	for i := range secrets {
		secrets[i].afterRead()
	}
	return secrets, nil
}

// cloneSecrets is a deep copy of secrets (nil stays nil).
func cloneSecrets(secrets []Secret) []Secret {
	if secrets == nil {
		return nil
	}
	c := make([]Secret, len(secrets))
	for i, s := range secrets {
		c[i] = s
		c[i].ExpiresTime = clonePtr(s.ExpiresTime)
		c[i].LastUsedTime = clonePtr(s.LastUsedTime)
	}
	return c
}

// secretDiff is what syncSecrets did.
type secretDiff struct {
	added, removed []Secret
	// expired are stored secrets whose expiry this write moved to at or before now: revoked
	// without being deleted.
	expired []Secret
	// rescheduled are stored secrets whose expiry changed otherwise.
	rescheduled []Secret
}

// syncSecrets makes the stored secrets of application next.ID those of next.Secrets, in tx:
// secrets with an id not stored are inserted (ApplicationID forced; ID assigned when empty;
// CreatedTime now when zero), stored ones missing are deleted, and a changed ExpiresTime is
// written. The other fields of a stored secret never change here: next.Secrets gets their
// stored values back. A nil next.Secrets means "unchanged" (an updater that replaced the
// whole struct must not revoke every secret); an empty one deletes them all. On return
// next.Secrets is what is stored, oldest first.
func syncSecrets(tx *gorm.DB, stored []Secret, next *Application, now time.Time) (secretDiff, error) {
	var d secretDiff
	if next.Secrets == nil {
		next.Secrets = cloneSecrets(stored)
		return d, nil
	}
	byID := make(map[string]Secret, len(stored))
	for _, s := range stored {
		byID[s.ID] = s
	}
	kept := make(map[string]bool, len(next.Secrets))
	out := make([]Secret, 0, len(next.Secrets))
	for _, s := range next.Secrets {
		old, ok := byID[s.ID]
		if !ok {
			s.ApplicationID = next.ID
			if s.CreatedTime.IsZero() {
				s.CreatedTime = now
			}
			s.prepareWrite()
			if kept[s.ID] {
				return d, fmt.Errorf("secret %s listed twice", s.ID)
			}
			kept[s.ID] = true
			if err := tx.Create(&s).Error; err != nil {
				return d, err
			}
			d.added = append(d.added, s)
			out = append(out, s)
			continue
		}
		if kept[s.ID] {
			return d, fmt.Errorf("secret %s listed twice", s.ID)
		}
		kept[s.ID] = true
		cur := old
		cur.ExpiresTime = normTimePtr(s.ExpiresTime)
		if !equalTimePtr(old.ExpiresTime, cur.ExpiresTime) {
			err := tx.Model(&Secret{}).Where("id = ?", cur.ID).Update("expires_time", cur.ExpiresTime).Error
			if err != nil {
				return d, err
			}
			if cur.ExpiresTime != nil && !cur.ExpiresTime.After(now) &&
				(old.ExpiresTime == nil || old.ExpiresTime.After(now)) {
				d.expired = append(d.expired, cur)
			} else {
				d.rescheduled = append(d.rescheduled, cur)
			}
		}
		out = append(out, cur)
	}
	var gone []string
	for _, s := range stored {
		if !kept[s.ID] {
			gone = append(gone, s.ID)
			d.removed = append(d.removed, s)
		}
	}
	if len(gone) > 0 {
		if err := tx.Where("id IN ?", gone).Delete(&Secret{}).Error; err != nil {
			return d, err
		}
	}
	slices.SortFunc(out, compareSecrets)
	next.Secrets = out
	return d, nil
}

// earliestExpiry is the earliest ExpiresTime among secrets (a copy), nil when none expires:
// Application.SecretExpiresTime.
func earliestExpiry(secrets []Secret) *time.Time {
	var first *time.Time
	for i := range secrets {
		if e := secrets[i].ExpiresTime; e != nil && (first == nil || e.Before(*first)) {
			first = e
		}
	}
	return clonePtr(first)
}

// compareSecrets orders secrets oldest first, as ListSecrets does.
func compareSecrets(a, b Secret) int {
	if c := a.CreatedTime.Compare(b.CreatedTime); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// equalTimePtr reports whether two optional times are both absent or Equal.
func equalTimePtr(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// secretRef is how a secret appears in events and notifications: its id, hint and expiry,
// never its hash.
func secretRef(s *Secret) map[string]any {
	ref := map[string]any{"secretId": s.ID, "hint": s.Hint}
	if s.ExpiresTime != nil {
		ref["expiresTime"] = apiTime(*s.ExpiresTime)
	}
	return ref
}

// secretRefs is secretRef of each of secrets, in order; none is an empty slice.
func secretRefs(secrets []Secret) []any {
	refs := make([]any, len(secrets))
	for i := range secrets {
		refs[i] = secretRef(&secrets[i])
	}
	return refs
}
