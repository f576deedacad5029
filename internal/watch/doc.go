// Package watch is a node's watchlist: entries analysts register (container numbers,
// IMO numbers, vessel and company names, identity document numbers, HS code prefix and
// route country pairs, free text) and the matching of every alert the node receives
// against all of them.
//
// Entries live in the node's own JetStream key-value bucket CIX_WATCH_<ADMIN>_<NODE>
// (key "entry.<id>", a cix.analyst.v1.WatchEntry in protobuf), together with the feed
// cursor up to which alerts were matched ("cursor") and the alerts known to be recalled
// ("recalled.<alert id>"). The Service follows the node's feed through Subscribe from
// that cursor, so an alert is matched once, right after the node verified and stored
// it, and a restart resumes where matching stopped. Hits are stored in the stream
// CIX_WATCHHITS_<ADMIN>_<NODE>, one message per (alert, entry) pair: matching an alert
// again after a crash stores nothing twice. WatchHits readers follow that stream from
// their cursor, then live.
//
// The Matcher indexes entries in hash maps by kind and normalised value (free text by
// phrase), so matching one alert costs a look-up per field value (per word and phrase
// length for free text; per HS prefix length and route country for HS and route
// pairs), independent of the stored alerts and of the number of entries.
package watch
