package sqlite

// NoBackground keeps Open from starting the background encryption of
// plaintext rows, so that tests can look at a database mid-migration.
func NoBackground() Option { return func(o *options) { o.noBackground = true } }

// MigrationBatch sets how many rows each background batch encrypts.
func MigrationBatch(n int) Option { return func(o *options) { o.migrationBatch = n } }
