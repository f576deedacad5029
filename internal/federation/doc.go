// Package federation is the topology of a cix federation on NATS: the federation
// manifest, the subjects and streams of each sharing scope, and the nats-server
// configurations of the hub and of each administration's leaf server, all derived from
// the manifest.
//
// The manifest (Parse, Load) lists the members (ISO 3166 code, name, nodes, JetStream
// domain, the public nkeys of their leaf servers), the groups (regions, operation closed
// user groups) and, for production, the hub's listeners, TLS and cluster.
//
// Each administration runs a leaf server with JetStream in its own domain. Everything it
// publishes goes to one outbound stream in that domain, one subject per scope:
//
//	CIX_OUT_<ADMIN>   cix.out.<ADMIN>.all.<kind>.<id>           all members
//	                  cix.out.<ADMIN>.g.<group>.<kind>.<id>     a group it belongs to
//	                  cix.out.<ADMIN>.to.<PEER>.<kind>.<id>     one administration
//
// Alerts (kinds seizure and risk) have AlertToken ("_") in place of the id: the alerts
// of a scope and kind share a subject, told apart by their message id (OutboundMsgID).
//
// Each administration's inbound stream CIX_IN_<ADMIN>, in its own domain, sources its
// own outbound stream and, from every other member, exactly the scopes it is entitled
// to (Manifest.Entitlements), one source per origin and scope, filtered to the scope.
// OutboundStreamConfig and InboundStreamConfig are the streams a node creates.
//
// HubConfig writes the hub's configuration: one account per administration and a system
// account for the federation's operators; per scope, the origin's account exports the
// creation of consumers filtered to that scope (ConsumerCreateSubject) to the scope's
// audience only, so the broker itself refuses a consumer on anything else; plus the
// flow-control subjects and the per-importer deliver prefixes that sourcing across
// accounts needs, and permissions that let a leaf publish only under its own origin.
// LeafConfig writes an administration's leaf configuration. docs/transport.md explains
// the layout, the evidence for it and what the hub does and does not enforce.
package federation
