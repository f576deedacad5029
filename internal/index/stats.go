package index

import (
	"context"
	"fmt"
	"strings"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	searchv1 "github.com/cix-exchange/cix/internal/gen/cix/search/v1"
)

// dimensions are the SQL of each statistics dimension: what to join and what to group
// by.
var dimensions = map[searchv1.Dimension]struct{ join, key string }{
	searchv1.Dimension_DIMENSION_COMMODITY: {"JOIN " + facetTables[facetCommodity] + " d ON d.aid = a.aid", "d.value"},
	searchv1.Dimension_DIMENSION_ORIGIN:    {"", "a.origin"},
	searchv1.Dimension_DIMENSION_ROUTE:     {"", "a.route"},
	searchv1.Dimension_DIMENSION_MONTH:     {"", "a.month"},
}

// allDimensions is the order of the tables when a request names none.
var allDimensions = []searchv1.Dimension{
	searchv1.Dimension_DIMENSION_COMMODITY, searchv1.Dimension_DIMENSION_ORIGIN,
	searchv1.Dimension_DIMENSION_ROUTE, searchv1.Dimension_DIMENSION_MONTH,
}

// Statistics counts the groups (reports, and seizures once however often reported) of a
// selection by each requested dimension.
func (x *Index) Statistics(ctx context.Context, req *searchv1.StatisticsRequest) (*searchv1.StatisticsResponse, error) {
	sel, vs, err := checkSelection(req.GetSelection())
	if err != nil {
		return nil, err
	}
	by := req.GetBy()
	if len(by) == 0 {
		by = allDimensions
	}
	for i, d := range by {
		if _, ok := dimensions[d]; !ok {
			vs = append(vs, alert.FieldViolation{Field: fmt.Sprintf("by[%d]", i), Description: fmt.Sprintf("unknown dimension %d", d)})
		}
	}
	if len(vs) > 0 {
		return nil, &alert.ValidationError{Subject: "statistics request", Violations: vs}
	}
	where := strings.Join(sel.conds, " AND ")
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := &searchv1.StatisticsResponse{Index: x.stateProto()}
	if err := x.r.QueryRowContext(ctx, "SELECT count(DISTINCT a.grp) FROM alerts a WHERE "+where, sel.args...).Scan(&out.Total); err != nil {
		return nil, fmt.Errorf("statistics: %w", err)
	}
	for _, d := range by {
		t, err := x.table(ctx, d, where, sel.args)
		if err != nil {
			return nil, err
		}
		out.Tables = append(out.Tables, t)
	}
	return out, nil
}

func (x *Index) table(ctx context.Context, d searchv1.Dimension, where string, args []any) (*searchv1.Table, error) {
	dim := dimensions[d]
	rows, err := x.r.QueryContext(ctx, "SELECT "+dim.key+", count(DISTINCT a.grp) AS n FROM alerts a "+dim.join+
		" WHERE "+where+" GROUP BY 1 ORDER BY n DESC, 1", args...)
	if err != nil {
		return nil, fmt.Errorf("statistics: %w", err)
	}
	defer rows.Close()
	t := &searchv1.Table{By: d}
	for rows.Next() {
		var key any
		b := &searchv1.Bucket{}
		if err := rows.Scan(&key, &b.Count); err != nil {
			return nil, fmt.Errorf("statistics: %w", err)
		}
		switch k := key.(type) {
		case int64: // commodity group
			b.Key = alertv1.CommodityGroup(k).String()
		case string:
			b.Key = k
		case []byte:
			b.Key = string(k)
		}
		t.Buckets = append(t.Buckets, b)
	}
	return t, rows.Err()
}
