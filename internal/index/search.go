package index

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	searchv1 "github.com/cix-exchange/cix/internal/gen/cix/search/v1"
	"github.com/cix-exchange/cix/internal/node"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// sortColumns are the group sort keys by sort field.
var sortColumns = map[searchv1.SortField]string{
	searchv1.SortField_SORT_FIELD_UNSPECIFIED: "a.grp", // the group's first received version
	searchv1.SortField_SORT_FIELD_RECEIVED:    "a.grp",
	searchv1.SortField_SORT_FIELD_ISSUED_AT:   "a.g_issued",
	searchv1.SortField_SORT_FIELD_SEIZED_AT:   "a.g_seized",
}

// hit is one group of a result page: its sort key and the report shown.
type hit struct {
	grp, key, head, headChain int64
}

// Search returns one page of results.
func (x *Index) Search(ctx context.Context, req *searchv1.SearchRequest) (*searchv1.SearchResponse, error) {
	sel, vs, err := checkSelection(req.GetSelection())
	if err != nil {
		return nil, err
	}
	col, ok := sortColumns[req.GetSort()]
	if !ok {
		vs = append(vs, alert.FieldViolation{Field: "sort", Description: fmt.Sprintf("unknown sort field %d", req.GetSort())})
	}
	size := int(req.GetPageSize())
	switch {
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		vs = append(vs, alert.FieldViolation{Field: "page_size", Description: fmt.Sprintf("at most %d", maxPageSize)})
	}
	if len(vs) > 0 {
		return nil, &alert.ValidationError{Subject: "search request", Violations: vs}
	}
	sort := req.GetSort()
	if sort == searchv1.SortField_SORT_FIELD_UNSPECIFIED {
		sort = searchv1.SortField_SORT_FIELD_RECEIVED
	}
	tok := pageToken{sort: sort, ascending: req.GetAscending(), hash: sel.hash, snap: x.Cursor()}
	first := true
	if req.GetPageToken() != "" {
		t, err := decodeToken(req.GetPageToken())
		if err == nil && (t.sort != tok.sort || t.ascending != tok.ascending || t.hash != tok.hash) {
			err = fmt.Errorf("made for another selection or sort: repeat them, or start again without a token")
		}
		if err != nil {
			return nil, &alert.ValidationError{Subject: "search request", Violations: []alert.FieldViolation{{Field: "page_token", Description: err.Error()}}}
		}
		tok, first = t, false
	}
	conds := append([]string(nil), sel.conds...)
	args := append([]any(nil), sel.args...)
	conds = append(conds, "a.grp <= ?") // groups first received by the snapshot
	args = append(args, int64(tok.snap))
	if sort == searchv1.SortField_SORT_FIELD_SEIZED_AT {
		conds = append(conds, "a.g_seized IS NOT NULL")
	}
	dir, cmp := "DESC", "<"
	if tok.ascending {
		dir, cmp = "ASC", ">"
	}

	x.mu.RLock()
	defer x.mu.RUnlock()
	var hits []hit
	limit := 2*size + 8
	after := !first
	for len(hits) <= size {
		q := "SELECT a.aid, a.grp, a.chain, " + col + " FROM alerts a WHERE " + strings.Join(conds, " AND ")
		qargs := args
		if after {
			q += " AND (" + col + ", a.grp) " + cmp + " (?, ?)"
			qargs = append(qargs[:len(qargs):len(qargs)], tok.key, tok.grp)
		}
		order := " ORDER BY " + col + " " + dir + ", a.grp " + dir
		if col == "a.grp" {
			order = " ORDER BY a.grp " + dir // a second term the same made SQLite sort each group's rows
		}
		q += order + " LIMIT " + strconv.Itoa(limit)
		got, complete, err := x.scanHits(ctx, q, qargs, limit)
		if err != nil {
			return nil, err
		}
		if len(got) == 0 && !complete {
			limit *= 2 // one group has more reports than the limit: read further
			continue
		}
		hits = append(hits, got...)
		if complete {
			break
		}
		last := got[len(got)-1]
		tok.key, tok.grp, after = last.key, last.grp, true
	}
	out := &searchv1.SearchResponse{Index: x.stateProto()}
	if len(hits) > size {
		hits = hits[:size]
		last := hits[size-1]
		tok.key, tok.grp = last.key, last.grp
		out.NextPageToken = tok.encode()
	}
	if out.Results, err = x.results(ctx, hits); err != nil {
		return nil, err
	}
	return out, nil
}

// scanHits reads the matching rows of a query and gathers them by group (rows of one
// group are adjacent), the report shown being the one of the oldest chain. complete
// says the query returned fewer rows than limit; otherwise the last group may miss rows
// and is left out.
func (x *Index) scanHits(ctx context.Context, q string, args []any, limit int) ([]hit, bool, error) {
	rows, err := x.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("search: %w", err)
	}
	defer rows.Close()
	var hits []hit
	n := 0
	for rows.Next() {
		n++
		var aid, grp, chain int64
		var key sql.NullInt64
		if err := rows.Scan(&aid, &grp, &chain, &key); err != nil {
			return nil, false, fmt.Errorf("search: %w", err)
		}
		if l := len(hits) - 1; l >= 0 && hits[l].grp == grp {
			if chain < hits[l].headChain {
				hits[l].head, hits[l].headChain = aid, chain
			}
			continue
		}
		hits = append(hits, hit{grp: grp, key: key.Int64, head: aid, headChain: chain})
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("search: %w", err)
	}
	if n < limit {
		return hits, true, nil
	}
	return hits[:len(hits)-1], false, nil
}

