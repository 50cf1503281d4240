// Code below is a frozen copy of delivery/idscan.go as it was before the
// JSON-library change, kept here only as the benchmark's reference.

package jsoncompare

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// createdIDs reads the lead id and first contact id from a 2xx body; a body
// that is not the expected JSON yields empty ids.
//
// Decoding the whole created lead with encoding/json cost about a tenth of
// the CPU of a delivery (the bodies echo every contact), so a small scanner
// walks the top-level object and picks the three fields it needs. It checks
// the structure of everything it walks past and gives up on anything
// unusual (escaped keys or ids, malformed JSON), in which case
// encoding/json decides, so both paths agree (FuzzCreatedIDs checks this).
func createdIDs(body []byte) (leadID, contactID string) {
	if l, c, ok := scanCreatedIDs(body); ok {
		return l, c
	}
	return decodeCreatedIDs(body)
}

func decodeCreatedIDs(body []byte) (leadID, contactID string) {
	var created struct {
		ID         string   `json:"id"`
		ContactIDs []string `json:"contact_ids"`
		Contacts   []struct {
			ID string `json:"id"`
		} `json:"contacts"`
	}
	// Like the scanner, take what is there when a field has the wrong type.
	if err := json.Unmarshal(body, &created); err != nil {
		var typeErr *json.UnmarshalTypeError
		if !errors.As(err, &typeErr) {
			return "", ""
		}
	}
	switch {
	case len(created.Contacts) > 0 && created.Contacts[0].ID != "":
		contactID = created.Contacts[0].ID
	case len(created.ContactIDs) > 0:
		contactID = created.ContactIDs[0]
	}
	return created.ID, contactID
}

// scanCreatedIDs is the fast path of createdIDs; ok is false when the body
// needs encoding/json to decide.
func scanCreatedIDs(b []byte) (leadID, contactID string, ok bool) {
	s := idScanner{b: b}
	var fromContacts, fromIDs string
	var seen [3]bool // duplicate keys: encoding/json keeps the last; leave that to it
	okObj := s.object(func(key []byte) bool {
		var idx int
		var dst *string
		switch string(key) {
		case "id":
			idx, dst = 0, &leadID
		case "contacts":
			idx, dst = 1, &fromContacts
		case "contact_ids":
			idx, dst = 2, &fromIDs
		default:
			if isWantedKeyFold(key) { // encoding/json matches keys case-insensitively
				return false
			}
			return s.value()
		}
		if seen[idx] {
			return false
		}
		seen[idx] = true
		switch idx {
		case 0:
			return s.plainStringOrNull(dst)
		case 1:
			return s.firstElement(func() bool { return s.objectField("id", dst) })
		default:
			return s.firstElement(func() bool { return s.plainStringOrNull(dst) })
		}
	})
	if !okObj || !s.end() {
		return "", "", false
	}
	contactID = fromContacts
	if contactID == "" {
		contactID = fromIDs
	}
	return leadID, contactID, true
}

// isWantedKeyFold reports whether key differs from a wanted key only in case.
func isWantedKeyFold(key []byte) bool {
	for _, k := range [...]string{"id", "contacts", "contact_ids"} {
		if bytes.EqualFold(key, []byte(k)) {
			return true
		}
	}
	return false
}

// maxScanDepth bounds nesting; deeper bodies go to encoding/json.
const maxScanDepth = 64

// idScanner checks JSON structure while skipping values. Every method
// returns false on anything it does not fully understand.
type idScanner struct {
	b     []byte
	i     int
	depth int
}

func (s *idScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *idScanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *idScanner) end() bool { s.ws(); return s.i == len(s.b) }

// object walks {"key": value, ...}, calling field for each key with the
// scanner positioned at the value; field must consume the value.
func (s *idScanner) object(field func(key []byte) bool) bool {
	if s.peek() != '{' || s.depth >= maxScanDepth {
		return false
	}
	s.depth++
	defer func() { s.depth-- }()
	s.i++
	if s.peek() == '}' {
		s.i++
		return true
	}
	for {
		key, plain, ok := s.str()
		if !ok || !plain || s.peek() != ':' {
			return false
		}
		s.i++
		if !field(key) {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// firstElement walks an array (or null), calling first on its first element
// and skipping the rest.
func (s *idScanner) firstElement(first func() bool) bool {
	if s.peek() == 'n' {
		return s.lit("null")
	}
	if s.peek() != '[' {
		return false
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return true
	}
	for n := 0; ; n++ {
		if n == 0 && !first() || n > 0 && !s.value() {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return true
		default:
			return false
		}
	}
}

// objectField reads the string field key of an object into dst.
func (s *idScanner) objectField(key string, dst *string) bool {
	seen := false
	return s.object(func(k []byte) bool {
		if string(k) != key {
			if bytes.EqualFold(k, []byte(key)) {
				return false
			}
			return s.value()
		}
		if seen {
			return false
		}
		seen = true
		return s.plainStringOrNull(dst)
	})
}

// plainStringOrNull reads a string without escapes into dst (null leaves dst
// as is, like encoding/json).
func (s *idScanner) plainStringOrNull(dst *string) bool {
	if s.peek() == 'n' {
		return s.lit("null")
	}
	v, plain, ok := s.str()
	if !ok || !plain || !utf8.Valid(v) { // encoding/json would replace bad UTF-8
		return false
	}
	*dst = string(v)
	return true
}

// str reads a string; plain reports that it had no escapes (so the raw
// bytes are its value).
func (s *idScanner) str() (raw []byte, plain, ok bool) {
	if s.peek() != '"' {
		return nil, false, false
	}
	s.i++
	start := s.i
	plain = true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], plain, true
		case c == '\\':
			plain = false
			s.i++
			if s.i >= len(s.b) {
				return nil, false, false
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if s.i+5 > len(s.b) {
					return nil, false, false
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !isHex(h) {
						return nil, false, false
					}
				}
				s.i += 5
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		default:
			s.i++
		}
	}
	return nil, false, false
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// value skips any JSON value.
func (s *idScanner) value() bool {
	switch c := s.peek(); {
	case c == '"':
		_, _, ok := s.str()
		return ok
	case c == '{':
		return s.object(func([]byte) bool { return s.value() })
	case c == '[':
		if s.depth >= maxScanDepth {
			return false
		}
		s.depth++
		defer func() { s.depth-- }()
		s.i++
		if s.peek() == ']' {
			s.i++
			return true
		}
		for {
			if !s.value() {
				return false
			}
			switch s.peek() {
			case ',':
				s.i++
			case ']':
				s.i++
				return true
			default:
				return false
			}
		}
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	}
	return false
}

func (s *idScanner) lit(word string) bool {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return true
}

// number accepts exactly the JSON number grammar.
func (s *idScanner) number() bool {
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		n := 0
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}
