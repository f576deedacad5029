package cli

import (
	"flag"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestHelpAndUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		r := cix(t, "", args...).must(t, 0)
		for _, c := range commands {
			if !strings.Contains(r.stdout, "\n  "+c.name+" ") {
				t.Errorf("%v: usage does not list %s:\n%s", args, c.name, r.stdout)
			}
		}
	}
	for _, c := range commands {
		r := cix(t, "", "help", c.name).must(t, 0)
		if !strings.HasPrefix(r.stdout, "Usage: cix "+c.name+" ") {
			t.Errorf("help %s:\n%s", c.name, r.stdout)
		}
		if again := cix(t, "", c.name, "-h").must(t, 0); again.stdout != r.stdout {
			t.Errorf("cix %s -h differs from cix help %s", c.name, c.name)
		}
	}
	for _, args := range [][]string{
		{}, {"nope"}, {"help", "nope"}, {"--nope", "info"}, {"--timeout", "0", "info"}, {"info", "--nope"},
		{"info", "extra"}, {"gen", "--count", "-1"}, {"gen", "--origin", "XX"}, {"get", "--envelope-dir"},
	} {
		r := cix(t, "", args...).must(t, 2)
		if len(args) > 0 && !strings.HasPrefix(r.stderr, "cix: ") {
			t.Errorf("%q: stderr %q", args, r.stderr)
		}
	}
}

func TestUnreachableNode(t *testing.T) {
	r := cix(t, "", "--addr", "127.0.0.1:1", "info").must(t, 1)
	if !strings.HasPrefix(r.stderr, "cix: info: UNAVAILABLE: ") || !strings.Contains(r.stderr, "is a node running at 127.0.0.1:1?") {
		t.Fatalf("stderr %q", r.stderr)
	}
	t.Setenv("CIX_ADDR", "127.0.0.1:1")
	r = cix(t, "", "quarantine", "list").must(t, 1)
	if !strings.Contains(r.stderr, "127.0.0.1:1") {
		t.Fatalf("CIX_ADDR not used: %q", r.stderr)
	}
	r = cix(t, "", "publish", "/nonexistent/alerts.json").must(t, 1)
	if !strings.Contains(r.stderr, "no such file") {
		t.Fatalf("stderr %q", r.stderr)
	}
}

func TestFlagsAnywhere(t *testing.T) {
	e := &env{cmd: cmdGet}
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	jsonOut := fs.Bool("json", false, "")
	dir := fs.String("envelope-dir", "", "")
	pos, err := e.parse(fs, []string{"ID", "--json", "--envelope-dir", "d", "--", "--x"})
	if err != nil || !*jsonOut || *dir != "d" || fmt.Sprint(pos) != "[ID --x]" {
		t.Fatalf("pos %q json %v dir %q err %v", pos, *jsonOut, *dir, err)
	}
}

func TestPrintError(t *testing.T) {
	st, err := status.New(codes.InvalidArgument, "invalid alert: alert.handling: required; alert.grading: required").WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "alert.handling", Description: "required"}, {Field: "alert.grading", Description: "required"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	printError(&b, callErr("publish", st.Err()))
	want := "cix: publish: INVALID_ARGUMENT: invalid alert\n  alert.handling: required\n  alert.grading: required\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	printError(&b, callErr("get", status.Error(codes.NotFound, "not found: alert x")))
	if b.String() != "cix: get: NOT_FOUND: not found: alert x\n" {
		t.Fatalf("got %q", b.String())
	}
}
