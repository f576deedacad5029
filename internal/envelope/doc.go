// Package envelope seals and opens cix's signed envelopes, which follow the DSSE model
// (Dead Simple Signing Envelope v1.0.2).
//
// Seal signs the pre-authentication encoding PAE(payloadType, payload) with one or more
// keys and wraps payload, type and signatures in an envelopev1.Envelope. Open does the
// reverse in the order that matters for security: it decodes only the envelope, checks the
// payload type, verifies a signature over the exact payload bytes received, and only then
// hands those same bytes back to the caller to decode. Nothing is ever re-serialised for
// verification.
//
// Every failure of Open is an *Error carrying a Reason, so a receiver can quarantine the
// message with the reason instead of dropping it.
package envelope
