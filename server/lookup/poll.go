package lookup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"time"
)

const (
	// pageSize is the limit of one Changes read.
	pageSize = 1000
	// maxPages bounds the reads of one poll; what is left is read by the next.
	maxPages = 50
	// startLookback is how far below the latest seq a (re)start reads: a write that drew its
	// seq before Start read LatestChangeSeq may commit after it, and must not be missed.
	startLookback = 1000
	// maxBacklog is the most unread changes a poller catches up on after an outage; beyond
	// it, clearing the cache is cheaper than reading them.
	maxBacklog = 100_000
	// pollTimeout bounds one poll, so a hung connection cannot stop the loop.
	pollTimeout = 5 * time.Second
)

// pollState is the poller's position in the change log. Every seq up to cursor has been
// applied or given up as a gap; seen holds the seqs above cursor already applied, with when
// each was first read. It belongs to the poll goroutine.
type pollState struct {
	cursor  int64
	seen    map[int64]time.Time
	lastOK  time.Time // wall time of the last successful poll
	failing bool      // the last poll failed
}

// restart positions the poller startLookback seqs below latest, forgetting what it had seen.
// The rows in between are applied again: harmless, and it catches the writes that drew a
// seq below latest but had not committed yet.
func (p *pollState) restart(latest int64) {
	p.cursor = max(0, latest-startLookback)
	p.seen = make(map[int64]time.Time)
}

// pollLoop polls every PollInterval until ctx ends, and sooner when a caller waits for a
// poll (awaitPoll), though never twice within syncGap for them.
func (c *Cache) pollLoop(ctx context.Context) {
	defer c.done.Done()
	defer func() { endRound(c.takeRound(), errors.New("lookup: the cache stopped")) }()
	ticker := time.NewTicker(c.cfg.PollInterval)
	defer ticker.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-c.wake:
			if wait := syncGap - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
		last = time.Now()
		r := c.takeRound()
		err := c.pollOnce(ctx)
		c.notePoll(err)
		endRound(r, err)
	}
}

// pollOnce runs one poll, records its outcome and returns its error. It never panics: a panic
// would end the loop and with it every invalidation from other replicas.
func (c *Cache) pollOnce(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.pollErrors.Add(1)
			c.poll.failing = true
			c.log.Error("polling the change log panicked", slog.Any("panic", r))
			err = fmt.Errorf("lookup: polling the change log panicked: %v", r)
		}
	}()
	pctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	err = c.pollChanges(pctx)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		// Stopping.
	default:
		c.pollErrors.Add(1)
		if !c.poll.failing {
			c.log.Warn("polling the change log failed; serving from cache until it answers again",
				slog.String("error", err.Error()))
		} else {
			c.log.Debug("polling the change log failed", slog.String("error", err.Error()))
		}
		c.poll.failing = true
	}
	return err
}

// pollChanges reads the changes above the cursor, applies those not applied yet, and moves
// the cursor over every seq applied or given up.
func (c *Cache) pollChanges(ctx context.Context) error {
	p := &c.poll
	if p.failing {
		if err := c.checkContinuity(ctx); err != nil {
			return err
		}
	}

	var (
		fresh   []int64
		ids     []string
		byID    = map[string]bool{}
		after   = p.cursor
		covered = int64(math.MaxInt64) // the highest seq this poll has proof about
	)
	for page := 0; ; page++ {
		rows, err := c.src.Changes(ctx, after, pageSize)
		if err != nil {
			return fmt.Errorf("read changes after %d: %w", after, err)
		}
		for _, r := range rows {
			if _, ok := p.seen[r.Seq]; ok || r.Seq <= p.cursor {
				continue
			}
			fresh = append(fresh, r.Seq)
			if !byID[r.ApplicationID] {
				byID[r.ApplicationID] = true
				ids = append(ids, r.ApplicationID)
			}
		}
		if len(rows) < pageSize {
			break
		}
		after = rows[len(rows)-1].Seq
		if page+1 == maxPages {
			covered = after
			break
		}
	}

	c.invalidate(ctx, ids)
	if c.known.add(ids...) {
		c.log.Info("more client ids than the known-id filter was sized for; reading them again")
		c.loadKnown(context.WithoutCancel(ctx))
	}
	now := c.wall()
	for _, seq := range fresh {
		p.seen[seq] = now
	}
	c.advance(now, covered)
	c.seq.Store(p.cursor)
	if p.failing {
		c.log.Info("polling the change log again", slog.Duration("outage", now.Sub(p.lastOK)))
		p.failing = false
	}
	p.lastOK = now
	if c.lastPoll.Load() != 0 {
		c.lastPoll.Store(now.UnixNano())
	}
	return nil
}

