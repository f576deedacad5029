// Package bench measures cix against its physical floor, in one run: `go run
// ./cmd/cixbench`.
//
// It measures the floors first, then the scenarios, on loopback:
//
//   - raw_sign, raw_verify: ed25519 sign and verify of PAE(payloadType, payload) of the
//     same synthetic payloads cix signs, on runtime.NumCPU() goroutines;
//   - raw_js: JetStream asynchronous publish of the same envelope bytes, with msg ids and
//     per-id subjects, into a stream configured exactly like the one node A publishes
//     into (CIX_OUT_NL in federation mode, CIX_ALERTS in shared mode) on its own embedded
//     server, with the bus's pending window;
//   - ingest: a client sends generated alerts over PublishStream to node A; acknowledged
//     alerts (signed and stored) per second;
//   - e2e: alerts published at A, verified and delivered to a Subscribe client at node B,
//     per second; then latency (p50, p99, max) at a fixed offered rate;
//   - catchup: a new node B joins and verifies and stores the N alerts A stored;
//   - memory: resident memory of node A run as a separate process (a dev node with its
//     embedded NATS server, whose JetStream store is part of the node's memory) after it
//     stored N alerts and verified them into its own feed.
//
// Each run starts a fresh hub (an embedded nats-server with a loopback listener) and
// nodes A (NL) and B (BE) with daemon.Start joining it, exactly as cixd starts them:
// with --nodes process (the default) each node in its own process, as deployed, with
// --nodes inprocess in the bench's process beside the hub and the client. With
// --mode federation (the default) the hub runs the configuration generated from a
// manifest of NL and BE and each node its embedded leaf server of the hub (package
// localfed, as the demo); with --mode shared both nodes are clients of one server with
// the stream CIX_ALERTS. The memory scenario's node process follows the mode: in
// federation mode it joins a hub run by the bench process.
// Every figure is the median of --runs runs. The report prints the machine (cores,
// memory), the command, each figure with its per-run values, and the ratios to the
// floors with their targets.
//
// Alerts come from package synth. A fresh generator is taken every 100,000 alerts so
// that issued_at stays in the past (the receiver refuses alerts from the future), and
// the client sends them pre-encoded so that its own encoding cost is kept out of the
// node's figures; the client, both nodes and the hub still share the machine's cores.
//
// A node process is the running binary re-executed with the hidden first argument -node
// and a configuration file the bench wrote (config.Marshal); a test binary does the same
// when ChildEnv is set (see TestMain in the tests). It answers the bench's commands on
// stdin: memory statistics, heap profile, index position, CPU profile and execution
// trace.
//
// Benchmarks only: no test asserts a duration. TestBenchSmoke runs the whole bench with
// a tiny N so that it cannot rot.
package bench
