package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cxone/appreg/server/auth"
	"github.com/cxone/appreg/store"
)

// idempotencyWindow is how long an Idempotency-Key is remembered.
const idempotencyWindow = 24 * time.Hour

// ErrIdempotencyKeyReused is an Idempotency-Key sent again with another
// body, or while its first request is still being answered.
var ErrIdempotencyKeyReused = errors.New("this Idempotency-Key was used for another request")

// idemRequest is a request that carries an Idempotency-Key seen for the
// first time: record makes the record saved with its outcome.
type idemRequest struct {
	tenant, operation, key, hash string
	now                          time.Time
}

// record is the stored outcome. The response never holds a secret: a
// replay must not show a secret a second time, since whoever holds the key
// (a log line, a proxy) would otherwise obtain it.
func (r *idemRequest) record(status int, response any) *store.IdempotencyRecord {
	b, _ := json.Marshal(response)
	return &store.IdempotencyRecord{
		TenantID: r.tenant, Operation: r.operation, Key: r.key, RequestHash: r.hash,
		Status: status, Response: b, CreatedTime: r.now,
	}
}

// replayed is the stored answer to a repeated request.
type replayed struct{ rec *store.IdempotencyRecord }

func (r *replayed) decode(v any) error {
	if err := json.Unmarshal(r.rec.Response, v); err != nil {
		return fmt.Errorf("decode idempotent answer: %w", err)
	}
	return nil
}

// idempotency looks an Idempotency-Key up. Without a key it returns nils.
// With a known key and the same request it returns the answer to replay;
// with a known key and another request, ErrIdempotencyKeyReused.
func (s *Server) idempotency(ctx context.Context, p auth.Principal, operation string, key *string, body any) (*idemRequest, *replayed, error) {
	if key == nil {
		return nil, nil, nil
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, nil, fmt.Errorf("hash request: %w", err)
	}
	sum := sha256.Sum256(append([]byte(p.Subject+"\x00"), b...))
	now := s.now()
	req := &idemRequest{tenant: p.TenantID, operation: operation, key: *key, hash: hex.EncodeToString(sum[:]), now: now}
	rec, err := s.store.GetIdempotency(ctx, p.TenantID, operation, *key, now.Add(-idempotencyWindow))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return req, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("idempotency lookup: %w", err)
	case rec.RequestHash != req.hash:
		return nil, nil, ErrIdempotencyKeyReused
	}
	return nil, &replayed{rec: rec}, nil
}

// idempotencyConflict maps a lost race between twins with one key to 409.
func (s *Server) idempotencyConflict(_ context.Context, err error) error {
	if errors.Is(err, store.ErrIdempotencyKeyExists) {
		return ErrIdempotencyKeyReused
	}
	return err
}
