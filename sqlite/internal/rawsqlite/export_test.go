package rawsqlite

// WarmConns returns how many connections keep a read transaction.
func (p *Pool) WarmConns() int { return int(p.warmConns.Load()) }

// WarmIdle is how long an unused connection keeps its read transaction.
const WarmIdle = warmIdle

// WarmMaxPending is how many WAL frames not yet checkpointed still allow
// kept read transactions.
const WarmMaxPending = warmMaxPending

// WALPending returns how many frames of the WAL are not yet in the
// database file.
func (p *Pool) WALPending() int { _, n := p.walState(); return int(n) }

// AheadFrames is how many pending frames make CheckpointAhead checkpoint.
const AheadFrames = aheadFrames
