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

// TestOperationTimeout: with the database paused (connections accepted, nothing answered), an
// operation fails after the store's bound, with an error IsUnavailable recognises, and not
// after its caller's deadline; then the operations of requests are refused at once
// (ErrUnavailable), while the polls of the change log keep trying, and one operation a second
// probes when nothing else did; the bound does not replace a caller's shorter deadline, and a
// cancelled caller is not "unavailable". Once the database answers, writes go through again.
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
	timed := func(op func(context.Context) error) (time.Duration, error) {
		start := time.Now()
		err := op(long)
		return time.Since(start), err
	}
	unavailableAfter := func(name string, op func(context.Context) error, least, most time.Duration) {
		t.Helper()
		took, err := timed(op)
		if !store.IsUnavailable(err) {
			t.Errorf("%s: %v, want an error IsUnavailable recognises", name, err)
		}
		if took < least || took > most {
			t.Errorf("%s failed after %s, want between %s and %s", name, took, least, most)
		}
	}
	get := func(ctx context.Context) error { _, err := s.GetApplication(ctx, "acme", "a1", time.Now()); return err }
	list := func(ctx context.Context) error {
		_, _, err := s.ListApplications(ctx, store.ListQuery{TenantID: "acme"})
		return err
	}
	changes := func(ctx context.Context) error { _, err := s.Changes(ctx, 0, 10); return err }
	create := func(ctx context.Context) error {
		return s.CreateApplication(ctx, newApp("a1", "acme", time.Now()), nil)
	}
	update := func(ctx context.Context) error {
		_, err := s.UpdateApplication(ctx, "acme", "a1", time.Now(), func(*store.Application) error { return nil })
		return err
	}
	const slack = time.Second
	// The first failure waits for its bound, and tells the store the database is away.
	unavailableAfter("ping", s.Ping, bound, bound+slack)
	if !s.Unavailable() {
		t.Fatal("after a failed ping the store does not know the database is away")
	}
	// A ping just probed: the operations of requests are refused at once, while the polls of
	// the change log always go, and wait.
	for name, op := range map[string]func(context.Context) error{"get": get, "list": list, "create": create, "update": update} {
		unavailableAfter(name+" while away", op, 0, 50*time.Millisecond)
		if err := op(long); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s while away: %v, want ErrUnavailable", name, err)
		}
	}
	unavailableAfter("changes while away", changes, bound, bound+slack)
	// Nothing else probing for a second, one operation of a request does, and waits; the
	// next is refused at once.
	time.Sleep(time.Second)
	unavailableAfter("the probing create", create, bound, bound+slack)
	unavailableAfter("get after the probe", get, 0, 50*time.Millisecond)

	proxy.Resume()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Unavailable() {
		t.Error("a read answered, and the store still refuses writes")
	}
	if err := create(ctx); err != nil {
		t.Errorf("create once the database answers: %v", err)
	}
	if err := update(ctx); err != nil {
		t.Errorf("update once the database answers: %v", err)
	}
}

// TestOperationTimeoutSQLite: SQLite has no operation bound, whatever is asked: it does not go
// away, and a slow operation there is a busy machine, which a 503 would not help.
func TestOperationTimeoutSQLite(t *testing.T) {
	s := storetest.Open(t, store.DialectSQLite)
	s.SetOperationTimeout(time.Second)
	if got := s.OperationTimeout(); got != 0 {
		t.Errorf("SQLite's operation bound is %s, want none", got)
	}
}
