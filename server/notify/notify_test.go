package notify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cxone/appreg/server/notify"
	"github.com/cxone/appreg/store"
	"github.com/cxone/appreg/store/storetest"
)

// mailbox is a real SMTP server on loopback that keeps what it receives.
type mailbox struct {
	addr string
	mu   sync.Mutex
	msgs []received
}

type received struct {
	from string
	to   []string
	msg  *mail.Message
	body string
}

func newMailbox(t *testing.T) *mailbox {
	t.Helper()
	mb := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{mb: mb}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	mb.addr = ln.Addr().String()
	return mb
}

func (mb *mailbox) all() []received {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]received(nil), mb.msgs...)
}

type session struct {
	mb   *mailbox
	from string
	to   []string
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *session) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(m.Body)
	s.mb.mu.Lock()
	s.mb.msgs = append(s.mb.msgs, received{from: s.from, to: s.to, msg: m, body: string(body)})
	s.mb.mu.Unlock()
	return nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// app is a stored application with two contacts.
func app(id string, at time.Time) *store.Application {
	return &store.Application{
		ID: id, TenantID: "acme", Name: "Agent desktop", Contacts: []string{"it@example.com", "ops@example.com"},
		Type: "confidential", Tenancy: "single", Redirects: []string{"https://a.example.com/cb"},
		AuthMethod: "client_secret_basic", Enabled: true,
		CreatedBy: "alice", CreatedTime: at, LastModifiedBy: "alice", LastModifiedTime: at,
	}
}

func TestDeliveredOnceOverSMTP(t *testing.T) {
	for _, dialect := range storetest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, dialect)
			mb := newMailbox(t)
			now := time.Now().UTC().Truncate(time.Microsecond)
			if err := st.CreateApplication(ctx, app("app-1", now), []store.Secret{{Hash: "sha256$x", Hint: "9xYz", CreatedTime: now}}); err != nil {
				t.Fatal(err)
			}
			_, err := st.UpdateApplication(ctx, "acme", "app-1", now, func(a *store.Application) error {
				a.Enabled = false
				a.LastModifiedBy = "bob"
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			sender, err := notify.NewSMTPSender("smtp://" + mb.addr)
			if err != nil {
				t.Fatal(err)
			}
			d := &notify.Dispatcher{Store: st, Sender: sender, From: "appreg@example.com", Logger: quiet(),
				Now: func() time.Time { return now.Add(time.Second) }}
			if n, err := d.RunOnce(ctx); err != nil || n != 2 {
				t.Fatalf("RunOnce = %d, %v; want 2 sent", n, err)
			}
			if n, err := d.RunOnce(ctx); err != nil || n != 0 {
				t.Fatalf("second RunOnce = %d, %v; want nothing", n, err)
			}
			got := mb.all()
			if len(got) != 2 {
				t.Fatalf("%d messages arrived, want 2", len(got))
			}
			subjects := map[string]bool{}
			for _, r := range got {
				dec := new(mime.WordDecoder)
				subj, _ := dec.DecodeHeader(r.msg.Header.Get("Subject"))
				subjects[subj] = true
				if strings.Join(r.to, ",") != "it@example.com,ops@example.com" || r.from != "appreg@example.com" {
					t.Errorf("envelope from %s to %v", r.from, r.to)
				}
				if id := r.msg.Header.Get("Message-Id"); !strings.HasSuffix(id, "@appreg>") {
					t.Errorf("Message-ID %q", id)
				}
				if strings.Contains(r.body, "sha256$") {
					t.Error("a hash reached a mailbox")
				}
			}
			for _, want := range []string{`[appreg] Application "Agent desktop" was registered`, `[appreg] Application "Agent desktop" was disabled`} {
				if !subjects[want] {
					t.Errorf("no message with subject %q; got %v", want, subjects)
				}
			}
		})
	}
}

// killedOutbox loses every MarkSent, as a dispatcher killed between sending
// and marking would.
type killedOutbox struct{ notify.Outbox }

var errKilled = errors.New("killed")

func (killedOutbox) MarkSent(context.Context, string, time.Time) error { return errKilled }

func TestCrashBetweenSendAndMarkSendsAtMostOneDuplicate(t *testing.T) {
	for _, dialect := range storetest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, dialect)
			mb := newMailbox(t)
			now := time.Now().UTC().Truncate(time.Microsecond)
			if err := st.CreateApplication(ctx, app("app-1", now), nil); err != nil {
				t.Fatal(err)
			}
			sender, _ := notify.NewSMTPSender("smtp://" + mb.addr)
			clock := now.Add(time.Second)
			crashing := &notify.Dispatcher{Store: killedOutbox{st}, Sender: sender, From: "appreg@example.com", Lease: time.Minute,
				Logger: quiet(), Now: func() time.Time { return clock }}
			if _, err := crashing.RunOnce(ctx); !errors.Is(err, errKilled) {
				t.Fatalf("crashing pass: %v", err)
			}
			healthy := &notify.Dispatcher{Store: st, Sender: sender, From: "appreg@example.com", Lease: time.Minute,
				Logger: quiet(), Now: func() time.Time { return clock }}
			if n, _ := healthy.RunOnce(ctx); n != 0 {
				t.Fatalf("sent %d while the dead dispatcher's lease lasts", n)
			}
			clock = clock.Add(2 * time.Minute)
			for i := 0; i < 3; i++ {
				if _, err := healthy.RunOnce(ctx); err != nil {
					t.Fatal(err)
				}
			}
			got := mb.all()
			if len(got) != 2 || got[0].msg.Header.Get("Message-Id") != got[1].msg.Header.Get("Message-Id") {
				t.Fatalf("%d deliveries, want the message and one duplicate with the same Message-ID", len(got))
			}
		})
	}
}

