package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cxone/appreg/store"
)

func newRecord(tenant, operation, key string, created time.Time) *store.IdempotencyRecord {
	return &store.IdempotencyRecord{
		TenantID:    tenant,
		Operation:   operation,
		Key:         key,
		RequestHash: "sha256:body",
		Status:      201,
		Response:    []byte(`{"id":"x"}`),
		CreatedTime: created,
	}
}

func countApplications(t *testing.T, s *store.Store, tenant string) int64 {
	t.Helper()
	var n int64
	if err := s.DB().WithContext(context.Background()).Table("applications").Where("tenant_id = ?", tenant).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCreateApplicationIdempotent(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := t0.Truncate(time.Microsecond)
		rec := newRecord("tenant-a", "createApplication", "key-1", now)
		app := newApp("idem-1", "tenant-a", now)
		if err := s.CreateApplicationIdempotent(ctx, app, []store.Secret{{Hash: "h"}}, rec); err != nil {
			t.Fatalf("CreateApplicationIdempotent: %v", err)
		}
		if len(app.Secrets) != 1 || len(eventsOf(t, s, app.ID)) != 1 {
			t.Errorf("create: secrets %v, events %v", app.Secrets, eventsOf(t, s, app.ID))
		}
		got, err := s.GetIdempotency(ctx, "tenant-a", "createApplication", "key-1", now.Add(-24*time.Hour))
		if err != nil {
			t.Fatalf("GetIdempotency: %v", err)
		}
		if got.RequestHash != rec.RequestHash || got.Status != 201 || string(got.Response) != `{"id":"x"}` || !got.CreatedTime.Equal(now) {
			t.Errorf("record = %+v", got)
		}

		// A twin with the same key: refused, nothing written.
		twin := newApp("idem-twin", "tenant-a", now)
		err = s.CreateApplicationIdempotent(ctx, twin, nil, newRecord("tenant-a", "createApplication", "key-1", now))
		if !errors.Is(err, store.ErrIdempotencyKeyExists) || !errors.Is(err, store.ErrConflict) {
			t.Fatalf("twin: err = %v, want ErrIdempotencyKeyExists and ErrConflict", err)
		}
		if _, err := s.GetApplication(ctx, "", twin.ID, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("twin application exists: %v", err)
		}
		if len(eventsOf(t, s, twin.ID)) != 0 || len(messagesOf(t, s, twin.ID)) != 0 {
			t.Error("the refused twin left an event or a message")
		}
		// An existing application id is a plain conflict, not a key conflict.
		err = s.CreateApplicationIdempotent(ctx, newApp("idem-1", "tenant-a", now), nil, newRecord("tenant-a", "createApplication", "key-2", now))
		if !errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrIdempotencyKeyExists) {
			t.Errorf("duplicate application id: err = %v, want ErrConflict only", err)
		}
		if _, err := s.GetIdempotency(ctx, "tenant-a", "createApplication", "key-2", time.Time{}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("record of a failed create kept: %v", err)
		}

		// Keys are per tenant and per operation.
		for _, r := range []*store.IdempotencyRecord{
			newRecord("tenant-b", "createApplication", "key-1", now),
			newRecord("tenant-a", "rotateSecret:idem-1", "key-1", now),
		} {
			if err := s.SaveIdempotency(ctx, r); err != nil {
				t.Errorf("SaveIdempotency(%s, %s): %v", r.TenantID, r.Operation, err)
			}
		}
		if err := s.SaveIdempotency(ctx, newRecord("tenant-b", "createApplication", "key-1", now)); !errors.Is(err, store.ErrIdempotencyKeyExists) {
			t.Errorf("SaveIdempotency twice: %v, want ErrIdempotencyKeyExists", err)
		}
	})
}

func TestIdempotencyExpiry(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		created := t0.Truncate(time.Microsecond)
		if err := s.SaveIdempotency(ctx, newRecord("tenant-a", "createApplication", "old", created)); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveIdempotency(ctx, newRecord("tenant-a", "createApplication", "new", created.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name string
			now  time.Time
			key  string
			ok   bool
		}{
			{"within 24 hours", created.Add(23 * time.Hour), "old", true},
			{"exactly 24 hours", created.Add(24 * time.Hour), "old", true},
			{"after 24 hours", created.Add(24*time.Hour + time.Microsecond), "old", false},
			{"the newer one still", created.Add(24*time.Hour + time.Microsecond), "new", true},
			{"unknown key", created, "none", false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.GetIdempotency(ctx, "tenant-a", "createApplication", tc.key, tc.now.Add(-24*time.Hour))
				if tc.ok && err != nil || !tc.ok && !errors.Is(err, store.ErrNotFound) {
					t.Errorf("GetIdempotency = %v, want found %v", err, tc.ok)
				}
			})
		}
		n, err := s.PruneIdempotency(ctx, created.Add(30*time.Minute))
		if err != nil || n != 1 {
			t.Errorf("PruneIdempotency = %d, %v; want 1", n, err)
		}
		// The pruned key may be used again.
		if err := s.SaveIdempotency(ctx, newRecord("tenant-a", "createApplication", "old", created.Add(48*time.Hour))); err != nil {
			t.Errorf("reuse of a pruned key: %v", err)
		}
	})
}

