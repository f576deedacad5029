package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"google.golang.org/protobuf/proto"
)

// change is one write of a batch, applied inside the batch's transaction: an alert to
// add, or a notice about an alert.
type change struct {
	alert  *nodev1.VerifiedAlert
	notice func(ctx context.Context, w *writer) error
}

// Add indexes verified alerts (as Subscribe sends them: the cursor is the feed position)
// in one transaction, and records cursor as the last feed position read when it is
// beyond the current one. Alerts already indexed are skipped. It returns how many were
// added.
func (x *Index) Add(ctx context.Context, alerts []*nodev1.VerifiedAlert, cursor uint64) (int, error) {
	cs := make([]change, len(alerts))
	for i, va := range alerts {
		cs[i] = addAlert(va)
	}
	return x.apply(ctx, cs, cursor)
}

func addAlert(va *nodev1.VerifiedAlert) change { return change{alert: va} }

// MarkRecalled records that the origin recalled an alert: its report (every version of
// its chain) is left out of search results unless they include recalled ones, and its
// history shows the recall. A notice for an alert not indexed yet applies when it is.
func (x *Index) MarkRecalled(ctx context.Context, alertID string, at time.Time, reason string) error {
	_, err := x.apply(ctx, []change{markRecalled(alertID, at, reason)}, 0)
	return err
}

func markRecalled(id string, at time.Time, reason string) change {
	return change{notice: func(ctx context.Context, w *writer) error {
		if _, err := w.tx.ExecContext(ctx, `INSERT INTO notices (id, recalled_at, recall_reason) VALUES (?1, ?2, ?3)
			ON CONFLICT (id) DO UPDATE SET recalled_at = ?2, recall_reason = ?3`, id, at.UnixNano(), reason); err != nil {
			return err
		}
		var chain, grp int64
		err := w.tx.QueryRowContext(ctx, `UPDATE alerts SET recalled_at = ?2, recall_reason = ?3 WHERE id = ?1 RETURNING chain, grp`,
			id, at.UnixNano(), reason).Scan(&chain, &grp)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		_, err = w.tx.ExecContext(ctx, `UPDATE alerts SET withdrawn = 1 WHERE grp = ? AND chain = ?`, grp, chain)
		return err
	}}
}

// Reclassify records a new handling (TLP, handling code) for an alert, from a
// reclassification notice of its origin: filters on TLP use it and results show it. A
// notice for an alert not indexed yet applies when it is.
func (x *Index) Reclassify(ctx context.Context, alertID string, handling *alertv1.Handling) error {
	_, err := x.apply(ctx, []change{reclassify(alertID, handling)}, 0)
	return err
}

func reclassify(id string, h *alertv1.Handling) change {
	return change{notice: func(ctx context.Context, w *writer) error {
		b, err := proto.Marshal(h)
		if err != nil {
			return err
		}
		if _, err := w.tx.ExecContext(ctx, `INSERT INTO notices (id, handling) VALUES (?1, ?2)
			ON CONFLICT (id) DO UPDATE SET handling = ?2`, id, b); err != nil {
			return err
		}
		_, err = w.tx.ExecContext(ctx, `UPDATE alerts SET handling = ?2, tlp = ?3 WHERE id = ?1`, id, b, int64(h.GetTlp()))
		return err
	}}
}

