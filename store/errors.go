package store

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

var (
	// ErrNotFound means the row does not exist, belongs to another tenant, or is an
	// application whose scheduled deletion time has passed.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a unique constraint refused the write (an id that already exists),
	// on either dialect.
	ErrConflict = errors.New("store: conflict")
	// ErrIdempotencyKeyExists means an idempotency record with the same tenant, operation and
	// key exists already (a concurrent twin committed first), so the write it came with was
	// rolled back. It wraps ErrConflict: errors.Is(err, ErrConflict) holds too.
	ErrIdempotencyKeyExists = fmt.Errorf("%w: idempotency key exists", ErrConflict)
)

// SQLite extended result codes of unique violations (sqlite3.h).
const (
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// PostgreSQL SQLSTATEs the store acts on.
const (
	pgUniqueViolation      = "23505"
	pgDeadlockDetected     = "40P01"
	pgSerializationFailure = "40001"
)

// translate wraps err as "store: <op>: ..." and maps driver errors onto the sentinels, keeping
// the driver error in the chain for logs. Driver errors are inspected in this file only.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("store: %s: %w", op, ErrNotFound)
	}
	if uniqueViolation(err) {
		return fmt.Errorf("store: %s: %w: %w", op, ErrConflict, err)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// uniqueViolation reports whether err is a primary key or unique constraint violation, on
// either dialect.
func uniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == pgUniqueViolation
	}
	// glebarez/go-sqlite's *Error; matched by method so the store needs no import of it.
	var sqliteErr interface{ Code() int }
	if errors.As(err, &sqliteErr) {
		switch sqliteErr.Code() {
		case sqliteConstraintPrimaryKey, sqliteConstraintUnique:
			return true
		}
	}
	return false
}

// retryable reports whether err aborted a statement that may simply be run again: PostgreSQL's
// deadlock victims and serialisation failures (which distributed engines raise for contention).
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if err == nil || !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == pgDeadlockDetected || pgErr.Code == pgSerializationFailure
}
