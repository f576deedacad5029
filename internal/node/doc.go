// Package node is the core of a cix node: it publishes its administration's alerts and
// verifies everything it receives before any client sees it.
//
// Publishing: a client's alert is normalised and validated (package alert), stamped with
// the node's certified origin, serialised once, signed into a DSSE envelope (package
// envelope) with the node's current key (package trust), and written to the federation's
// alert stream (package bus). Publish returns when the stream has acknowledged the write.
//
// Receiving: Run consumes the alert stream with a durable consumer, verifies batches in
// parallel (signature, certificate chain to the origin's trust anchor, origin, payload
// type, subject, content) and appends what passed to the node's feed and what failed to
// its quarantine with the reason (package feed). Only then is the batch acknowledged, so
// a crash re-delivers and the feed's one-message-per-id rule keeps storage exactly once.
//
// Reading: Get and Subscribe serve only the feed, so a client can never see an alert that
// was not verified by this node.
//
// Notices: an alert's originator recalls or reclassifies it with a signed notice
// (Recall, Reclassify) published with its alerts. Receivers verify it like an alert,
// apply it only for an alert of the notice's origin, store it in the feed (the state is
// rebuilt from there at start by LoadNotices), stop delivering recalled alerts, filter
// on the classification in force, and acknowledge each notice with a signed message on
// CIX_ACKS that the origin lists (ListAcknowledgements).
package node
