// Package exchange moves alerts between cix and files: exports of a node's verified
// alerts as a STIX 2.1 bundle (for MISP and OpenCTI), as CSV, or as signed envelopes in
// JSON lines (verified offline by VerifyEnvelopes, `cix verify`), and imports of CSV and
// JSON lines from national systems, checked row by row as Publish checks an alert, with
// errors naming the row and the field.
//
// # CSV columns
//
// One row per alert, after a header row naming the columns (in any order on import;
// columns left out are empty). A column is the path of an alert field in proto field
// names, the paths alert.Validate reports without the leading "alert." (Columns lists
// them all):
//
//   - scalars as written: "seizure.location" NLRTM, "version" 1;
//   - enums by their value name without the type prefix, in any case: "handling.tlp"
//     amber_strict (also amber+strict), "seizure.direction" import,
//     "grading.information_accuracy" 2;
//   - times in RFC 3339: "issued_at" 2026-01-15T10:00:00Z;
//   - lists separated by ";": "seizure.route.transit_countries" PA;MX;
//   - repeated groups as aligned lists, one item per position:
//     "seizure.goods[].description" and "seizure.goods[].hs_code" with "cocaine;cannabis"
//     and "293972;121190" are two goods. An empty position leaves that item's field
//     unset. A ";" or "\" inside a value is written "\;" or "\\".
//
// "kind" (seizure or risk) says which body the row is; the columns of the other body
// must be empty. Risk indicators by route or value threshold have no columns: JSON lines
// carry every field.
package exchange
