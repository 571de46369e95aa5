package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// rowWriter is where the INSERTs of one atomic write go: the rows a write adds beside its
// main change (secrets, origins, its audit event and outbox message, its change row). wrap,
// when not nil, turns the statement's own error into the one the caller reports.
type rowWriter interface {
	insert(value any, wrap func(error) error) error
}

// txWriter inserts each row at once through tx: the open transaction of a read-modify-write,
// or the database itself for a single row.
type txWriter struct{ tx *gorm.DB }

func (w txWriter) insert(value any, wrap func(error) error) error {
	err := w.tx.Create(value).Error
	if err != nil && wrap != nil {
		err = wrap(err)
	}
	return err
}

// pgBatch queues INSERTs to send to PostgreSQL in one round trip (see insertAll).
type pgBatch struct {
	ctx    context.Context
	naming schema.Namer
	batch  pgx.Batch
	wraps  []func(error) error
}

// schemas caches the parsed GORM schemas of the models pgBatch inserts.
var schemas sync.Map

// insert queues the INSERT of value, a pointer to a model or to a non-empty slice of models.
// The statement is built from the model's GORM schema, with the values GORM itself would
// bind (its field valuers, serializers included), but without GORM's callback chain, which
// cost more CPU per create than the database's own work. Columns the database fills
// (autoIncrement) are left to it.
func (b *pgBatch) insert(value any, wrap func(error) error) error {
	sch, err := schema.Parse(value, &schemas, b.naming)
	if err != nil {
		return err
	}
	var fields []*schema.Field
	for _, f := range sch.Fields {
		if f.DBName != "" && f.Creatable && !f.AutoIncrement {
			fields = append(fields, f)
		}
	}
	rv := reflect.Indirect(reflect.ValueOf(value))
	rows := []reflect.Value{rv}
	if rv.Kind() == reflect.Slice {
		rows = make([]reflect.Value, rv.Len())
		for i := range rows {
			rows[i] = reflect.Indirect(rv.Index(i))
		}
	}
	if len(rows) == 0 {
		return errors.New("store: batch: no rows to insert")
	}
	var sql strings.Builder
	sql.WriteString(`INSERT INTO "` + sch.Table + `" (`)
	for i, f := range fields {
		if i > 0 {
			sql.WriteByte(',')
		}
		sql.WriteString(`"` + f.DBName + `"`)
	}
	sql.WriteString(") VALUES ")
	args := make([]any, 0, len(rows)*len(fields))
	for r, row := range rows {
		if r > 0 {
			sql.WriteByte(',')
		}
		sql.WriteByte('(')
		for i, f := range fields {
			if i > 0 {
				sql.WriteByte(',')
			}
			v, _ := f.ValueOf(b.ctx, row)
			args = append(args, v)
			sql.WriteString("$" + strconv.Itoa(len(args)))
		}
		sql.WriteByte(')')
	}
	b.batch.Queue(sql.String(), args...)
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
	b := &pgBatch{ctx: ctx, naming: s.db.NamingStrategy}
	if err := fn(b); err != nil {
		return err
	}
	err := withPgx(ctx, s.db, func(conn *pgx.Conn) error {
		results := conn.SendBatch(ctx, &b.batch)
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
	s.health.observe(err) // the batch bypasses GORM's callbacks
	return err
}

// withPgx runs fn on a pgx connection of db's pool (PostgreSQL only), for the few paths where
// database/sql's interface costs more than the work: it returns to the pool afterwards. GORM's
// callbacks do not see this work: its callers (queryPgx, insertAll) tell health the outcome.
func withPgx(ctx context.Context, db *gorm.DB, fn func(conn *pgx.Conn) error) error {
	sqlDB, err := db.DB()
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
			return fmt.Errorf("store: unexpected driver connection %T", driverConn)
		}
		return fn(dc.Conn())
	})
}
