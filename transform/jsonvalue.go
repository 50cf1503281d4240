package transform

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Helpers over raw JSON values that the decoder has already validated (see
// jsondec.go). A value never includes surrounding whitespace, so its first
// byte says its type.

// jsonKind names the JSON type of a raw value, for error messages.
func jsonKind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// present reports whether raw holds a value other than JSON null. Everywhere
// in this package a null is treated exactly like a missing key.
func present(raw []byte) bool {
	return len(raw) > 0 && raw[0] != 'n'
}

func isObject(raw []byte) bool { return len(raw) > 0 && raw[0] == '{' }
func isString(raw []byte) bool { return len(raw) > 0 && raw[0] == '"' }

// decodeString decodes a raw JSON string (with quotes). Invalid UTF-8 and
// lone surrogate escapes become U+FFFD, as encoding/json does, so the
// result is always valid UTF-8. The result never aliases raw.
func decodeString(raw []byte) string {
	if len(raw) < 2 {
		return ""
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "" // unreachable: raw was validated
	}
	return s
}

// rawStringEquals reports whether the raw JSON string raw decodes to want,
// without allocating in the common unescaped case.
func rawStringEquals(raw []byte, want string) bool {
	if !isString(raw) || len(raw) < 2 {
		return false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == want
	}
	return decodeString(raw) == want
}

// findMember returns the value of the last member of obj named key (later
// duplicates win, as in encoding/json), or nil.
func findMember(obj []byte, key string) []byte {
	var found []byte
	eachMember(obj, func(k, v []byte) {
		if string(k) == key {
			found = v
		}
	})
	return found
}

// lookupPath walks nested objects from obj along segs and returns the raw
// value found, or nil when any step is missing or not an object.
func lookupPath(obj []byte, segs []string) []byte {
	cur := obj
	for _, seg := range segs {
		if !isObject(cur) {
			return nil
		}
		cur = findMember(cur, seg)
		if cur == nil {
			return nil
		}
	}
	return cur
}

// customValue turns a raw value into what a Close custom field gets:
// strings, numbers, booleans and arrays as JSON values; null and objects
// (which no Close custom field type holds) give ok=false. The result is a
// fresh copy in valid UTF-8, never aliasing the input.
func customValue(raw []byte) (json.RawMessage, bool) {
	if len(raw) == 0 {
		return nil, false
	}
	switch raw[0] {
	case 'n', '{':
		return nil, false
	case '"':
		inner := raw[1 : len(raw)-1]
		if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
			return bytes.Clone(raw), true
		}
		return reencode(raw)
	case '[':
		return reencode(raw)
	default: // number, true, false: plain ASCII, copied as written
		return bytes.Clone(raw), true
	}
}

// reencode decodes and re-encodes raw so escapes are normalised and invalid
// UTF-8 is replaced; numbers keep their exact digits.
func reencode(raw []byte) (json.RawMessage, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	return out, true
}