// TestConcurrentIdempotentCreates sends one request many times at once with one key, as a
// client retrying over a flaky network would: exactly one application is created.
func TestConcurrentIdempotentCreates(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const n = 12
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			ok, dups int
		)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				app := newApp(fmt.Sprintf("twin-%02d", i), "tenant-c", t0)
				err := s.CreateApplicationIdempotent(ctx, app, []store.Secret{{Hash: "h"}}, newRecord("tenant-c", "createApplication", "same", time.Time{}))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, store.ErrIdempotencyKeyExists):
					dups++
				default:
					t.Errorf("CreateApplicationIdempotent: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		if ok != 1 || dups != n-1 {
			t.Errorf("%d created, %d refused as twins; want 1 and %d", ok, dups, n-1)
		}
		if got := countApplications(t, s, "tenant-c"); got != 1 {
			t.Errorf("%d applications, want 1", got)
		}
		var secrets, events int64
		db := s.DB().WithContext(ctx)
		if err := db.Table("application_secrets").Count(&secrets).Error; err != nil || secrets != 1 {
			t.Errorf("%d secrets, %v; want 1", secrets, err)
		}
		if err := db.Table("application_events").Count(&events).Error; err != nil || events != 1 {
			t.Errorf("%d events, %v; want 1", events, err)
		}
	})
}

func TestUpdateApplicationIdempotent(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		app := newApp("rot", "tenant-a", t0)
		mustCreate(t, s, app, store.Secret{ID: secretA, Hash: "h"})
		rotate := func(key string) (*store.Application, error) {
			return s.UpdateApplicationIdempotent(ctx, "tenant-a", app.ID, t0,
				func(saved *store.Application) *store.IdempotencyRecord {
					rec := newRecord("tenant-a", "rotateSecret:"+app.ID, key, t0)
					// The record is built from the saved application: the new secret has its id.
					newest := saved.Secrets[len(saved.Secrets)-1]
					rec.Response = []byte(`{"secretId":"` + newest.ID + `"}`)
					return rec
				},
				func(a *store.Application) error {
					a.Secrets = append(a.Secrets, store.Secret{Hash: "new", CreatedTime: t0.Add(time.Duration(len(a.Secrets)) * time.Second)})
					return nil
				})
		}
		saved, err := rotate("k1")
		if err != nil {
			t.Fatalf("rotate: %v", err)
		}
		rec, err := s.GetIdempotency(ctx, "tenant-a", "rotateSecret:"+app.ID, "k1", time.Time{})
		if err != nil || string(rec.Response) != `{"secretId":"`+saved.Secrets[1].ID+`"}` {
			t.Fatalf("record = %+v, %v", rec, err)
		}
		if _, err := rotate("k1"); !errors.Is(err, store.ErrIdempotencyKeyExists) {
			t.Fatalf("second rotation with the key: %v, want ErrIdempotencyKeyExists", err)
		}
		got, err := s.GetApplication(ctx, "", app.ID, t0)
		if err != nil || got.Version != 2 || len(storedSecrets(t, s, app.ID)) != 2 || len(eventsOf(t, s, app.ID)) != 2 {
			t.Errorf("the refused rotation left a trace: version %d, %d secrets, %d events, %v",
				got.Version, len(storedSecrets(t, s, app.ID)), len(eventsOf(t, s, app.ID)), err)
		}

		// Concurrent rotations with one key: one lands.
		const n = 8
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			oks  int
			errs []error
		)
		for range n {
			wg.Go(func() {
				_, err := rotate("k2")
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					oks++
				} else if !errors.Is(err, store.ErrIdempotencyKeyExists) {
					errs = append(errs, err)
				}
			})
		}
		wg.Wait()
		if oks != 1 || len(errs) != 0 {
			t.Errorf("%d concurrent rotations landed (want 1), errors %v", oks, errs)
		}
		if secrets := storedSecrets(t, s, app.ID); len(secrets) != 3 {
			t.Errorf("%d secrets after the concurrent rotations, want 3", len(secrets))
		}

		// No record: an ordinary update.
		if _, err := s.UpdateApplicationIdempotent(ctx, "tenant-a", app.ID, t0,
			func(*store.Application) *store.IdempotencyRecord { return nil },
			func(a *store.Application) error { a.Name = "x"; return nil }); err != nil {
			t.Errorf("update without a record: %v", err)
		}
	})
}
