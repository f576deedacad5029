// Package natsembed runs a nats-server inside the process, with JetStream on and its data
// under a directory. It is what a zero-configuration dev node, the demo and the tests use;
// production nodes connect to external servers instead.
package natsembed

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options of an embedded server.
type Options struct {
	// Name of the server, unique in a cluster.
	Name string
	// StoreDir holds the JetStream data.
	StoreDir string
	// Listen is the host:port of the client listener; port 0 picks a free one. Empty
	// means no listener: only in-process connections.
	Listen string
	// Domain is the JetStream domain, empty for none.
	Domain string
	// Configure, when set, adjusts the server options before start (leaf nodes,
	// accounts, ...).
	Configure func(*server.Options)
}

// Start starts a server and waits until it accepts connections.
func Start(o Options) (*server.Server, error) {
	opts := &server.Options{
		ServerName:      o.Name,
		JetStream:       true,
		StoreDir:        o.StoreDir,
		JetStreamDomain: o.Domain,
		NoSigs:          true,
		NoLog:           true,
		MaxPayload:      8 << 20,
	}
	if o.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: listen %q: %w", o.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: listen %q: bad port", o.Listen)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, p
	}
	if o.Configure != nil {
		o.Configure(opts)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("embedded nats: not ready within 10s (port in use?)")
	}
	return s, nil
}

// Stop shuts a server down and waits for it.
func Stop(s *server.Server) {
	s.Shutdown()
	s.WaitForShutdown()
}

// StartFile starts a server from a nats-server configuration file, parsed by
// nats-server's own parser, and waits until it accepts connections. Signal handling is
// off (the process's signals are its owner's); configure, when set, adjusts the parsed
// options before start.
func StartFile(path string, configure func(*server.Options)) (*server.Server, error) {
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	opts.NoSigs = true
	opts.NoLog = true
	if configure != nil {
		configure(opts)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %s: %w", path, err)
	}
	if !opts.NoLog {
		s.ConfigureLogger()
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded nats: %s: not ready within 10s (port in use?)", path)
	}
	return s, nil
}
