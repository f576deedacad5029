// Package feed is a node's local store of what it received: the verified alerts its
// clients may see, and the quarantine of what failed verification.
//
// Both are JetStream streams private to the node (named after it), on the node's own
// NATS connection:
//
//	CIX_FEED_<NODE>        cix.feed.<node>.alert                   every alert, its id the message id
//	                       cix.feed.<node>.notice.<notice id>      a notice
//	CIX_QUARANTINE_<NODE>  cix.quarantine.<node>.<reason>
//	KV CIX_STATE_<NODE>    superseded.<alert id>.<ORIGIN>          id of the amendment
//
// Notices (recalls and reclassifications of alerts) are stored in the feed beside the
// alerts, so they share its cursors and history; the node rebuilds its recall and
// classification state from them at start. The key-value bucket links an alert to the
// newest amendment of its origin that supersedes it.
//
// A feed message is the signed envelope exactly as received, with headers recording who
// the verifier found had signed it and the sequence it came from. The feed sequence is
// the subscribers' cursor: it only grows, so resuming after a cursor can neither skip nor
// repeat an alert, and positions that expired are reported as gaps. The feed's id table
// (ids.go: a hash of each id and its sequence, rebuilt from the feed's headers when the
// node opens it) makes storage idempotent: an alert received twice is stored and
// delivered once, and Get reads an alert by id. The alerts share one subject, so
// nats-server keeps no per-subject state for them (a feed written by an earlier version,
// with a subject per alert, is read the same way).
//
// Readers (Read) that follow the feed's end share one ordered consumer, the tail, which
// keeps the last entries it received; a reader reads older entries with a consumer of
// its own until it reaches them.
package feed
