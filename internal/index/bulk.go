package index

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/node"
	"google.golang.org/protobuf/proto"
)

// Alerts are written with multi-row statements (insert): per row, a statement costs
// more than the b-tree work it does. chunk bounds the values of an IN list (SQLite
// allows 32766 parameters).
const chunk = 400

// alertColumns are the columns of a new alerts row, in the order of row.values.
const alertColumns = `aid, id, kind, origin, version, supersedes, issued_at, seized_at, received_at, tlp, mode,
	risk_status, inv_status, route, month, skey, signer_admin, signer_node, keyid, not_after, chain, grp, current,
	withdrawn, recalled_at, recall_reason, handling, g_issued, g_seized`

var numAlertColumns = strings.Count(alertColumns, ",") + 1

// row is a new alert version as written.
type row struct {
	aid    int64
	a      *alertv1.Alert
	skey   []byte
	values []any
	text   [4]string
	facets [numFacets][]any
}

func newRow(va *nodev1.VerifiedAlert) (*row, error) {
	a := va.GetAlert()
	aid, err := node.ParseCursor(va.GetCursor())
	if err != nil || aid == 0 {
		return nil, fmt.Errorf("alert %s: cursor %q is not a feed position", a.GetId(), va.GetCursor())
	}
	r := &row{aid: int64(aid), a: a, skey: SeizureKey(a), text: texts(a), facets: facets(a)}
	var seized, skey, supersedes any
	if s := a.GetSeizure(); s != nil {
		seized, skey = s.GetSeizedAt().AsTime().UnixNano(), r.skey
	}
	if a.GetSupersedes() != "" {
		supersedes = a.GetSupersedes()
	}
	issued := a.GetIssuedAt().AsTime().UnixNano()
	sg := va.GetSigner()
	r.values = []any{
		r.aid, a.GetId(), int64(alert.Kind(a)), a.GetOrigin().GetAdministration(), int64(a.GetVersion()), supersedes,
		issued, seized, va.GetReceivedAt().AsTime().UnixNano(), int64(a.GetHandling().GetTlp()), int64(transportMode(a)),
		int64(a.GetRisk().GetStatus()), int64(a.GetSeizure().GetFollowUp().GetInvestigationStatus()),
		routePath(a), eventTime(a).UTC().Format("2006-01"), skey, sg.GetAdministration(), sg.GetNode(), sg.GetKeyid(),
		sg.GetCertificateNotAfter().AsTime().UnixNano(),
		r.aid, r.aid, int64(1), // chain, grp, current: a report of its own until linked
		int64(0), nil, nil, nil, // withdrawn, recalled_at, recall_reason, handling: see notices
		issued, seized, // the group's sort keys
	}
	return r, nil
}

