package notify

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cxone/appreg/store"
)

// Outbox is what the dispatcher needs of the store.
type Outbox interface {
	ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.OutboxMessage, error)
	MarkSent(ctx context.Context, id string, now time.Time) error
	MarkFailed(ctx context.Context, id string, now time.Time, errText string, next time.Time) error
	ScheduleReminders(ctx context.Context, now time.Time) (int, error)
}

// maxAttempts is when the dispatcher gives up on a message (about 9 hours
// of backoff in all) and leaves it, marked failed, for an operator.
const maxAttempts = 10

// Dispatcher delivers the outbox. Every replica may run one: a message is
// leased to one dispatcher at a time, so it is sent once; a dispatcher that
// dies between sending and marking it sent loses nothing, and the message is
// sent once more (same Message-ID) after the lease ends.
type Dispatcher struct {
	Store            Outbox
	Sender           Sender
	From             string
	Interval         time.Duration // default 5s
	Lease            time.Duration // default 2m
	Batch            int           // default 50
	ReminderInterval time.Duration // default 10m
	Now              func() time.Time
	Logger           *slog.Logger
	// Sent and Failed count deliveries and failed attempts (the server's
	// Metrics.NotificationsSent and NotificationsFailed); nil counts nothing.
	Sent, Failed prometheus.Counter
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *Dispatcher) log() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

// backoff is the wait after the n-th failed attempt: 30 s doubling, at most an hour.
func backoff(attempts int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < attempts && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// RunOnce sends the messages due now and returns how many it sent.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	lease, batch := d.Lease, d.Batch
	if lease <= 0 {
		lease = 2 * time.Minute
	}
	if batch <= 0 {
		batch = 50
	}
	msgs, err := d.Store.ClaimOutbox(ctx, d.now(), lease, batch)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, m := range msgs {
		if ctx.Err() != nil {
			// Leased but not sent: the lease ends and another pass sends them.
			return sent, ctx.Err()
		}
		subject, body := Render(m)
		err := errNoRecipients
		if len(m.Recipients) > 0 {
			err = d.Sender.Send(ctx, Message{ID: m.ID, From: d.From, To: m.Recipients, Subject: subject, Body: body})
		}
		now := d.now()
		if err == nil {
			if err := d.Store.MarkSent(ctx, m.ID, now); err != nil {
				return sent, err
			}
			sent++
			if d.Sent != nil {
				d.Sent.Inc()
			}
			continue
		}
		if d.Failed != nil {
			d.Failed.Inc()
		}
		attempts := m.Attempts + 1
		next := now.Add(backoff(attempts))
		if attempts >= maxAttempts || err == errNoRecipients {
			next = now.Add(100 * 365 * 24 * time.Hour) // given up: kept for an operator
			d.log().ErrorContext(ctx, "notification given up", slog.String("message_id", m.ID),
				slog.String("application_id", m.ApplicationID), slog.Int("attempts", attempts), slog.String("error", err.Error()))
		} else {
			d.log().WarnContext(ctx, "notification not sent; will retry", slog.String("message_id", m.ID),
				slog.Int("attempts", attempts), slog.Time("next", next), slog.String("error", err.Error()))
		}
		if err := d.Store.MarkFailed(ctx, m.ID, now, err.Error(), next); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// Run delivers every Interval and schedules reminders every
// ReminderInterval until ctx is done.
func (d *Dispatcher) Run(ctx context.Context) {
	interval, remind := d.Interval, d.ReminderInterval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	if remind <= 0 {
		remind = 10 * time.Minute
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var lastReminders time.Time
	for {
		if now := d.now(); now.Sub(lastReminders) >= remind {
			if _, err := d.Store.ScheduleReminders(ctx, now); err != nil && ctx.Err() == nil {
				d.log().ErrorContext(ctx, "scheduling reminders failed", slog.String("error", err.Error()))
			} else {
				lastReminders = now
			}
		}
		for {
			n, err := d.RunOnce(ctx)
			if err != nil && ctx.Err() == nil {
				d.log().ErrorContext(ctx, "notification pass failed", slog.String("error", err.Error()))
			}
			if n == 0 || err != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
