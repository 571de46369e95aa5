package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cxone/appreg/store"
)

// secretIDs are the ids of secrets, in order.
func secretIDs(secrets []store.Secret) []string {
	out := make([]string, len(secrets))
	for i, s := range secrets {
		out[i] = s.ID
	}
	return out
}

// storedSecrets is ListSecrets, failing the test on error.
func storedSecrets(t *testing.T, s *store.Store, applicationID string) []store.Secret {
	t.Helper()
	secrets, err := s.ListSecrets(context.Background(), applicationID)
	if err != nil {
		t.Fatalf("ListSecrets: %v", err)
	}
	return secrets
}

const (
	secretA = "00000000-0000-4000-8000-00000000000a"
	secretB = "00000000-0000-4000-8000-00000000000b"
)

func TestUpdateSyncsSecrets(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		app := newApp("sync", "tenant-a", t0)
		mustCreate(t, s, app, store.Secret{ID: secretA, Hash: "hash-a", Hint: "aaaa"})
		if got := secretIDs(app.Secrets); !slices.Equal(got, []string{secretA}) {
			t.Errorf("CreateApplication set Secrets %v, want [%s]", got, secretA)
		}
		if got, err := s.GetApplication(ctx, "", app.ID, t0); err != nil || got.Secrets != nil {
			t.Errorf("GetApplication Secrets = %v, %v; want nil", got.Secrets, err)
		}
		if apps, _, err := s.ListApplications(ctx, store.ListQuery{}); err != nil || len(apps) != 1 || apps[0].Secrets != nil {
			t.Errorf("ListApplications Secrets = %v, %v; want nil", apps, err)
		}
		_, seq := changesAfter(t, s, 0)
		now := t0.Add(time.Hour).Truncate(time.Microsecond)

		type step struct {
			name        string
			fn          func(t *testing.T, a *store.Application)
			want        []string // stored secret ids, oldest first
			wantExpires map[string]*time.Time
		}
		steps := []step{
			{
				name: "add a secret, expire the old one (rotation)",
				fn: func(t *testing.T, a *store.Application) {
					if got := secretIDs(a.Secrets); !slices.Equal(got, []string{secretA}) {
						t.Errorf("updater sees secrets %v", got)
					}
					a.Secrets[0].ExpiresTime = ptr(now.Add(24*time.Hour + 123)) // nanoseconds dropped
					a.Secrets = append(a.Secrets, store.Secret{ID: secretB, Hash: "hash-b", Hint: "bbbb", ApplicationID: "forced"})
				},
				want:        []string{secretA, secretB},
				wantExpires: map[string]*time.Time{secretA: ptr(now.Add(24 * time.Hour)), secretB: nil},
			},
			{
				name: "change the expiry only; other fields of a stored secret are ignored",
				fn: func(t *testing.T, a *store.Application) {
					if got := secretIDs(a.Secrets); !slices.Equal(got, []string{secretA, secretB}) {
						t.Errorf("updater sees secrets %v, want oldest first", got)
					}
					a.Secrets[1].ExpiresTime = ptr(now.Add(48 * time.Hour))
					a.Secrets[1].Hash = "tampered"
					a.Secrets[1].Hint = "zzzz"
				},
				want:        []string{secretA, secretB},
				wantExpires: map[string]*time.Time{secretA: ptr(now.Add(24 * time.Hour)), secretB: ptr(now.Add(48 * time.Hour))},
			},
			{
				name:        "nil Secrets leaves them alone",
				fn:          func(t *testing.T, a *store.Application) { a.Secrets = nil; a.Name = "renamed" },
				want:        []string{secretA, secretB},
				wantExpires: map[string]*time.Time{secretA: ptr(now.Add(24 * time.Hour)), secretB: ptr(now.Add(48 * time.Hour))},
			},
			{
				name: "delete one",
				fn: func(t *testing.T, a *store.Application) {
					a.Secrets = slices.DeleteFunc(a.Secrets, func(s store.Secret) bool { return s.ID == secretA })
				},
				want:        []string{secretB},
				wantExpires: map[string]*time.Time{secretB: ptr(now.Add(48 * time.Hour))},
			},
			{
				name: "add one without id or time",
				fn: func(t *testing.T, a *store.Application) {
					a.Secrets = append(a.Secrets, store.Secret{Hash: "hash-c", Hint: "cccc"})
				},
				want: nil, // checked below: two secrets, B first
			},
			{
				name:        "empty Secrets deletes them all",
				fn:          func(t *testing.T, a *store.Application) { a.Secrets = []store.Secret{} },
				want:        []string{},
				wantExpires: map[string]*time.Time{},
			},
		}
		for i, st := range steps {
			saved, err := s.UpdateApplication(ctx, "tenant-a", app.ID, now, func(a *store.Application) error {
				st.fn(t, a)
				return nil
			})
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			stored := storedSecrets(t, s, app.ID)
			if saved.Version != int64(i+2) {
				t.Errorf("%s: Version %d, want %d", st.name, saved.Version, i+2)
			}
			if got := secretIDs(saved.Secrets); !slices.Equal(got, secretIDs(stored)) {
				t.Errorf("%s: returned secrets %v, stored %v", st.name, got, secretIDs(stored))
			}
			if got, _ := changesAfter(t, s, seq); len(got) != 1 {
				t.Errorf("%s: %d change rows, want 1", st.name, len(got))
			}
			_, seq = changesAfter(t, s, seq)
			if st.want == nil {
				if len(stored) != 2 || stored[0].ID != secretB || stored[1].Hash != "hash-c" ||
					!stored[1].CreatedTime.Equal(now) || stored[1].ApplicationID != app.ID {
					t.Errorf("%s: stored %+v", st.name, stored)
				}
				continue
			}
			if got := secretIDs(stored); !slices.Equal(got, st.want) {
				t.Errorf("%s: stored %v, want %v", st.name, got, st.want)
			}
			for _, sec := range stored {
				want := st.wantExpires[sec.ID]
				if (want == nil) != (sec.ExpiresTime == nil) || want != nil && !want.Equal(*sec.ExpiresTime) {
					t.Errorf("%s: secret %s expires %v, want %v", st.name, sec.ID, sec.ExpiresTime, want)
				}
				if sec.ApplicationID != app.ID {
					t.Errorf("%s: secret %s ApplicationID %q", st.name, sec.ID, sec.ApplicationID)
				}
				if sec.ID == secretB && (sec.Hash != "hash-b" || sec.Hint != "bbbb") {
					t.Errorf("%s: stored secret B changed: %+v", st.name, sec)
				}
			}
			for _, sec := range saved.Secrets {
				if sec.ID == secretB && (sec.Hash != "hash-b" || sec.Hint != "bbbb") {
					t.Errorf("%s: returned secret B is not as stored: %+v", st.name, sec)
				}
			}
		}
	})
}