// addAlerts indexes alert versions not indexed yet, and links them to their chains and
// groups. It returns how many it added.
func (w *writer) addAlerts(ctx context.Context, vas []*nodev1.VerifiedAlert) (int, error) {
	seen := make(map[string]bool, len(vas))
	var rows []*row
	for _, va := range vas {
		id := va.GetAlert().GetId()
		if seen[id] {
			continue // twice in the batch
		}
		seen[id] = true
		r, err := newRow(va)
		if err != nil {
			return 0, err
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return 0, nil
	}
	if err := w.applyNotices(ctx, rows); err != nil {
		return 0, err
	}
	rows, err := w.insertRows(ctx, rows)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	// Every row is in: link those that have a link. Linking in any order gives the same
	// chains and groups.
	newIDs, skeys := make([]any, len(rows)), []any{}
	for i, r := range rows {
		newIDs[i] = r.a.GetId()
		if r.skey != nil {
			skeys = append(skeys, r.skey)
		}
	}
	superseded, err := w.waitedFor(ctx, newIDs)
	if err != nil {
		return 0, err
	}
	shared, err := w.strings(ctx, `SELECT skey FROM alerts WHERE skey IN (%s) GROUP BY skey HAVING count(*) > 1`, skeys)
	if err != nil {
		return 0, err
	}
	for _, r := range rows {
		if r.a.GetSupersedes() != "" || superseded[r.a.GetId()] || (r.skey != nil && shared[string(r.skey)]) {
			if err := w.link(ctx, r.aid, r.a, r.skey); err != nil {
				return 0, err
			}
		}
	}
	for id := range superseded {
		if _, err := w.exec(ctx, `DELETE FROM waiting WHERE id = ?`, id); err != nil {
			return 0, err
		}
	}
	return len(rows), nil
}

// waitedFor returns which of ids alerts indexed before supersede: those in the waiting
// table. Versions written together find each other when linked (every row is in by
// then), so only earlier ones are looked up, and only when some are waiting.
func (w *writer) waitedFor(ctx context.Context, ids []any) (map[string]bool, error) {
	var waiting bool
	if err := w.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM waiting)`).Scan(&waiting); err != nil || !waiting {
		return nil, err
	}
	return w.strings(ctx, `SELECT id FROM waiting WHERE id IN (%s)`, ids)
}

// applyNotices sets on rows the recall and reclassification notices that arrived before
// them.
func (w *writer) applyNotices(ctx context.Context, rows []*row) error {
	var any_ bool
	if err := w.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM notices)`).Scan(&any_); err != nil || !any_ {
		return err
	}
	for _, r := range rows {
		var recalledAt, reason any
		var handling []byte
		err := w.tx.QueryRowContext(ctx, `SELECT recalled_at, recall_reason, handling FROM notices WHERE id = ?`, r.a.GetId()).
			Scan(&recalledAt, &reason, &handling)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return err
		}
		v := r.values
		v[23], v[24], v[25] = boolInt(recalledAt != nil), recalledAt, reason
		if handling != nil {
			h := &alertv1.Handling{}
			if err := proto.Unmarshal(handling, h); err == nil {
				v[9], v[26] = int64(h.GetTlp()), handling
			}
		}
	}
	return nil
}

