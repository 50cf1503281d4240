package transform

import "bytes"

// The fast path drops a record that provably cannot become a result without
// parsing it: most of a real topic is page views and other non-lead events,
// and a byte search costs a small fraction of validating the whole record
// (BenchmarkFastPath measures both in the same run). Config.StrictJSON
// turns it off.
//
// Why it is exact about leads. The full path returns something other than
// "dropped not_mapped" or "invalid_event" only when classify finds a mapped
// track event (the decoded "event" string equals a key of t.events; names
// match exactly, case-sensitively) or, with Config.Identify, when the decoded
// "type" string equals "identify". So it needs one of the needles (the mapped
// names, plus "identify" when identify calls are taken) as a decoded JSON
// string. A JSON string's raw bytes decode to themselves unless they hold an
// escape, so a string that decodes to a needle holds that needle verbatim
// (found by bytes.Index), or an escape:
//
//   - a \uXXXX escape, which can spell any character: the record then
//     contains the bytes `\u` (so does an escaped backslash before a "u",
//     `\\u`, which only makes the check more careful than it needs to be);
//   - a short escape (\" \\ \/ \b \f \n \r \t), which decodes to one of
//     `"`, `\`, `/` or a control character. The decoded string can equal a
//     needle only if the needle holds that character, and then any `\` in
//     the record sends it down the full path (needEscapeCheck).
//
// Nothing else makes a decoded string differ from its bytes: invalid UTF-8
// is replaced with U+FFFD only when the string also holds a backslash
// (decodeString; without one classify compares the raw bytes), keys are
// decoded but only the values of "type" and "event" are compared with
// names, duplicate keys only choose which of several strings is compared
// (each of them is in the record), and whitespace inside a string is part of
// it. A record without a needle and without such escapes is therefore one
// the full path would drop as not_mapped, or reject as invalid_event when it
// is malformed; it never creates or updates anything at Close.
//
// Only objects qualify: a record that is empty, not JSON, an array or a
// scalar (after trimming JSON whitespace it does not start with '{' and end
// with '}') still goes the full path and is dead-lettered as invalid_event,
// since that is almost always a producer writing the wrong thing to the
// topic. A malformed object without a mapped name is dropped no_mapped_name
// rather than dead-lettered: replaying it could only ever drop it again.

// escU is the start of a \uXXXX escape.
var escU = []byte(`\u`)

// initFastPath precomputes the needles; called by New after t.events and
// t.identify are set.
func (t *Transformer) initFastPath(strict bool) {
	t.strict = strict
	for name := range t.events {
		t.needles = append(t.needles, []byte(name))
		if escapable(name) {
			t.needEscapeCheck = true
		}
	}
	if t.identify {
		t.needles = append(t.needles, []byte("identify"))
	}
}

// escapable reports whether s holds a character JSON can write with a short
// escape: '"', '\\', '/' or a control character.
func escapable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' || c == '/' || c < 0x20 {
			return true
		}
	}
	return false
}

// cannotBeResult reports whether data provably cannot become a lead or an
// identify result (see the comment at the top of this file), so Transform
// may drop it as no_mapped_name without parsing it.
func (t *Transformer) cannotBeResult(data []byte) bool {
	if t.strict {
		return false
	}
	i, j := skipSpace(data, 0), len(data)
	for j > i && isSpace(data[j-1]) {
		j--
	}
	if j-i < 2 || data[i] != '{' || data[j-1] != '}' {
		return false
	}
	if t.needEscapeCheck {
		if bytes.IndexByte(data, '\\') >= 0 {
			return false
		}
	} else if bytes.Contains(data, escU) {
		return false
	}
	for _, n := range t.needles {
		if bytes.Contains(data, n) {
			return false
		}
	}
	return true
}

// unparsedLabel is Result.Event for a record dropped by the fast path: its
// type was never read.
const unparsedLabel = "unparsed"