func TestSecretSyncRollsBack(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		app := newApp("sync-rb", "tenant-a", t0)
		mustCreate(t, s, app, store.Secret{ID: secretA, Hash: "hash-a"})
		errVeto := errors.New("veto")
		cases := []struct {
			name string
			fn   func(a *store.Application) error
		}{
			{"updater error", func(a *store.Application) error {
				a.Secrets = append(a.Secrets, store.Secret{ID: secretB, Hash: "hash-b"})
				return errVeto
			}},
			{"same new id twice", func(a *store.Application) error {
				a.Secrets = []store.Secret{{ID: secretB, Hash: "b"}, {ID: secretB, Hash: "b"}}
				return nil
			}},
			{"stored id twice", func(a *store.Application) error {
				a.Secrets = append(a.Secrets, a.Secrets[0])
				return nil
			}},
			{"id taken by another application", func(a *store.Application) error {
				a.Secrets = []store.Secret{{ID: "00000000-0000-4000-8000-0000000000ff", Hash: "x"}}
				return nil
			}},
		}
		mustCreate(t, s, newApp("other", "tenant-a", t0), store.Secret{ID: "00000000-0000-4000-8000-0000000000ff", Hash: "o"})
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := s.UpdateApplication(ctx, "", app.ID, t0, tc.fn); err == nil {
					t.Fatal("update succeeded")
				}
				if got := secretIDs(storedSecrets(t, s, app.ID)); !slices.Equal(got, []string{secretA}) {
					t.Errorf("secrets after a failed update: %v", got)
				}
				if got, err := s.GetApplication(ctx, "", app.ID, t0); err != nil || got.Version != 1 {
					t.Errorf("after a failed update: %+v, %v", got, err)
				}
			})
		}
	})
}