func TestTwoDispatchersDeliverEachMessageOnce(t *testing.T) {
	for _, dialect := range storetest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, dialect)
			mb := newMailbox(t)
			now := time.Now().UTC().Truncate(time.Microsecond)
			const apps = 30
			for i := 0; i < apps; i++ {
				if err := st.CreateApplication(ctx, app(fmt.Sprintf("app-%d", i), now), nil); err != nil {
					t.Fatal(err)
				}
			}
			sender, _ := notify.NewSMTPSender("smtp://" + mb.addr)
			var wg sync.WaitGroup
			for i := 0; i < 2; i++ {
				d := &notify.Dispatcher{Store: st, Sender: sender, From: "appreg@example.com", Batch: 4, Logger: quiet(),
					Now: func() time.Time { return now.Add(time.Second) }}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						n, err := d.RunOnce(ctx)
						if err != nil {
							t.Error(err)
							return
						}
						if n == 0 {
							return
						}
					}
				}()
			}
			wg.Wait()
			seen := map[string]int{}
			for _, r := range mb.all() {
				seen[r.msg.Header.Get("Message-Id")]++
			}
			if len(seen) != apps {
				t.Fatalf("%d distinct messages delivered, want %d", len(seen), apps)
			}
			for id, n := range seen {
				if n != 1 {
					t.Fatalf("message %s delivered %d times", id, n)
				}
			}
		})
	}
}

func TestSMTPDownRetriesWithBackoff(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, "sqlite")
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := st.CreateApplication(ctx, app("app-1", now), nil); err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	down, _ := notify.NewSMTPSender("smtp://" + closed)
	clock := now.Add(time.Second)
	sent := prometheus.NewCounter(prometheus.CounterOpts{Name: "sent"})
	failed := prometheus.NewCounter(prometheus.CounterOpts{Name: "failed"})
	d := &notify.Dispatcher{Store: st, Sender: down, From: "appreg@example.com", Logger: quiet(), Now: func() time.Time { return clock },
		Sent: sent, Failed: failed}
	if n, err := d.RunOnce(ctx); err != nil || n != 0 {
		t.Fatalf("with SMTP down: %d, %v", n, err)
	}
	mb := newMailbox(t)
	d.Sender, _ = notify.NewSMTPSender("smtp://" + mb.addr)
	if n, _ := d.RunOnce(ctx); n != 0 {
		t.Fatal("retried before its backoff")
	}
	clock = clock.Add(31 * time.Second)
	if n, err := d.RunOnce(ctx); err != nil || n != 1 || len(mb.all()) != 1 {
		t.Fatalf("after the backoff: %d, %v, %d delivered", n, err, len(mb.all()))
	}
	if s, f := testutil.ToFloat64(sent), testutil.ToFloat64(failed); s != 1 || f != 1 {
		t.Errorf("counted %v sent and %v failed, want 1 and 1", s, f)
	}
}

func TestRenderEveryKind(t *testing.T) {
	at := "2026-11-30T12:00:00Z"
	base := func(kind string, extra map[string]any) store.OutboxMessage {
		p := map[string]any{"applicationName": "Agent\r\nBcc: evil@example.com", "time": at, "actor": "alice",
			"scheduledDeletionTime": at, "hint": "9xYz", "expiresTime": at, "secret": "MUST-NOT-APPEAR",
			"secretsIssued": []any{map[string]any{"secretId": "s1", "hint": "9xYz"}}}
		for k, v := range extra {
			p[k] = v
		}
		return store.OutboxMessage{ID: "m1", ApplicationID: "app-1", TenantID: "acme", Kind: kind, Payload: p}
	}
	tests := []struct{ kind, subject, body string }{
		{store.ActionCreated, "was registered", "never sent by e-mail"},
		{store.ActionUpdated, "was changed", "Changed: name"},
		{store.ActionDisabled, "was disabled", "can no longer authenticate"},
		{store.ActionEnabled, "was enabled", "can authenticate again"},
		{store.ActionDeletionScheduled, "scheduled for 2026-11-30 12:00 UTC", "POST /applications/app-1-enable"},
		{store.ActionDeletionCancelled, "cancelled", "enabled and unlocked"},
		{store.ActionPurged, "deleted for good", "cannot be undone"},
		{store.ActionSecretIssued, "new secret", "ending 9xYz"},
		{store.ActionSecretRevoked, "was revoked", "no longer authenticate"},
		{store.ActionTenancyApproved, "approved for all tenants", "every tenant"},
		{store.ActionTenancyRejected, "not approved", "own tenant only"},
		{store.KindSecretExpiring7d, "expires in 7 days", "POST /applications/app-1/secrets"},
		{store.KindSecretExpiring1d, "expires in 1 day", "ending 9xYz"},
		{store.KindPurgeComing1d, "deleted for good in 1 day", "app-1-enable"},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			subject, body := notify.Render(base(tc.kind, map[string]any{"changedFields": []any{"name"}}))
			if !strings.HasPrefix(subject, "[appreg] ") || !strings.Contains(subject, tc.subject) || !strings.Contains(body, tc.body) {
				t.Fatalf("subject %q body %q", subject, body)
			}
			if strings.ContainsAny(subject, "\r\n") || strings.Contains(body, "MUST-NOT-APPEAR") {
				t.Fatalf("unsafe rendering: %q / %q", subject, body)
			}
			raw := string(notify.Format(notify.Message{ID: "m1", From: "a@example.com", To: []string{"b@example.com"}, Subject: subject, Body: body}, time.Now()))
			if strings.Contains(strings.SplitN(raw, "\r\n\r\n", 2)[0], "\r\nBcc:") {
				t.Fatal("header injection through the application name")
			}
		})
	}
}