// apply runs changes in one transaction with the cursor (0 leaves it alone).
func (x *Index) apply(ctx context.Context, cs []change, cursor uint64) (int, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	tx, err := x.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("index: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	w := &writer{tx: tx, shared: &x.stmts}
	defer w.close()
	added := 0
	var run []*nodev1.VerifiedAlert // alerts are added together, notices in order between them
	for i, c := range cs {
		if c.alert != nil {
			run = append(run, c.alert)
		}
		if len(run) > 0 && (c.notice != nil || i == len(cs)-1) {
			n, err := w.addAlerts(ctx, run)
			if err != nil {
				return 0, fmt.Errorf("index: %w", err)
			}
			added, run = added+n, run[:0]
		}
		if c.notice != nil {
			if err := c.notice(ctx, w); err != nil {
				return 0, fmt.Errorf("index: %w", err)
			}
		}
	}
	newCursor := max(cursor, x.cursor.Load())
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = CASE key WHEN 'cursor' THEN ?1 ELSE value + ?2 END
		WHERE key IN ('cursor', 'alerts')`, int64(newCursor), added); err != nil {
		return 0, fmt.Errorf("index: cursor: %w", err)
	}
	if err := w.writeText(ctx); err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("index: commit: %w", err)
	}
	if x.afterCommit != nil {
		x.afterCommit()
	}
	x.cursor.Store(newCursor)
	x.count.Add(uint64(added))
	x.setFeedLast(newCursor)
	w.close()
	x.stmts.prepare(ctx, x.w, w.missed) // the connection is free again
	return added, nil
}

// writer holds a batch's transaction and its prepared statements.
type writer struct {
	tx     *sql.Tx
	stmts  map[string]*sql.Stmt
	shared *stmtCache
	missed []string // statements to prepare on the database once the transaction ends
	text   []any    // full-text rows (rowid and 4 columns each), written last
}

// stmtCache keeps the writer's statements prepared on the database across transactions:
// the writer has one connection, so a transaction uses them without parsing the SQL
// again (7 % of a replay's CPU before). Statements are prepared on the database only
// between transactions: the one connection is busy during one.
type stmtCache struct {
	mu sync.Mutex
	db map[string]*sql.Stmt
}

// maxSharedStmts bounds the cache: multi-row inserts make one text per row count.
const maxSharedStmts = 256

func (c *stmtCache) lookup(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.db[q]
}

// prepare prepares qs on db, outside any transaction.
func (c *stmtCache) prepare(ctx context.Context, db *sql.DB, qs []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, q := range qs {
		if _, ok := c.db[q]; ok || len(c.db) >= maxSharedStmts {
			continue
		}
		s, err := db.PrepareContext(ctx, q)
		if err != nil {
			return // prepared per transaction, as before
		}
		if c.db == nil {
			c.db = map[string]*sql.Stmt{}
		}
		c.db[q] = s
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.db {
		_ = s.Close()
	}
	c.db = nil
}

func (w *writer) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if s, ok := w.stmts[q]; ok {
		return s, nil
	}
	var s *sql.Stmt
	var err error
	if ds := w.shared.lookup(q); ds != nil {
		s = w.tx.StmtContext(ctx, ds)
	} else {
		s, err = w.tx.PrepareContext(ctx, q)
		w.missed = append(w.missed, q)
	}
	if err != nil {
		return nil, err
	}
	if w.stmts == nil {
		w.stmts = map[string]*sql.Stmt{}
	}
	w.stmts[q] = s
	return s, nil
}

func (w *writer) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	s, err := w.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

// ints runs a query returning one integer column.
func (w *writer) ints(ctx context.Context, q string, args ...any) ([]int64, error) {
	rows, err := w.query(ctx, q, 1, args...)
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r[0]
	}
	return out, err
}

// query runs a query returning width (1 or 2) integer columns.
func (w *writer) query(ctx context.Context, q string, width int, args ...any) ([][2]int64, error) {
	s, err := w.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	rows, err := s.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][2]int64
	for rows.Next() {
		var p [2]int64
		dest := []any{&p[0], &p[1]}
		if err := rows.Scan(dest[:width]...); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (w *writer) close() {
	for _, s := range w.stmts {
		_ = s.Close()
	}
	w.stmts = nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// link joins a new alert version to its chain (the version it supersedes, and versions
// that arrived before it and supersede it) and to its group (chains of seizures with
// the same key), merging chains and groups it connects, and updates what depends on
// them: which version is current, whether the chain is withdrawn, the group's sort keys.
// Grouping depends only on which alerts are indexed, not on the order they arrived in.
func (w *writer) link(ctx context.Context, aid int64, a *alertv1.Alert, skey []byte) error {
	chains, groups := []int64{aid}, []int64{aid}
	add := func(q string, arg any) error {
		rows, err := w.query(ctx, q, 2, arg)
		for _, p := range rows {
			chains, groups = append(chains, p[0]), append(groups, p[1])
		}
		return err
	}
	if sup := a.GetSupersedes(); sup != "" {
		n := len(chains)
		if err := add(`SELECT chain, grp FROM alerts WHERE id = ?`, sup); err != nil {
			return err
		}
		if len(chains) == n { // not indexed yet: linked when it is
			if _, err := w.exec(ctx, `INSERT INTO waiting (id) VALUES (?) ON CONFLICT DO NOTHING`, sup); err != nil {
				return err
			}
		}
	}
	if err := add(`SELECT DISTINCT chain, grp FROM alerts WHERE supersedes = ?`, a.GetId()); err != nil {
		return err
	}
	if skey != nil {
		gs, err := w.ints(ctx, `SELECT DISTINCT grp FROM alerts WHERE skey = ? AND aid <> ?`, skey, aid)
		if err != nil {
			return err
		}
		groups = append(groups, gs...)
	}
	if len(chains) == 1 && len(groups) == 1 {
		return nil // a report of its own: inserted as its own chain and group
	}
	// Groups first, so that every chain to merge is in grp.
	grp, chain := slices.Min(groups), slices.Min(chains)
	for _, g := range slices.Compact(slices.Sorted(slices.Values(groups))) {
		if g != grp {
			if _, err := w.exec(ctx, `UPDATE alerts SET grp = ? WHERE grp = ?`, grp, g); err != nil {
				return err
			}
		}
	}
	for _, c := range slices.Compact(slices.Sorted(slices.Values(chains))) {
		if c != chain {
			if _, err := w.exec(ctx, `UPDATE alerts SET chain = ? WHERE grp = ? AND chain = ?`, chain, grp, c); err != nil {
				return err
			}
		}
	}
	if _, err := w.exec(ctx, `UPDATE alerts SET
		current = (aid = (SELECT aid FROM alerts WHERE grp = ?2 AND chain = ?1 ORDER BY version DESC, aid DESC LIMIT 1)),
		withdrawn = (SELECT count(*) > 0 FROM alerts WHERE grp = ?2 AND chain = ?1 AND recalled_at IS NOT NULL)
		WHERE grp = ?2 AND chain = ?1`, chain, grp); err != nil {
		return err
	}
	_, err := w.exec(ctx, `UPDATE alerts SET (g_issued, g_seized) =
		(SELECT min(issued_at), min(seized_at) FROM alerts WHERE grp = ?1) WHERE grp = ?1`, grp)
	return err
}
