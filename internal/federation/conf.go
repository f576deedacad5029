package federation

import (
	"fmt"
	"strconv"
	"strings"
)

// confWriter writes nats-server configuration text: blocks, quoted strings and lists,
// indented two spaces per level. Every value that comes from a manifest or an option is
// quoted, so it cannot be read as a variable reference or break the syntax; the only
// unquoted values are numbers, booleans and the explicit variable references of var.
type confWriter struct {
	b     strings.Builder
	depth int
}

func (w *confWriter) line(format string, args ...any) {
	w.b.WriteString(strings.Repeat("  ", w.depth))
	fmt.Fprintf(&w.b, format, args...)
	w.b.WriteByte('\n')
}

func (w *confWriter) comment(text string) {
	for _, l := range strings.Split(text, "\n") {
		if l == "" {
			w.line("#")
			continue
		}
		w.line("# %s", l)
	}
}

func (w *confWriter) blank() { w.b.WriteByte('\n') }

// str writes key: "value".
func (w *confWriter) str(key, value string) { w.line("%s: %s", key, quote(value)) }

// raw writes key: value with value as given (numbers, booleans, sizes).
func (w *confWriter) raw(key, value string) { w.line("%s: %s", key, value) }

// strOrVar writes a value starting with "$" as a variable reference (resolved by
// nats-server from the file or the environment), anything else quoted.
func (w *confWriter) strOrVar(key, value string) {
	if strings.HasPrefix(value, "$") {
		w.raw(key, value)
		return
	}
	w.str(key, value)
}

func (w *confWriter) list(key string, values []string) {
	w.line("%s: %s", key, quoteList(values))
}

func (w *confWriter) open(key string) {
	w.line("%s {", key)
	w.depth++
}

func (w *confWriter) close() {
	w.depth--
	w.line("}")
}

func (w *confWriter) String() string { return w.b.String() }

// quote returns s as a double-quoted string of the nats-server configuration syntax.
func quote(s string) string { return strconv.Quote(s) }

func quoteList(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// tlsBlock writes a tls block; verify asks the peer for a certificate chaining to CAFile.
func (w *confWriter) tlsBlock(t *TLS, verify bool) {
	w.open("tls")
	w.str("cert_file", t.CertFile)
	w.str("key_file", t.KeyFile)
	w.str("ca_file", t.CAFile)
	if verify {
		w.raw("verify", "true")
	}
	w.raw("timeout", "5")
	w.close()
}
