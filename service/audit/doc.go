// Package audit writes the login side of the audit trail without slowing
// requests down, and emits every audit event as a JSON log line.
//
// Administrative changes are audited by the store in the transaction that
// makes them (store.WithAudit); this package's Writer is a core.Observer
// that turns login, lockout, token exchange and revocation events into
// audit events, queues them in a bounded buffer and inserts them in batches
// from one goroutine. A full queue or a failed write drops events and counts
// them in gatehouse_audit_events_dropped_total; a request never waits.
package audit