// insertRows writes rows: alerts, text and repeated fields, one statement per
// table. Rows whose alert is indexed already are left out (the alerts insert does
// nothing for them: its unique id is the test, instead of a look-up of every id
// before); it returns the rows written.
func (w *writer) insertRows(ctx context.Context, rows []*row) ([]*row, error) {
	// Slices of the final size, and each aid boxed once (values[0]): growing them and
	// boxing every aid again was a quarter of the bytes the index allocated.
	alerts := make([]any, 0, len(rows)*numAlertColumns)
	for _, r := range rows {
		alerts = append(alerts, r.values...)
	}
	added, err := w.insertNew(ctx, alerts)
	if err != nil {
		return nil, err
	}
	if len(added) < len(rows) {
		rows = slices.DeleteFunc(rows, func(r *row) bool { return !added[r.aid] })
	}
	var fs [numFacets][]any
	var sizes [numFacets]int
	for _, r := range rows {
		for k, vs := range r.facets {
			sizes[k] += 2 * len(vs)
		}
	}
	for k := range fs {
		fs[k] = make([]any, 0, sizes[k])
	}
	w.text = slices.Grow(w.text, 5*len(rows))
	for _, r := range rows {
		aid := r.values[0]
		w.text = append(w.text, aid, r.text[0], r.text[1], r.text[2], r.text[3]) // written last: see writeText
		for k, vs := range r.facets {
			for _, v := range vs {
				fs[k] = append(fs[k], v, aid)
			}
		}
	}
	for k, vs := range fs {
		if !probed[k] {
			sortPairs(vs)
		}
		if _, err := w.insert(ctx, facetTables[k]+" (value, aid)", 2, vs, ""); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// insertNew writes alerts rows (values of alertColumns), except those whose id is
// indexed already, and returns the aids of the rows written.
func (w *writer) insertNew(ctx context.Context, args []any) (map[int64]bool, error) {
	aids, err := w.insert(ctx, "alerts ("+alertColumns+")", numAlertColumns, args, " ON CONFLICT (id) DO NOTHING RETURNING aid")
	added := make(map[int64]bool, len(aids))
	for _, aid := range aids {
		added[aid] = true
	}
	return added, err
}

// sortPairs sorts (value, aid) pairs by value (strings), then aid. A table keyed by
// (value, aid) takes its rows in key order: consecutive rows land on the same pages,
// and a multi-row statement keeps a copy of fewer pages to undo itself (its statement
// journal), which for rows in feed order was one page per row.
func sortPairs(vs []any) {
	n := len(vs) / 2
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	key := func(i int) (string, int64) {
		v, _ := vs[2*i].(string)
		a, _ := vs[2*i+1].(int64)
		return v, a
	}
	slices.SortFunc(idx, func(i, j int) int {
		vi, ai := key(i)
		vj, aj := key(j)
		if c := strings.Compare(vi, vj); c != 0 {
			return c
		}
		return cmp.Compare(ai, aj)
	})
	sorted := make([]any, 0, len(vs))
	for _, i := range idx {
		sorted = append(sorted, vs[2*i], vs[2*i+1])
	}
	copy(vs, sorted)
}

// insertSizes are the rows of one multi-row insert: a batch of any size is written in
// statements of these sizes, largest first, so that the writer prepares at most these
// few texts per table once (statements of any size were parsed again in each
// transaction: 3 % of the index's CPU).
var insertSizes = []int{256, 64, 16, 4, 1}

// insert writes the rows of args (width values each) into table, in statements of
// insertSizes rows. A statement with a RETURNING clause (in suffix, after the values)
// returns the integers it returns.
func (w *writer) insert(ctx context.Context, table string, width int, args []any, suffix string) ([]int64, error) {
	var returned []int64
	for len(args) > 0 {
		rows := len(args) / width
		n := insertSizes[len(insertSizes)-1]
		for _, size := range insertSizes {
			if size <= rows && size*width <= 32766 {
				n = size
				break
			}
		}
		one := "(" + placeholders(width) + ")"
		q := "INSERT INTO " + table + " VALUES " + strings.TrimSuffix(strings.Repeat(one+",", n), ",") + suffix
		if suffix != "" {
			ids, err := w.ints(ctx, q, args[:n*width]...)
			if err != nil {
				return nil, err
			}
			returned = append(returned, ids...)
		} else if _, err := w.exec(ctx, q, args[:n*width]...); err != nil {
			return nil, err
		}
		args = args[n*width:]
	}
	return returned, nil
}

// textChunk bounds the rows of one full-text insert (5 parameters each).
const textChunk = 6000

// writeText writes the full text of the transaction's new alerts, after every other
// statement of the transaction. FTS5 flushes the terms it holds in memory into a new
// segment at each later write statement of the transaction (its savepoint method), so
// text written before other statements was flushed several times per transaction,
// each flush a small segment that merges rewrite later (6 % of the index's CPU). For
// the same reason it is one statement, whose text (of any number of rows) is not kept.
func (w *writer) writeText(ctx context.Context) error {
	for i := 0; i < len(w.text); i += 5 * textChunk {
		part := w.text[i:min(i+5*textChunk, len(w.text))]
		q := "INSERT INTO alert_text (rowid, title, description, concealment, modus_operandi) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?),", len(part)/5), ",")
		if _, err := w.tx.ExecContext(ctx, q, part...); err != nil { // one statement: see above
			return err
		}
	}
	w.text = nil
	return nil
}

// strings runs a query with an IN list (%s) over args, in pieces, and returns the set of
// its first column's values.
func (w *writer) strings(ctx context.Context, q string, args []any) (map[string]bool, error) {
	out := map[string]bool{}
	for i := 0; i < len(args); i += 4 * chunk {
		part := args[i:min(i+4*chunk, len(args))]
		rows, err := w.tx.QueryContext(ctx, fmt.Sprintf(q, placeholders(len(part))), part...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var v []byte
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return nil, err
			}
			out[string(v)] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
