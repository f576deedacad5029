package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/exchange"
	analystv1 "github.com/cix-exchange/cix/internal/gen/cix/analyst/v1"
	"github.com/cix-exchange/cix/internal/trust"
)

var cmdExport = &command{
	name: "export", args: "--format stix|csv|envelopes [filters] [--out FILE]",
	summary: "export alerts as STIX 2.1, CSV or signed envelopes",
	help: `
Export the verified alerts of the node's feed that match the filters (those of
"cix feed"), oldest first, to stdout or --out FILE:
  stix       a STIX 2.1 bundle for MISP and OpenCTI: a report per alert, indicators for
             its containers, vessels, HS codes and risk indicators, the TLP 2.0 marking
             definitions and the handling code; persons are left out
  csv        one row per alert, the columns "cix import --format csv" reads
  envelopes  JSON lines, one signed DSSE envelope per alert with its certificate chain:
             "cix verify FILE --anchors ..." checks them offline
The number of alerts exported is printed on stderr.`,
	raw: true,
	flags: func(fs *flag.FlagSet) runFunc {
		format := fs.String("format", "", "stix, csv or envelopes; required")
		out := fs.String("out", "", "write to `FILE` instead of stdout")
		for _, f := range filterFlags {
			fs.String(f.name, "", f.help)
		}
		return func(ctx context.Context, e *env, args []string) error {
			filter, rest, err := ParseFilter(args)
			if err != nil {
				return usagef("export", "%v", err)
			}
			pos, err := e.parse(fs, rest)
			if err != nil {
				return err
			}
			if len(pos) > 0 {
				return usagef("export", "unexpected argument %q", pos[0])
			}
			f, ok := analystv1.ExportFormat_value["EXPORT_FORMAT_"+strings.ToUpper(*format)]
			if !ok || f == 0 {
				return usagef("export", "--format %q: want stix, csv or envelopes", *format)
			}
			return export(ctx, e, &analystv1.ExportRequest{Format: analystv1.ExportFormat(f), Filter: filter}, *out)
		}
	},
}

func (e *env) exchangeClient() (analystv1.ExchangeServiceClient, error) {
	conn, err := e.connect()
	if err != nil {
		return nil, err
	}
	return analystv1.NewExchangeServiceClient(conn), nil
}

func export(ctx context.Context, e *env, req *analystv1.ExportRequest, out string) error {
	client, err := e.exchangeClient()
	if err != nil {
		return err
	}
	w := e.stdout
	var f *os.File
	if out != "" {
		// Written next to the target and renamed at the end: a failed export leaves no
		// partial file behind.
		if f, err = os.CreateTemp(filepath.Dir(out), ".cix-export-*"); err != nil {
			return err
		}
		defer func() { _ = f.Close(); _ = os.Remove(f.Name()) }()
		w = f
	}
	stream, err := client.Export(ctx, req)
	if err != nil {
		return callErr("export", err)
	}
	var alerts uint64
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return callErr("export", err)
		}
		if _, err := w.Write(chunk.GetData()); err != nil {
			return err
		}
		alerts = chunk.GetAlerts()
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.Rename(f.Name(), out); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stderr, "exported %d alerts\n", alerts)
	return nil
}

var cmdImport = &command{
	name: "import", args: "[--format csv|jsonl] [--keep-good] FILE",
	summary: "import alerts from CSV or JSON lines, with per-row errors",
	help: `
Import the alerts of FILE ("-" for stdin) through the node, which checks every row as
it checks a published alert and signs and publishes them in file order. The format
comes from --format or the file's extension (.csv; .jsonl, .ndjson or .json for one
alert in the protobuf JSON mapping per line). CSV has a header row with the columns of
"cix export --format csv"; repeated groups are aligned lists separated by ";".

By default nothing is published when any row is invalid; with --keep-good the valid
rows are published and the invalid ones reported. Every error is printed on stderr as
"row N: FIELD: REASON" (a CSV file's header is row 1). Rows with an id the node
already holds are reported as duplicates, so an import can be run again. Exit code 1
when any row was refused.`,
	flags: func(fs *flag.FlagSet) runFunc {
		format := fs.String("format", "", "csv or jsonl (default: from the file's extension)")
		keepGood := fs.Bool("keep-good", false, "publish the valid rows even when others are invalid")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usagef("import", "import wants one FILE (- for stdin)")
			}
			f := strings.ToLower(*format)
			if f == "" {
				switch strings.ToLower(filepath.Ext(args[0])) {
				case ".csv":
					f = "csv"
				case ".jsonl", ".ndjson", ".json":
					f = "jsonl"
				default:
					return usagef("import", "say --format csv or --format jsonl")
				}
			}
			v, ok := analystv1.ImportFormat_value["IMPORT_FORMAT_"+strings.ToUpper(f)]
			if !ok || v == 0 {
				return usagef("import", "--format %q: want csv or jsonl", *format)
			}
			mode := analystv1.ImportMode_IMPORT_MODE_ALL_OR_NOTHING
			if *keepGood {
				mode = analystv1.ImportMode_IMPORT_MODE_KEEP_GOOD
			}
			return importFile(ctx, e, args[0], analystv1.ImportFormat(v), mode)
		}
	},
}

