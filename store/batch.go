package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
)

// rowWriter is where the INSERTs of one atomic write go: the rows a write adds beside its
// main change (secrets, origins, its audit event and outbox message, its change row). wrap,
// when not nil, turns the statement's own error into the one the caller reports.
type rowWriter interface {
	insert(value any, wrap func(error) error) error
}

// txWriter inserts each row at once in a transaction that is already open.
type txWriter struct{ tx *gorm.DB }

func (w txWriter) insert(value any, wrap func(error) error) error {
	err := w.tx.Create(value).Error
	if err != nil && wrap != nil {
		err = wrap(err)
	}
	return err
}

// pgBatch queues INSERTs, built by GORM without running them, to send to PostgreSQL in one
// round trip (see insertAll).
type pgBatch struct {
	build *gorm.DB
	batch pgx.Batch
	wraps []func(error) error
}

func (b *pgBatch) insert(value any, wrap func(error) error) error {
	stmt := b.build.Create(value)
	if stmt.Error != nil {
		return stmt.Error
	}
	b.batch.Queue(stmt.Statement.SQL.String(), stmt.Statement.Vars...)
	b.wraps = append(b.wraps, wrap)
	return nil
}

// insertAll runs fn's INSERTs atomically: all of them or none.
//
// On PostgreSQL they go as one pipelined batch: every statement is sent at once, followed by
// one Sync, so the server runs them in one implicit transaction (the first failure aborts
// and rolls back the rest) and the whole write costs one round trip instead of one per
// statement plus BEGIN and COMMIT. A write that only inserts (createApplication) is the
// busiest write of the service; its throughput is bounded by round trips and commits. On
// SQLite they run one by one in a transaction.
func (s *Store) insertAll(ctx context.Context, fn func(w rowWriter) error) error {
	if s.dialect != DialectPostgres {
		return s.transaction(ctx, func(tx *gorm.DB) error { return fn(txWriter{tx}) })
	}
	b := &pgBatch{build: s.db.Session(&gorm.Session{DryRun: true, NewDB: true}).WithContext(ctx)}
	if err := fn(b); err != nil {
		return err
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(driverConn any) error {
		dc, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("store: batch: unexpected driver connection %T", driverConn)
		}
		results := dc.Conn().SendBatch(ctx, &b.batch)
		var first error
		for _, wrap := range b.wraps {
			if _, err := results.Exec(); err != nil && first == nil {
				first = err
				if wrap != nil {
					first = wrap(err)
				}
			}
		}
		// After a failed statement, closing reports the same failure again.
		if err := results.Close(); first == nil {
			first = err
		}
		return first
	})
}
