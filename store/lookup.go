package store

import (
	"context"
	"slices"
	"time"
)

// originsChunk bounds the ids of one ApplicationOrigins query, well under every driver's
// parameter limit.
const originsChunk = 1000

// GetClient is the lookup path's read of one client: application id of any tenant with its
// secrets, oldest first (none is an empty slice). Visibility is GetApplication's: an
// application whose scheduled deletion time is at or before now (zero = the store's clock) is
// ErrNotFound.
//
// The two reads are not one snapshot: a secret rotated in between can show with the
// application as it was before. The lookup caches drop such a mix as soon as they read the
// rotation's change row.
func (s *Store) GetClient(ctx context.Context, id string, now time.Time) (app *Application, secrets []Secret, err error) {
	err = s.exec(ctx, func(ctx context.Context) error {
		read, err := s.GetApplication(ctx, "", id, now)
		if err != nil {
			return err
		}
		if secrets, err = s.ListSecrets(ctx, id); err != nil {
			return err
		}
		app = read
		return nil
	})
	return app, secrets, err
}

// ApplicationsWithOrigin returns the visible applications of every tenant that list origin (an
// exact, already normalised string) among their Origins, in id order; none is an empty slice.
// It searches application_origins, so it is an index lookup whatever the number of
// applications. Enabled and tenancy are the caller's to check.
func (s *Store) ApplicationsWithOrigin(ctx context.Context, origin string, now time.Time) ([]Application, error) {
	return run(s, ctx, func(ctx context.Context) ([]Application, error) {
		db := s.db.WithContext(ctx)
		listing := db.Model(&applicationOrigin{}).Select("application_id").Where("origin = ?", origin)
		apps, err := findApplications(visible(db, "", nowOr(now)).Where("id IN (?)", listing).Order("id"), 0)
		if err != nil {
			return nil, translate("applications with origin", err)
		}
		return apps, nil
	})
}

// ApplicationOrigins returns the origins each of ids lists now, from the origin index, without
// checking visibility; an id that lists none (or does not exist) is absent from the map. The
// lookup caches call it with the applications of a batch of changes, to find the cached
// origin answers that an application has just started to appear in, in one query.
func (s *Store) ApplicationOrigins(ctx context.Context, ids []string) (map[string][]string, error) {
	return run(s, ctx, func(ctx context.Context) (map[string][]string, error) {
		out := make(map[string][]string)
		for chunk := range slices.Chunk(ids, originsChunk) {
			var rows []applicationOrigin
			err := s.db.WithContext(ctx).Where("application_id IN ?", chunk).
				Order("application_id, origin").Find(&rows).Error
			if err != nil {
				return nil, translate("application origins", err)
			}
			for _, r := range rows {
				out[r.ApplicationID] = append(out[r.ApplicationID], r.Origin)
			}
		}
		return out, nil
	})
}
