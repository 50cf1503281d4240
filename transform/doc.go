// Package transform turns one Signal event record (the canonical
// Segment-style event JSON, see docs/event-format.md) into a Close lead, a
// drop reason or an invalid-event error. It is pure: no I/O, no Kafka, no
// clock, no global state. A Transformer is immutable and safe for concurrent
// use; Transform never blocks and never panics, whatever the input.
//
// # Order of checks
//
//  0. Fast path (unless Config.StrictJSON): a record that, trimmed of JSON
//     whitespace, starts with '{' and ends with '}' and whose bytes cannot
//     spell a mapped event name (nor "identify" with Config.Identify) is
//     dropped no_mapped_name (Result.Event "unparsed") without being parsed,
//     in a byte search instead of a full validation. Exact about leads; see
//     fastpath.go for why no escape, duplicate key or case can hide a name.
//     Dropping a malformed record here instead of dead-lettering it as
//     invalid_event is safe: a record none of whose bytes spell a mapped name
//     cannot create or update anything at Close whatever its content, so
//     dead-lettering it would only let an operator replay it into another
//     drop; nothing that could become a lead is lost, and records that could
//     be leads keep every check below. Empty, non-JSON, array and scalar
//     records still go to step 1 (invalid_event).
//  1. The record must be a JSON object; the envelope members "type" and
//     "event" must be strings and "traits", "properties" and "context"
//     objects when present. Otherwise: KindInvalid (class invalid_event).
//  2. Only "track" events whose name is in Config.Events (exact,
//     case-sensitive) go on; anything else is dropped not_mapped. Steps 1
//     and 2 are one allocation-free pass over the record, so non-lead events
//     step 0 could not rule out cost a scan, never a decode.
//  3. context.traits must be an object when present (invalid_event).
//     Traits are context.traits overridden key by key by top-level traits.
//  4. Email: missing, null, "" or only whitespace: dropped no_email. Not a
//     string, or not a valid address after trimming and lowercasing:
//     invalid_event, so a producer bug shows up in the dead-letter topic
//     instead of silently losing leads.
//  5. Consent: Config.ConsentCategory must be the JSON value true in
//     context.consent.<c>, context.consent.categories.<c> or
//     context.consent.canonical.<c>; otherwise dropped no_consent.
//
// # Choices worth knowing
//
//   - A JSON null is treated as a missing key everywhere (a null top-level
//     trait does not hide the context.traits value).
//   - Duplicate keys: the last one wins, as in encoding/json. Keys are
//     matched exactly (case-sensitive), escaped keys ("ty\u0070e") after
//     decoding.
//   - A string field other than email holding another JSON type (a number
//     as title) is treated as absent. A phone of the wrong type, that cannot
//     be parsed, or that is not a possible number is left out and
//     Result.PhoneIssue says why; the lead is still created.
//   - Phones are accepted when phonenumbers calls them possible, not only
//     valid (see normalizePhone).
//   - Invalid UTF-8 and lone surrogate escapes are replaced with U+FFFD, as
//     encoding/json does; nothing invalid reaches the output, and a replaced
//     character makes an email invalid. Valid text in any script is kept
//     byte for byte.
//   - Lead and contact names and the title are cut to MaxTextLen characters
//     (code points) at a character boundary. Description, URL and custom
//     values are not cut.
//   - Result never aliases the input, so callers may reuse record buffers.
//   - Error messages and Result.Event never contain event data, only
//     structural facts, so they are safe for logs and DLQ headers.
package transform
