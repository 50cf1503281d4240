// Code below is a frozen copy of transform/scan.go as it was before the
// JSON-library change, kept here only as the benchmark's reference.

package jsoncompare

import (
	"encoding/binary"
	"fmt"
)

// This file holds a small JSON scanner that validates a whole record and, in
// the same single pass, remembers where the top-level members of interest
// start and end. It exists for speed: most records on a real topic are page
// views and other non-lead events, and deciding "not_mapped" must not pay for
// a full decode (encoding/json.Valid alone costs ~3 ns/byte, and Unmarshal
// several times that plus allocations). The scanner allocates nothing on the
// success path.
//
// It accepts exactly what encoding/json.Valid accepts (TestScannerMatches-
// EncodingJSON and FuzzScannerMatchesValid hold it to that): RFC 8259
// syntax, the same nesting limit, and invalid UTF-8 inside strings
// (encoding/json accepts it and replaces it with U+FFFD when decoding;
// decodeString does the same).
//
// The functions take the input and a position and return the new position,
// rather than being methods on a struct, so the compiler keeps the position
// in a register; that halves the cost per byte.

// maxNestingDepth matches encoding/json's limit so both agree on validity.
const maxNestingDepth = 10000

// syntaxError reports where a record stops being JSON. It deliberately
// carries no bytes of the record: error messages end up in dead-letter
// headers and logs, and the record may hold personal data.
type syntaxError struct {
	msg    string
	offset int
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("%s at byte offset %d", e.msg, e.offset)
}

func fail(msg string, offset int) error {
	return &syntaxError{msg: msg, offset: offset}
}

// endOr says "unexpected end of input" when i is past the end, else msg.
func endOr(data []byte, i int, where, msg string) error {
	if i >= len(data) {
		return fail("unexpected end of input"+where, i)
	}
	return fail(msg, i)
}

// stringStop marks bytes that end the fast path inside a JSON string: the
// closing quote, a backslash, and control characters (which JSON forbids raw).
var stringStop = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'] = true
	t['\\'] = true
	return t
}()

var hexDigit = func() (t [256]bool) {
	for _, c := range "0123456789abcdefABCDEF" {
		t[c] = true
	}
	return t
}()

func skipSpace(data []byte, i int) int {
	for i < len(data) && data[i] <= ' ' && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t') {
		i++
	}
	return i
}

// skipValue validates the value starting at data[i] (no leading space) and
// returns the position just after it. depth counts enclosing containers.
func skipValue(data []byte, i, depth int) (int, error) {
	if i >= len(data) {
		return i, fail("unexpected end of input", i)
	}
	switch c := data[i]; c {
	case '{':
		return scanObject(data, i, depth, nil)
	case '[':
		return skipArray(data, i, depth)
	case '"':
		end, _, err := skipString(data, i)
		return end, err
	case 't':
		return skipLiteral(data, i, "true")
	case 'f':
		return skipLiteral(data, i, "false")
	case 'n':
		return skipLiteral(data, i, "null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return skipNumber(data, i)
		}
		return i, fail("invalid character", i)
	}
}

// memberFunc receives one object member: its key (without quotes, escapes
// decoded, so "ty\u0070e" arrives as "type" just as encoding/json matches
// it) and the raw value span.
type memberFunc func(key, value []byte)

// scanObject validates the object at data[i] ('{'), calling member (if not
// nil) for each of its own members, and returns the position after it.
func scanObject(data []byte, i, depth int, member memberFunc) (int, error) {
	if depth++; depth > maxNestingDepth {
		return i, fail("nesting too deep", i)
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return i, endOr(data, i, " in object", "expected a string key in object")
		}
		keyEnd, escaped, err := skipString(data, i)
		if err != nil {
			return keyEnd, err
		}
		key := data[i+1 : keyEnd-1]
		i = skipSpace(data, keyEnd)
		if i >= len(data) || data[i] != ':' {
			return i, endOr(data, i, " in object", "expected ':' after object key")
		}
		i = skipSpace(data, i+1)
		valueStart := i
		if i, err = skipValue(data, i, depth); err != nil {
			return i, err
		}
		if member != nil {
			if escaped {
				// Allocates, but real producers never escape plain keys.
				key = []byte(unquoteKey(key))
			}
			member(key, data[valueStart:i])
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return i, fail("unexpected end of input in object", i)
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return i + 1, nil
		default:
			return i, fail("expected ',' or '}' in object", i)
		}
	}
}

func skipArray(data []byte, i, depth int) (int, error) {
	if depth++; depth > maxNestingDepth {
		return i, fail("nesting too deep", i)
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = skipValue(data, i, depth); err != nil {
			return i, err
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return i, fail("unexpected end of input in array", i)
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case ']':
			return i + 1, nil
		default:
			return i, fail("expected ',' or ']' in array", i)
		}
	}
}

