// Package index is a node's local store for search: every verified alert of the node's
// feed, indexed in an embedded SQLite database (modernc.org/sqlite, pure Go, with FTS5)
// at <data_dir>/index/index.db.
//
// The feed stays the source of truth. An Indexer follows it through the node's own read
// API (Subscribe with cursors) and writes alerts in batches, each batch in one
// transaction together with the feed cursor it reached, so a restart resumes exactly
// where the last commit ended: nothing is indexed twice, nothing skipped. A Gap in the
// feed is logged and passed over. Dropping the database and reading the feed again
// rebuilds it (Open does so when the schema version changed).
//
// The schema keeps one row per alert version (alerts) with the fields filters use, one
// normalised table per repeated field (HS codes, commodity groups, route countries,
// containers, IMO numbers, companies, places), an FTS5 table over titles, goods
// descriptions, concealment and modus operandi. Every table grows linearly with the
// alerts: nothing correlates alerts pairwise. The index keeps no envelopes: a row's
// rowid is the alert's feed position, and a result's alert and envelope are read from
// the feed there (Source, set by NewIndexer).
//
// Results are groups: the versions of an alert (linked by supersedes, in whatever order
// they arrive) form a chain, and chains of seizures with the same seizure key (SeizureKey:
// the same seizure sent by two administrations, or twice under two ids) form one group.
// Search returns one row per group showing the latest version, with every report and
// every version; Statistics counts groups.
package index
