package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// SchemaVersion changes whenever the schema or what is derived from alerts changes. A
// database of another version is dropped and rebuilt from the feed.
const SchemaVersion = 3

// FileName is the database file inside the index directory.
const FileName = "index.db"

// Options configure an index.
type Options struct {
	// CacheKiB bounds the page cache of each connection; 32 MiB by default.
	CacheKiB int
	// Readers is the number of connections serving queries; 4 by default.
	Readers int
	Logger  *slog.Logger
}

// Index is a node's search index. It has one writing connection and a few reading ones
// (WAL mode: readers never wait for the writer). It is safe for concurrent use.
type Index struct {
	dir  string
	opts Options
	log  *slog.Logger

	mu sync.RWMutex // write-held only while the database is dropped and created again
	w  *sql.DB      // the one writer
	// stmts are the writer's statements, prepared once on w.
	stmts stmtCache
	r     *sql.DB // readers

	src atomic.Pointer[Source] // where results' alerts are read: the feed

	cursor   atomic.Uint64 // last feed position committed
	count    atomic.Uint64 // alerts indexed
	feedLast atomic.Uint64 // last feed position known to exist (for the lag)

	afterCommit func() // called after each transaction's commit (benchmarks count them)
}

// Open opens (or creates) the index in dir. A database of another schema version is
// dropped: the indexer then rebuilds it from the feed.
func Open(ctx context.Context, dir string, o Options) (*Index, error) {
	if o.CacheKiB <= 0 {
		o.CacheKiB = 32 << 10
	}
	if o.Readers <= 0 {
		o.Readers = 4
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("index dir: %w", err)
	}
	x := &Index{dir: dir, opts: o, log: o.Logger}
	if err := x.open(ctx); err != nil {
		return nil, err
	}
	return x, nil
}

// Source reads alert versions from the node's feed by feed position. The index keeps
// only what it searches on; the alert and its envelope of a result are read from the
// feed, which holds them anyway.
type Source interface {
	// AlertsAt returns the alerts at the feed positions seqs that the feed holds (an
	// expired position is left out), decoded as Subscribe sends them.
	AlertsAt(ctx context.Context, seqs []uint64) (map[uint64]*nodev1.VerifiedAlert, error)
}

// SetSource sets where the alerts of search results are read; NewIndexer sets its feed.
func (x *Index) SetSource(s Source) {
	if s == nil {
		x.src.Store(nil)
		return
	}
	x.src.Store(&s)
}

func (x *Index) source() Source {
	if p := x.src.Load(); p != nil {
		return *p
	}
	return nil
}

// Path is the database file.
func (x *Index) Path() string { return filepath.Join(x.dir, FileName) }

func (x *Index) dsn(writer bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "cache_size(-"+strconv.Itoa(x.opts.CacheKiB)+")")
	q.Add("_pragma", "temp_store(MEMORY)")
	if writer {
		// Checkpoint the WAL into the database every 10,000 pages (40 MB) instead of
		// 1,000: a page the indexer changes in many transactions (the right edge of
		// each b-tree) is copied once per checkpoint, and checkpoints were 10 % of the
		// index's CPU. The WAL file is cut back to 64 MB after a checkpoint.
		q.Add("_pragma", "wal_autocheckpoint(10000)")
		q.Add("_pragma", "journal_size_limit(67108864)")
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + x.Path() + "?" + q.Encode()
}

func (x *Index) open(ctx context.Context) error {
	w, err := sql.Open("sqlite", x.dsn(true))
	if err != nil {
		return fmt.Errorf("open index: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxLifetime(0)
	version, err := schemaVersion(ctx, w)
	if err == nil && version != 0 && version != SchemaVersion {
		x.log.Warn("index schema changed: rebuilding from the feed", "path", x.Path(), "was", version, "now", SchemaVersion)
		_ = w.Close()
		if err := removeDB(x.Path()); err != nil {
			return err
		}
		return x.open(ctx)
	}
	if err == nil && version == 0 {
		err = createSchema(ctx, w)
	}
	if err != nil {
		_ = w.Close()
		return fmt.Errorf("open index %s: %w", x.Path(), err)
	}
	r, err := sql.Open("sqlite", x.dsn(false))
	if err != nil {
		_ = w.Close()
		return fmt.Errorf("open index: %w", err)
	}
	r.SetMaxOpenConns(x.opts.Readers)
	r.SetMaxIdleConns(x.opts.Readers)
	var cursor, count uint64
	if err := w.QueryRowContext(ctx, `SELECT
		(SELECT value FROM meta WHERE key = 'cursor'), (SELECT value FROM meta WHERE key = 'alerts')`).Scan(&cursor, &count); err != nil {
		_ = w.Close()
		_ = r.Close()
		return fmt.Errorf("open index %s: %w", x.Path(), err)
	}
	x.w, x.r = w, r
	x.cursor.Store(cursor)
	x.count.Store(count)
	return nil
}

// schemaVersion is the schema version of db: 0 for an empty database.
func schemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).Scan(&n)
	if err != nil || n == 0 {
		return 0, err
	}
	var v int
	err = db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && v == 0) {
		return -1, nil // not a schema of this package
	}
	return v, err
}

func removeDB(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("drop index: %w", err)
		}
	}
	return nil
}

// Close closes the database.
func (x *Index) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.stmts.close()
	return errors.Join(x.r.Close(), x.w.Close())
}

// Reset drops the database and creates it empty: the indexer then reads the feed from
// its start.
func (x *Index) Reset(ctx context.Context) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.stmts.close()
	if err := errors.Join(x.r.Close(), x.w.Close()); err != nil {
		return fmt.Errorf("drop index: %w", err)
	}
	if err := removeDB(x.Path()); err != nil {
		return err
	}
	return x.open(ctx)
}

// Cursor is the last feed position indexed (0 before the first).
func (x *Index) Cursor() uint64 { return x.cursor.Load() }

// State is how far the index has read the feed.
type State struct {
	Cursor uint64 // last feed position indexed
	Lag    uint64 // feed positions not indexed yet
	Alerts uint64 // alerts indexed
}

// State reports the cursor, the lag behind the feed and the number of alerts indexed.
func (x *Index) State() State {
	c, last := x.cursor.Load(), x.feedLast.Load()
	s := State{Cursor: c, Alerts: x.count.Load()}
	if last > c {
		s.Lag = last - c
	}
	return s
}

// setFeedLast records the newest feed position the indexer knows of.
func (x *Index) setFeedLast(seq uint64) {
	for {
		old := x.feedLast.Load()
		if seq <= old || x.feedLast.CompareAndSwap(old, seq) {
			return
		}
	}
}
