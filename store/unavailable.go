package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// IsUnavailable reports whether err means the database cannot be reached or
// refuses work for now (connection refused or lost, server shutting down,
// too many connections, no answer before the deadline), as opposed to a fault
// of the request. Such errors are retried by the caller later. Nothing was
// written, except that a write whose deadline passed after its COMMIT was sent
// may have committed: a client retrying a create uses its Idempotency-Key.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	// A statement that outlived its deadline: the database did not answer in time (a
	// network that stopped forwarding, a server paused or overloaded).
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || // connection exception
			pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03" || // shutdown, crash, cannot connect now
			pgErr.Code == "53300" // too many connections
	}
	var connectErr *pgconn.ConnectError
	var netErr *net.OpError
	// A connection cut mid-answer surfaces as an unexpected EOF.
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, driver.ErrBadConn) || pgconn.SafeToRetry(err) ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "connection refused")
}
