package store

import (
	"context"
	"time"

	"github.com/google/uuid"
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
	secrets := []Secret{}
	err := s.db.WithContext(ctx).Where("application_id = ?", applicationID).
		Order("created_time, id").Find(&secrets).Error
	if err != nil {
		return nil, translate("list secrets of "+applicationID, err)
	}
	for i := range secrets {
		secrets[i].afterRead()
	}
	return secrets, nil
}
