package store

// Models are every table's GORM model, unexported ones included, for the schema test.
var Models = []any{&Application{}, &Secret{}, &applicationOrigin{}, &Change{}, &schemaMigration{},
	&Event{}, &OutboxMessage{}, &IdempotencyRecord{}}
