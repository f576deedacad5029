package exchange

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	analystv1 "github.com/cix-exchange/cix/internal/gen/cix/analyst/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/node"
)

// Feed is the node's feed of verified alerts, as an export reads it.
type Feed interface {
	Subscribe(ctx context.Context, req *nodev1.SubscribeRequest, send func(*nodev1.SubscribeResponse) error) error
}

var errDone = errors.New("export done")

// Export writes the verified alerts of feed that match filter, oldest first, to w in
// format, and returns how many it wrote. It stops at the newest alert the feed held
// when it started. progress, when set, is called after each alert.
func Export(ctx context.Context, feed Feed, format analystv1.ExportFormat, filter *nodev1.Filter, w io.Writer, progress func(n uint64)) (uint64, error) {
	var write func(*nodev1.VerifiedAlert) error
	var end func() error
	switch format {
	case analystv1.ExportFormat_EXPORT_FORMAT_STIX:
		sw := NewSTIXWriter(w)
		write = func(va *nodev1.VerifiedAlert) error { return sw.Write(va.GetAlert()) }
		end = sw.Close
	case analystv1.ExportFormat_EXPORT_FORMAT_CSV:
		cw := csv.NewWriter(w)
		if err := WriteCSVHeader(cw); err != nil {
			return 0, err
		}
		write = func(va *nodev1.VerifiedAlert) error { return WriteCSV(cw, va.GetAlert()) }
		end = func() error { cw.Flush(); return cw.Error() }
	case analystv1.ExportFormat_EXPORT_FORMAT_ENVELOPES:
		write = func(va *nodev1.VerifiedAlert) error { return WriteEnvelope(w, va.GetEnvelope()) }
		end = func() error { return nil }
	default:
		return 0, &alert.ValidationError{Subject: "request", Violations: []alert.FieldViolation{{Field: "format", Description: fmt.Sprintf("unknown export format %d", format)}}}
	}
	var n uint64
	err := feed.Subscribe(ctx, &nodev1.SubscribeRequest{Filter: filter, Start: nodev1.StartPosition_START_POSITION_EARLIEST},
		func(ev *nodev1.SubscribeResponse) error {
			switch e := ev.GetEvent().(type) {
			case *nodev1.SubscribeResponse_Alert:
				if err := write(e.Alert); err != nil {
					return err
				}
				n++
				if progress != nil {
					progress(n)
				}
			case *nodev1.SubscribeResponse_CaughtUp:
				return errDone
			}
			return nil
		})
	if !errors.Is(err, errDone) {
		if err == nil {
			err = ctx.Err()
		}
		return n, err
	}
	return n, end()
}

// MaxRowErrors bounds the errors an import reports; a last error without a row says
// how many more there were.
const MaxRowErrors = 10_000

// Publisher publishes alerts as NodeService.PublishStream does.
type Publisher interface {
	Prepare(ctx context.Context, a *alertv1.Alert) (*node.Sealed, error)
	PublishSealed(s *node.Sealed) *node.Pending
	Wait(ctx context.Context, p *node.Pending) (node.PublishResult, error)
}

// Import checks every row as Publish would (Prepare: normalise, complete, validate,
// sign) and publishes the good ones in row order. With keepGood false, nothing is
// published when any row has an error. A failure of the node (no signing key, stream
// unreachable) ends the import with an error; the response holds what was published
// before it.
func Import(ctx context.Context, p Publisher, rows []Row, keepGood bool) (*analystv1.ImportResponse, error) {
	res := &analystv1.ImportResponse{}
	sealed := make([]*node.Sealed, len(rows))
	errs := make([][]RowError, len(rows))
	ids := map[string]int{}
	for i, r := range rows {
		errs[i] = r.Errors
		if !r.Header {
			res.Rows++
		}
		if r.Alert == nil {
			continue
		}
		if id := r.Alert.GetId(); id != "" {
			if first, dup := ids[id]; dup {
				errs[i] = append(errs[i], RowError{Row: r.N, Field: "alert.id", Reason: fmt.Sprintf("id of row %d too", first)})
				rows[i].Alert = nil
				continue
			}
			ids[id] = r.N
		}
	}
	var fatal error
	var once sync.Once
	prepare(len(rows), func(i int) {
		r := rows[i]
		if r.Alert == nil {
			return
		}
		s, err := p.Prepare(ctx, r.Alert)
		var ve *alert.ValidationError
		switch {
		case err == nil:
			sealed[i] = s
		case errors.As(err, &ve):
			for _, v := range ve.Violations {
				errs[i] = append(errs[i], RowError{Row: r.N, Field: v.Field, Reason: v.Description})
			}
		case errors.Is(err, node.ErrPermission):
			errs[i] = append(errs[i], RowError{Row: r.N, Field: "alert.origin.administration", Reason: err.Error()})
		default:
			once.Do(func() { fatal = err })
		}
	})
	if fatal != nil {
		return res, fatal
	}
	bad, more := false, 0
	for _, es := range errs {
		bad = bad || len(es) > 0
		for _, e := range es {
			if len(res.Errors) == MaxRowErrors {
				more++
				continue
			}
			res.Errors = append(res.Errors, &analystv1.RowError{Row: uint64(e.Row), Field: e.Field, Reason: e.Reason})
		}
	}
	if more > 0 {
		res.Errors = append(res.Errors, &analystv1.RowError{Reason: fmt.Sprintf("and %d more errors", more)})
	}
	if bad && !keepGood {
		return res, nil
	}
	pending := make([]*node.Pending, len(rows))
	for i, s := range sealed {
		if s != nil {
			pending[i] = p.PublishSealed(s)
		}
	}
	for i, pe := range pending {
		if pe == nil {
			continue
		}
		r, err := p.Wait(ctx, pe)
		if err != nil {
			return res, err
		}
		res.Accepted = append(res.Accepted, &analystv1.ImportedAlert{Row: uint64(rows[i].N), Id: r.ID, Duplicate: r.Duplicate})
	}
	return res, nil
}

// prepare calls fn for 0..n-1 on all cores.
func prepare(n int, fn func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
