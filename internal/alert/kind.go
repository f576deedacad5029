package alert

import (
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
)

// Kind returns the kind of alert a is: seizure, risk, or unspecified when it has no body
// or is nil.
func Kind(a *alertv1.Alert) alertv1.AlertKind {
	switch a.GetBody().(type) {
	case *alertv1.Alert_Seizure:
		return alertv1.AlertKind_ALERT_KIND_SEIZURE
	case *alertv1.Alert_Risk:
		return alertv1.AlertKind_ALERT_KIND_RISK
	}
	return alertv1.AlertKind_ALERT_KIND_UNSPECIFIED
}

// KindName returns the short lower-case name of k used in subjects and filters:
// "seizure" or "risk". It returns "" for ALERT_KIND_UNSPECIFIED and unknown values, so
// that a subject built from it is invalid rather than silently wrong.
func KindName(k alertv1.AlertKind) string {
	switch k {
	case alertv1.AlertKind_ALERT_KIND_SEIZURE:
		return "seizure"
	case alertv1.AlertKind_ALERT_KIND_RISK:
		return "risk"
	}
	return ""
}

// ParseKind is the inverse of KindName. It reports false for any other string
// (matching is exact: "Seizure" is not accepted).
func ParseKind(s string) (alertv1.AlertKind, bool) {
	switch s {
	case "seizure":
		return alertv1.AlertKind_ALERT_KIND_SEIZURE, true
	case "risk":
		return alertv1.AlertKind_ALERT_KIND_RISK, true
	}
	return alertv1.AlertKind_ALERT_KIND_UNSPECIFIED, false
}

// KindNames lists the name of every alert kind, as KindName gives them.
func KindNames() []string { return []string{"seizure", "risk"} }