// SWAR constants: test eight string bytes at once for a quote, a backslash
// or a control character, since strings are most of a record's bytes.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// needsCare reports whether any byte of w is '"', '\\' or below 0x20.
// (x - ones) & ^x & highs is non-zero exactly when some byte of x is zero.
func needsCare(w uint64) bool {
	quote := w ^ (ones * '"')
	slash := w ^ (ones * '\\')
	return ((quote-ones)&^quote|(slash-ones)&^slash|(w-ones*0x20)&^w)&highs != 0
}

// skipString validates the string at data[i] ('"') and returns the position
// after its closing quote and whether it contained escape sequences.
func skipString(data []byte, i int) (end int, escaped bool, err error) {
	i++
	for {
		for i+8 <= len(data) && !needsCare(binary.LittleEndian.Uint64(data[i:])) {
			i += 8
		}
		for i < len(data) && !stringStop[data[i]] {
			i++
		}
		if i >= len(data) {
			return i, escaped, fail("unexpected end of input in string", i)
		}
		switch c := data[i]; {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(data) {
				return i + 1, escaped, fail("unexpected end of input in string escape", i+1)
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= len(data) {
						return k, escaped, fail("unexpected end of input in string escape", k)
					}
					if !hexDigit[data[k]] {
						return k, escaped, fail("invalid \\u escape in string", k)
					}
				}
				i += 6
			default:
				return i + 1, escaped, fail("invalid escape in string", i+1)
			}
		default:
			return i, escaped, fail("control character in string", i)
		}
	}
}

func skipLiteral(data []byte, i int, lit string) (int, error) {
	end := i + len(lit)
	if end > len(data) || string(data[i:end]) != lit {
		return i, fail("invalid literal", i)
	}
	return end, nil
}

func skipDigits(data []byte, i int) int {
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	return i
}

// skipNumber follows RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func skipNumber(data []byte, i int) (int, error) {
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		i = skipDigits(data, i+1)
	default:
		return i, fail("invalid number", i)
	}
	if i < len(data) && data[i] == '.' {
		start := i + 1
		if i = skipDigits(data, start); i == start {
			return i, fail("invalid number: no digits after '.'", i)
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		start := i
		if i = skipDigits(data, start); i == start {
			return i, fail("invalid number: no digits in exponent", i)
		}
	}
	return i, nil
}

// checkJSON returns nil if data is one valid JSON text (like json.Valid),
// else the first syntax error.
func checkJSON(data []byte) error {
	i, err := skipValue(data, skipSpace(data, 0), 0)
	if err != nil {
		return err
	}
	if i = skipSpace(data, i); i != len(data) {
		return fail("unexpected data after the top-level value", i)
	}
	return nil
}

// validJSON reports whether data is one valid JSON text, like json.Valid.
func validJSON(data []byte) bool { return checkJSON(data) == nil }

// eachMember calls fn for every member of obj, an already validated JSON
// object, in input order (so a later duplicate key overrides an earlier one
// when fn simply assigns, matching encoding/json).
func eachMember(obj []byte, fn memberFunc) {
	if len(obj) == 0 || obj[0] != '{' {
		return
	}
	_, _ = scanObject(obj, 0, 0, fn) // obj was validated with the whole record
}

// handEnvelope is the old transform's parseEnvelope on the frozen scanner.
func handEnvelope(data []byte) (env structEnvelope, ok bool) {
	i := skipSpace(data, 0)
	if i == len(data) || data[i] != '{' {
		return env, false
	}
	i, err := scanObject(data, i, 0, func(key, value []byte) {
		switch string(key) {
		case "type":
			env.Type = value
		case "event":
			env.Event = value
		case "traits":
			env.Traits = value
		case "properties":
			env.Properties = value
		case "context":
			env.Context = value
		case "messageId":
			env.MessageID = value
		}
	})
	return env, err == nil && skipSpace(data, i) == len(data)
}

var handCandidate = candidate{
	name: "handwritten",
	drop: func(data []byte) (mapped, ok bool) {
		e, ok := handEnvelope(data)
		if !ok {
			return false, false
		}
		return decide(spanEnvelope(e.Type, e.Event, e.Traits, e.Properties, e.Context))
	},
	lead: func(data []byte) (leadFields, bool) {
		e, ok := handEnvelope(data)
		if !ok {
			return leadFields{}, false
		}
		return membersLead(e, func(obj []byte, fn func(name, value []byte)) { eachMember(obj, fn) })
	},
	created: createdIDs,
}

// unquoteKey is what the old transform/jsonvalue.go used for escaped keys.
func unquoteKey(key []byte) string {
	return rawString(append(append([]byte{'"'}, key...), '"'))
}