// GetHistory returns the result the alert with this id belongs to, recalled reports
// included.
func (x *Index) GetHistory(ctx context.Context, id string) (*searchv1.SearchResult, error) {
	if !alert.ValidUUID(id) {
		return nil, &alert.ValidationError{Subject: "request", Violations: []alert.FieldViolation{{Field: "id", Description: fmt.Sprintf("%q is not a UUID", clipText(id))}}}
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	var h hit
	err := x.r.QueryRowContext(ctx, `SELECT b.aid, b.grp, b.chain FROM alerts a JOIN alerts b ON b.grp = a.grp
		WHERE a.id = ? AND b.current = 1 ORDER BY b.withdrawn, b.chain LIMIT 1`, id).Scan(&h.head, &h.grp, &h.headChain)
	if err == sql.ErrNoRows {
		return nil, fmt.Errorf("%w: alert %s is not indexed", node.ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	rs, err := x.results(ctx, []hit{h})
	if err != nil {
		return nil, err
	}
	return rs[0], nil
}

// results builds the results of groups: the head alert read from the feed by its
// position, every report and every version. A head the feed no longer holds (expired
// under feed.max_age) leaves the result without its alert.
func (x *Index) results(ctx context.Context, hits []hit) ([]*searchv1.SearchResult, error) {
	if len(hits) == 0 {
		return nil, nil
	}
	byGrp := make(map[int64]*searchv1.SearchResult, len(hits))
	grps := make([]any, len(hits))
	heads := make([]any, len(hits))
	for i, h := range hits {
		byGrp[h.grp] = &searchv1.SearchResult{}
		grps[i], heads[i] = h.grp, h.head
	}
	rows, err := x.r.QueryContext(ctx, `SELECT aid, id, grp, version, supersedes, issued_at, received_at, origin,
		signer_admin, signer_node, keyid, not_after, current, recalled_at, recall_reason, handling, skey
		FROM alerts WHERE grp IN (`+placeholders(len(grps))+`) ORDER BY grp, chain, version, aid`, grps...)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	type headInfo struct {
		signer   *nodev1.Signer
		received *timestamppb.Timestamp
		handling []byte
	}
	infos := map[int64]headInfo{}
	for rows.Next() {
		var (
			aid, grp, version, issued, received, notAfter int64
			id, origin, sAdmin, sNode, keyid              string
			supersedes, reason                            sql.NullString
			current                                       bool
			recalled                                      sql.NullInt64
			handling, skey                                []byte
		)
		if err := rows.Scan(&aid, &id, &grp, &version, &supersedes, &issued, &received, &origin, &sAdmin, &sNode, &keyid,
			&notAfter, &current, &recalled, &reason, &handling, &skey); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		r := byGrp[grp]
		signer := &nodev1.Signer{Administration: sAdmin, Node: sNode, Keyid: keyid, CertificateNotAfter: nanos(notAfter)}
		v := &searchv1.Version{
			Id: id, Version: uint32(version), Supersedes: supersedes.String, IssuedAt: nanos(issued), Signer: signer,
			ReceivedAt: nanos(received), Cursor: node.FormatCursor(uint64(aid)), RecallReason: reason.String,
		}
		if recalled.Valid {
			v.RecalledAt = nanos(recalled.Int64)
		}
		r.History = append(r.History, v)
		if current {
			r.Reports = append(r.Reports, &searchv1.Report{Id: id, Origin: origin, Signer: signer, Version: uint32(version), RecalledAt: v.RecalledAt})
		}
		if skey != nil && r.SeizureKey == "" {
			r.SeizureKey = hex.EncodeToString(skey)
		}
		infos[aid] = headInfo{signer: signer, received: v.ReceivedAt, handling: handling}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	seqs := make([]uint64, len(hits))
	for i, h := range hits {
		seqs[i] = uint64(h.head)
	}
	stored, err := x.alertsAt(ctx, seqs)
	if err != nil {
		return nil, err
	}
	out := make([]*searchv1.SearchResult, len(hits))
	for i, h := range hits {
		r := byGrp[h.grp]
		info := infos[h.head]
		if va := stored[uint64(h.head)]; va != nil {
			r.Alert = &nodev1.VerifiedAlert{Alert: va.GetAlert(), Envelope: va.GetEnvelope(), Signer: info.signer,
				ReceivedAt: info.received, Cursor: node.FormatCursor(uint64(h.head))}
			r.Handling = va.GetAlert().GetHandling()
		}
		if info.handling != nil {
			hd := &alertv1.Handling{}
			if err := proto.Unmarshal(info.handling, hd); err == nil {
				r.Handling = hd
			}
		}
		out[i] = r
	}
	return out, nil
}

// alertsAt reads the alert versions at feed positions seqs from the source (the feed).
func (x *Index) alertsAt(ctx context.Context, seqs []uint64) (map[uint64]*nodev1.VerifiedAlert, error) {
	src := x.source()
	if src == nil {
		return nil, errors.New("index: no feed to read the alerts of results from")
	}
	m, err := src.AlertsAt(ctx, seqs)
	if err != nil {
		return nil, fmt.Errorf("index: read results from the feed: %w", err)
	}
	return m, nil
}

func nanos(n int64) *timestamppb.Timestamp { return timestamppb.New(time.Unix(0, n).UTC()) }

func (x *Index) stateProto() *searchv1.IndexState {
	s := x.State()
	return &searchv1.IndexState{Cursor: node.FormatCursor(s.Cursor), Lag: s.Lag, Alerts: s.Alerts}
}