// importChunk is the size of the chunks an import sends.
const importChunk = 256 << 10

func importFile(ctx context.Context, e *env, path string, format analystv1.ImportFormat, mode analystv1.ImportMode) error {
	in, name, closeIn, err := e.openInput(path)
	if err != nil {
		return err
	}
	defer closeIn()
	client, err := e.exchangeClient()
	if err != nil {
		return err
	}
	stream, err := client.Import(ctx)
	if err != nil {
		return callErr("import", err)
	}
	buf := make([]byte, importChunk)
	first := true
	for {
		n, rerr := io.ReadFull(in, buf)
		if n > 0 || first {
			req := &analystv1.ImportRequest{Data: buf[:n]}
			if first {
				req.Format, req.Mode, first = format, mode, false
			}
			if err := stream.Send(req); err != nil {
				break // the status comes with CloseAndRecv
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return fmt.Errorf("read %s: %w", name, rerr)
		}
	}
	res, err := stream.CloseAndRecv()
	if err != nil {
		return callErr("import", err)
	}
	for _, re := range res.GetErrors() {
		field := re.GetField()
		if field == "" {
			field = "-"
		}
		fmt.Fprintf(e.stderr, "row %d: %s: %s\n", re.GetRow(), field, re.GetReason())
	}
	dups := 0
	for _, a := range res.GetAccepted() {
		if a.GetDuplicate() {
			dups++
		}
	}
	refused := rowsWithErrors(res)
	fmt.Fprintf(e.stdout, "%s: %d rows, %d published (%d already stored), %d refused\n",
		name, res.GetRows(), len(res.GetAccepted())-dups, dups, refused)
	if refused > 0 {
		if len(res.GetAccepted()) == 0 && mode != analystv1.ImportMode_IMPORT_MODE_KEEP_GOOD {
			fmt.Fprintln(e.stderr, "nothing was published; fix the rows, or publish the valid ones with --keep-good")
		}
		return errReported
	}
	return nil
}

func rowsWithErrors(res *analystv1.ImportResponse) int {
	rows := map[uint64]bool{}
	for _, re := range res.GetErrors() {
		if re.GetRow() > 0 { // 0: the count of errors left out
			rows[re.GetRow()] = true
		}
	}
	return len(rows)
}

var cmdVerify = &command{
	name: "verify", args: "FILE --anchors PEM[,PEM...] [--at TIME]",
	summary: "verify exported signed envelopes offline, without a node",
	help: `
Verify every line of FILE ("-" for stdin), an export of "cix export --format
envelopes", with the trust anchors given, and no node: the signature over the DSSE
PAE of the payload, the signing certificate's chain to the anchor of the
administration it names, the alert's origin against that administration and node, and
the alert's content. The certificate must have been valid at the alert's issued_at, or
at --at (RFC 3339) when given. Revocation notices are not consulted offline.

Each line is reported as OK with the alert id and signer, or FAILED with the reason
(bad_signature, unknown_key, origin_mismatch, ...). Exit code 1 when any line fails.`,
	flags: func(fs *flag.FlagSet) runFunc {
		anchors := fs.String("anchors", "", "trust anchors (PEM files), comma-separated; required")
		at := fs.String("at", "", "check certificates at this RFC 3339 `time` instead of issued_at")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usagef("verify", "verify wants one FILE (- for stdin)")
			}
			if *anchors == "" {
				return usagef("verify", "--anchors is required: the PEM trust anchors of the administrations to trust")
			}
			var t time.Time
			if *at != "" {
				var err error
				if t, err = time.Parse(time.RFC3339, *at); err != nil {
					return usagef("verify", "--at %q is not an RFC 3339 time", *at)
				}
			}
			return verify(e, args[0], strings.Split(*anchors, ","), t)
		}
	},
}

func verify(e *env, path string, anchorFiles []string, at time.Time) error {
	anchors, err := trust.LoadAnchors(anchorFiles...)
	if err != nil {
		return err
	}
	v, err := trust.NewVerifier(nil, anchors...)
	if err != nil {
		return err
	}
	in, name, closeIn, err := e.openInput(path)
	if err != nil {
		return err
	}
	defer closeIn()
	failed := 0
	res := exchange.VerifyEnvelopes(in, v, at)
	for _, r := range res {
		if r.Err != nil {
			failed++
			fmt.Fprintf(e.stdout, "line %d: FAILED %s\n", r.Line, r.Err)
			continue
		}
		a := r.Alert
		fmt.Fprintf(e.stdout, "line %d: OK %s %s issued %s, signed by %s (key %s)\n", r.Line, a.GetId(),
			alert.KindName(alert.Kind(a)), a.GetIssuedAt().AsTime().UTC().Format(time.RFC3339), r.Signer.Name(), clip(r.Signer.KeyID, 12, false))
	}
	fmt.Fprintf(e.stdout, "%s: %d envelopes, %d verified, %d failed\n", name, len(res), len(res)-failed, failed)
	if failed > 0 || len(res) == 0 {
		return errReported
	}
	return nil
}
