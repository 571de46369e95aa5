package store

import (
	"context"
	"time"
)

// DefaultOperationTimeout is how long one operation of the store may take unless
// SetOperationTimeout changes it.
const DefaultOperationTimeout = 3 * time.Second

// SetOperationTimeout bounds every operation a request or the lookup path runs on the store
// (a read, a write's transaction or batch, a ping, a poll of the change log), from the moment
// it is called, waiting for a pooled connection included. A database that stops answering
// without refusing (a network that no longer delivers, a server paused or swamped) then
// fails each operation after d with an error IsUnavailable recognises, instead of holding
// the request until its own timeout; the API answers 503 with Retry-After. Zero or negative
// removes the bound. Set it before the store is used. Background work (migrations, purges,
// the outbox, the usage flush, pruning) keeps its callers' deadlines: it may rightly take
// longer, and nobody waits on it.
func (s *Store) SetOperationTimeout(d time.Duration) { s.opTimeout = d }

// OperationTimeout is the bound SetOperationTimeout set.
func (s *Store) OperationTimeout() time.Duration { return s.opTimeout }

// bound limits ctx to the operation timeout, unless ctx ends sooner already. The bound starts
// where the store's work starts: what the caller did before (hashing an imported secret with
// PBKDF2, which takes most of a second on a loaded machine) does not count against it.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.opTimeout <= 0 {
		return ctx, func() {}
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= s.opTimeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.opTimeout)
}