// checkContinuity runs before the first poll after failures: if the poller may have missed
// changes for good (an outage long enough for the rows to be pruned, more changes than are
// worth reading, or a log that went backwards, as after a restore), it clears the cache and
// starts over from the log's current end.
func (c *Cache) checkContinuity(ctx context.Context) error {
	p := &c.poll
	latest, err := c.src.LatestChangeSeq(ctx)
	if err != nil {
		return fmt.Errorf("read latest change seq: %w", err)
	}
	outage := c.wall().Sub(p.lastOK)
	var reason string
	switch {
	case outage > c.cfg.ChangeRetention/2:
		reason = "the outage outlasted half the change retention"
	case latest-p.cursor > maxBacklog:
		reason = "too many changes happened meanwhile"
	case latest < p.cursor:
		reason = "the change log went backwards"
	default:
		return nil
	}
	c.log.Warn("the change log cannot prove the cache current; clearing it",
		slog.String("reason", reason), slog.Duration("outage", outage),
		slog.Int64("cursor", p.cursor), slog.Int64("latest", latest))
	c.clearAll()
	p.restart(latest)
	c.loadKnown(context.WithoutCancel(ctx)) // creates may have been missed too
	c.resets.Add(1)
	return nil
}

// advance moves the cursor over the applied seqs that follow it, and over a missing seq once
// it has been missing for GapTimeout: since the first time a seq above it was read, which is
// as long as any transaction could still have been about to commit it. Only seqs up to
// covered were looked for by this poll, so no gap above it is given up.
func (c *Cache) advance(now time.Time, covered int64) {
	p := &c.poll
	if len(p.seen) == 0 {
		return
	}
	seqs := slices.Sorted(maps.Keys(p.seen))
	// since[i] is the earliest first read among seqs[i:]: how long the seqs below seqs[i]
	// that are still missing have been known to be missing.
	since := make([]time.Time, len(seqs))
	for i := len(seqs) - 1; i >= 0; i-- {
		since[i] = p.seen[seqs[i]]
		if i+1 < len(seqs) && since[i+1].Before(since[i]) {
			since[i] = since[i+1]
		}
	}
	for i, seq := range seqs {
		if seq != p.cursor+1 {
			if seq > covered || now.Sub(since[i]) < c.cfg.GapTimeout {
				return
			}
			c.log.Debug("giving up a gap in the change log",
				slog.Int64("from", p.cursor+1), slog.Int64("to", seq-1))
		}
		delete(p.seen, seq)
		p.cursor = seq
	}
}

// pruneLoop deletes old change rows every PruneInterval until ctx ends.
func (c *Cache) pruneLoop(ctx context.Context, p changePruner) {
	defer c.done.Done()
	ticker := time.NewTicker(c.cfg.PruneInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		n, err := p.PruneChanges(ctx, c.wall().Add(-c.cfg.ChangeRetention))
		switch {
		case err != nil && ctx.Err() == nil:
			c.log.Warn("pruning the change log failed", slog.String("error", err.Error()))
		case n > 0:
			c.log.Debug("pruned the change log", slog.Int64("rows", n))
		}
	}
}
