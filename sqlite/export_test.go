package sqlite

// MigrationBatch sets how many rows each background batch encrypts.
func MigrationBatch(n int) Option { return func(o *options) { o.migrationBatch = n } }
