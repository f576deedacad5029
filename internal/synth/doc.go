// Package synth generates realistic synthetic cix alerts from a seed, for demos, tests
// and benchmarks. The same seed and origin always give the same stream of alerts, and
// every alert passes alert.Validate. The content (drug, tobacco, counterfeit, CITES,
// cash, weapons, cultural goods and revenue cases on real trade routes, with valid
// UN/LOCODEs, HS codes, ISO 6346 container numbers and IMO numbers) is invented: it
// describes no real case, person or company.
//
// ValidSeizure and ValidRisk return small hand-written valid alerts for tests.
package synth
