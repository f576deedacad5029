package index

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
)

// facet is a repeated field of alerts, kept in its own table (value, aid): one row per
// distinct value of each alert version.
type facet int

const (
	facetHS        facet = iota // HS codes of goods, risk HS codes and HS indicators
	facetCommodity              // commodity groups (enum numbers)
	facetCountry                // countries on the route
	facetContainer              // ISO 6346 container numbers
	facetIMO                    // IMO numbers of vessels
	facetCompany                // companies: lower-case name, EORI and registration number
	facetLocation               // UN/LOCODEs: place of seizure, ports of interest, route places
	numFacets
)

var facetTables = [numFacets]string{
	facetHS: "alert_hs", facetCommodity: "alert_commodities", facetCountry: "alert_countries",
	facetContainer: "alert_containers", facetIMO: "alert_vessels", facetCompany: "alert_companies",
	facetLocation: "alert_locations",
}

// probed are the facets with common values: filters test them alert by alert (by aid)
// while reading results in order, instead of collecting every matching alert first.
var probed = [numFacets]bool{facetHS: true, facetCommodity: true, facetCountry: true}

// schema is the database of SchemaVersion. Times are Unix nanoseconds (UTC). aid is the
// feed sequence of the alert version, so a row's rowid is its cursor.
const schema = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;

CREATE TABLE alerts (
	aid           INTEGER PRIMARY KEY, -- feed sequence
	id            TEXT NOT NULL UNIQUE,
	kind          INTEGER NOT NULL,
	origin        TEXT NOT NULL,
	version       INTEGER NOT NULL,
	supersedes    TEXT,                -- NULL when empty
	issued_at     INTEGER NOT NULL,
	seized_at     INTEGER,             -- seizures only
	received_at   INTEGER NOT NULL,
	tlp           INTEGER NOT NULL,    -- after reclassification
	mode          INTEGER NOT NULL,    -- transport mode
	risk_status   INTEGER NOT NULL,
	inv_status    INTEGER NOT NULL,    -- investigation status of a seizure
	route         TEXT NOT NULL,       -- e.g. CO>ES>NL, for statistics
	month         TEXT NOT NULL,       -- month of the seizure or of issue, e.g. 2026-03
	skey          BLOB,                -- seizure key, NULL for risk alerts
	signer_admin  TEXT NOT NULL,
	signer_node   TEXT NOT NULL,
	keyid         TEXT NOT NULL,
	not_after     INTEGER NOT NULL,
	chain         INTEGER NOT NULL,    -- smallest aid of the versions linked by supersedes
	grp           INTEGER NOT NULL,    -- smallest aid of the chains of one seizure (result);
	                                   -- a chain is in one group: look chains up by grp.
	                                   -- It is also the group's first received version: the
	                                   -- sort key "received"
	current       INTEGER NOT NULL,    -- 1 for the latest version of its chain
	withdrawn     INTEGER NOT NULL,    -- 1 when a version of the chain was recalled
	recalled_at   INTEGER,
	recall_reason TEXT,
	handling      BLOB,                -- reclassified cix.alert.v1.Handling, or NULL
	g_issued      INTEGER NOT NULL,    -- sort keys of the group: first issued,
	g_seized      INTEGER              -- first seized
);
CREATE INDEX alerts_grp ON alerts (grp, chain);
CREATE INDEX alerts_supersedes ON alerts (supersedes) WHERE supersedes IS NOT NULL;
CREATE INDEX alerts_skey ON alerts (skey) WHERE skey IS NOT NULL;
CREATE INDEX alerts_by_received ON alerts (grp) WHERE current = 1;
CREATE INDEX alerts_by_issued ON alerts (g_issued, grp) WHERE current = 1;
CREATE INDEX alerts_by_seized ON alerts (g_seized, grp) WHERE current = 1 AND g_seized IS NOT NULL;

-- Recall and reclassification notices by alert id, kept so that a notice that arrives
-- before its alert applies when the alert does.
CREATE TABLE notices (
	id            TEXT PRIMARY KEY,
	recalled_at   INTEGER,
	recall_reason TEXT,
	handling      BLOB
) WITHOUT ROWID;

-- Ids that an indexed alert supersedes and that are not indexed yet: a new alert is
-- linked to the versions superseding it only when its id is here (usually empty),
-- instead of looking every new id up among the superseded ones.
CREATE TABLE waiting (id TEXT PRIMARY KEY) WITHOUT ROWID;

CREATE VIRTUAL TABLE alert_text USING fts5 (
	title, description, concealment, modus_operandi,
	content = '', columnsize = 0, tokenize = 'unicode61 remove_diacritics 2'
);
`

func createSchema(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	stmts := schema
	for k, t := range facetTables {
		key := "value, aid" // look up alerts by value
		if probed[k] {
			key = "aid, value" // look up values by alert; appending in feed order is cheap
		}
		stmts += "CREATE TABLE " + t + " (value NOT NULL, aid INTEGER NOT NULL, PRIMARY KEY (" + key + ")) WITHOUT ROWID;\n"
	}
	stmts += `INSERT INTO meta (key, value) VALUES ('schema_version', ` + strconv.Itoa(SchemaVersion) + `), ('cursor', 0), ('alerts', 0);`
	if _, err := tx.ExecContext(ctx, stmts); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	return tx.Commit()
}
