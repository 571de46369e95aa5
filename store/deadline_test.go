package store_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/cxone/appreg/store"
	"github.com/cxone/appreg/store/storetest"
)

// TestOperationTimeout: with the database paused (connections accepted, nothing answered),
// each operation fails after the store's bound, with an error IsUnavailable recognises, and
// not after its caller's deadline; the bound does not replace a caller's shorter deadline,
// and a cancelled caller is not "unavailable".
func TestOperationTimeout(t *testing.T) {
	direct, err := url.Parse(storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := storetest.NewFaultProxy("127.0.0.1:0", direct.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Cut)
	t.Cleanup(proxy.Resume)
	viaProxy := *direct
	viaProxy.Host = proxy.Addr()
	ctx := context.Background()
	s, err := store.Open(ctx, viaProxy.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if got := s.OperationTimeout(); got != store.DefaultOperationTimeout {
		t.Fatalf("default bound %s, want %s", got, store.DefaultOperationTimeout)
	}
	const bound = 300 * time.Millisecond
	s.SetOperationTimeout(bound)
	proxy.Pause()

	long, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ops := map[string]func(context.Context) error{
		"get": func(ctx context.Context) error { _, err := s.GetApplication(ctx, "acme", "a1", time.Now()); return err },
		"list": func(ctx context.Context) error {
			_, _, err := s.ListApplications(ctx, store.ListQuery{TenantID: "acme"})
			return err
		},
		"create": func(ctx context.Context) error {
			return s.CreateApplication(ctx, &store.Application{ID: "a1", TenantID: "acme", Name: "n", Type: "backend"}, nil)
		},
		"update": func(ctx context.Context) error {
			_, err := s.UpdateApplication(ctx, "acme", "a1", time.Now(), func(*store.Application) error { return nil })
			return err
		},
		"changes": func(ctx context.Context) error { _, err := s.Changes(ctx, 0, 10); return err },
		"ping":    s.Ping,
	}
	for name, op := range ops {
		start := time.Now()
		err := op(long)
		took := time.Since(start)
		if !store.IsUnavailable(err) {
			t.Errorf("%s: %v, want an error IsUnavailable recognises", name, err)
		}
		if took < bound || took > bound+time.Second {
			t.Errorf("%s failed after %s, want about %s", name, took, bound)
		}
	}

	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	start := time.Now()
	if err := s.Ping(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ping with a shorter deadline: %v", err)
	}
	if took := time.Since(start); took > bound {
		t.Errorf("a caller's shorter deadline waited %s, the store's bound instead", took)
	}

	gone, hangUp := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, hangUp)
	if err := s.Ping(gone); store.IsUnavailable(err) || !errors.Is(err, context.Canceled) {
		t.Errorf("ping of a cancelled caller: %v, want context.Canceled and not unavailable", err)
	}
}
