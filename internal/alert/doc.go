// Package alert holds the node-side rules for cix alerts (alertv1.Alert): Normalize
// tidies an alert submitted by a national system, Validate checks it before the node
// signs it, and the accessors (Kind, HSCodes, CommodityGroups, RouteCountries,
// ContainerNumbers) give subscription filters and subject builders the values they
// match on.
//
// The validators of open identifiers (ValidCountry, ValidUNLOCODE, ValidHSCode,
// ValidContainerNumber, ValidIMO, ValidUUID, ...) are exported for reuse, for example
// to check filter parameters.
package alert
