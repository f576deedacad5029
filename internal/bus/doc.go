// Package bus is cix's transport between nodes: the federation's alert stream on NATS
// JetStream.
//
// Subjects encode origin, kind and id of every alert:
//
//	cix.alert.v1.<ORIGIN>.<kind>.<id>     e.g. cix.alert.v1.NL.seizure.0b7c…
//
// The stream CIX_ALERTS captures cix.alert.v1.> and keeps at most one message per subject,
// refusing a second one (DiscardNewPerSubject), so an alert id is stored once however often
// it is published, also outside the stream's duplicate window; within the window the
// alert id is also the Nats-Msg-Id, and the server reports the duplicate in its ack.
//
// Notices about alerts (recalls, reclassifications) share the stream under the kind
// "notice" (cix.alert.v1.<ORIGIN>.notice.<id>), so that they stay ordered with the
// alerts of their origin and reach every node through its ingest consumer.
//
// The stream CIX_ACKS holds receivers' signed acknowledgements of notices on
// cix.ack.v1.<ORIGIN>.<RECEIVER>.<notice id>, the newest one per subject.
//
// Headers carry nothing a receiver trusts: origin, kind and id are checked against the
// signed payload by the receiver.
package bus
