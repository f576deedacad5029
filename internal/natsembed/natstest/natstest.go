// Package natstest gives tests a JetStream context on a fresh in-process nats-server,
// stopped when the test ends.
package natstest

import (
	"testing"

	"github.com/cix-exchange/cix/internal/natsembed"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream starts a server without a listener, connects to it in-process and returns
// the connection and its JetStream context.
func JetStream(tb testing.TB) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	s, err := natsembed.Start(natsembed.Options{Name: "test", StoreDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { natsembed.Stop(s) })
	nc, err := nats.Connect("", nats.InProcessServer(s))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return nc, js
}
