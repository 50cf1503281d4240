package transform

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	json2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// JSON reading is done by jsontext, the streaming tokenizer behind Go's
// json/v2 (github.com/go-json-experiment/json/jsontext; with
// GOEXPERIMENT=jsonv2 it is an alias of encoding/json/jsontext, so moving to
// the standard library later is an import change). It replaced a
// hand-written scanner after bench/jsoncompare measured five libraries side
// by side on the drop path (records that are not leads, most of a topic).
// Paired against the hand scanner, jsontext costs 1.6-1.7× (page view about
// 2.0 µs against 1.2 µs, 0 allocations for both), this package as shipped
// about 1.8×; fastjson, gjson and sonic came out at 2.0-2.8× and encoding/json
// at 6.6-7.9×. jsontext is also the only one that accepts exactly what
// json.Valid accepts (gjson has no depth limit, fastjson stops at 300
// levels, sonic at fewer than 10000). Within 2× of the hand scanner, it is
// not worth a scanner of our own (scan.go, 319 lines); see
// bench/jsoncompare/README.md.
//
// A record is read straight from its bytes (jsontext reads a bytes.Buffer
// without copying), so every raw value handed out aliases the record and
// nothing is allocated on the drop path. Decoders are pooled.

// decodeOptions make jsontext accept what encoding/json.Valid accepts, which
// the transform has always matched (FuzzTransform and
// TestScannerMatchesEncodingJSON hold it to that): invalid UTF-8 inside
// strings (replaced with U+FFFD when decoded, by decodeString) and duplicate
// names (the last one wins, as in encoding/json).
var decodeOptions = json2.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

// maxNestingDepth is encoding/json's nesting limit and jsontext's default
// one (this version does not export the option to set it); the scanner
// tests fail if the two ever part.
const maxNestingDepth = 10000

type recordDecoder struct {
	buf bytes.Buffer
	dec jsontext.Decoder
}

var decoders = sync.Pool{New: func() any { return new(recordDecoder) }}

// syntaxError reports where a record stops being JSON. It deliberately
// carries no bytes of the record: error messages end up in dead-letter
// headers and logs, and the record may hold personal data. (jsontext's own
// messages quote the offending text, so they are never passed on.)
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

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// isSpace reports JSON whitespace.
func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// memberFunc receives one object member: its key (without quotes, escapes
// decoded, so "ty\u0070e" arrives as "type" just as encoding/json matches
// it) and the raw value, without surrounding space.
type memberFunc func(key, value []byte)

// scan validates data as exactly one JSON text (like json.Valid). When it is
// an object and member is not nil, member is called for each of its own
// members in input order, so a later duplicate overrides an earlier one
// when member simply assigns. what names the top-level value in the
// "unexpected data after" error.
func scan(data []byte, member memberFunc, what string) error {
	d := decoders.Get().(*recordDecoder)
	defer decoders.Put(d)
	d.buf = *bytes.NewBuffer(data)
	d.dec.Reset(&d.buf, decodeOptions)
	dec := &d.dec
	if member == nil || dec.PeekKind() != '{' {
		if err := dec.SkipValue(); err != nil {
			return syntaxErr(data, dec, err)
		}
	} else {
		if _, err := dec.ReadToken(); err != nil {
			return syntaxErr(data, dec, err)
		}
		for dec.PeekKind() == '"' {
			name, err := dec.ReadValue()
			if err != nil {
				return syntaxErr(data, dec, err)
			}
			value, err := dec.ReadValue()
			if err != nil {
				return syntaxErr(data, dec, err)
			}
			key := name[1 : len(name)-1]
			if bytes.IndexByte(key, '\\') >= 0 {
				// Allocates, but real producers never escape plain keys.
				key = []byte(decodeString(name))
			}
			member(key, value)
		}
		if _, err := dec.ReadToken(); err != nil { // the closing '}'
			return syntaxErr(data, dec, err)
		}
	}
	// Checked here rather than by jsontext, which would read on into a
	// second value; this says where the extra data starts.
	if i := skipSpace(data, int(dec.InputOffset())); i != len(data) {
		return fail("unexpected data after the top-level "+what, i)
	}
	return nil
}

// syntaxErr turns a jsontext error into a syntaxError worded like the rest
// of closesink's invalid_event messages. jsontext's message is only matched
// against the fixed phrases it uses for where the error is; the offending
// text it quotes never leaves this function.
func syntaxErr(data []byte, dec *jsontext.Decoder, err error) error {
	var se *jsontext.SyntacticError
	if !errors.As(err, &se) {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fail("unexpected end of input", len(data))
		}
		return fail("invalid JSON", int(dec.InputOffset()))
	}
	off := int(se.ByteOffset)
	if errors.Is(se.Err, io.ErrUnexpectedEOF) || errors.Is(se.Err, io.EOF) {
		where := ""
		if depth := dec.StackDepth(); depth > 0 {
			switch kind, _ := dec.StackIndex(depth); kind {
			case '{':
				where = " in object"
			case '[':
				where = " in array"
			}
		}
		return fail("unexpected end of input"+where, len(data))
	}
	if errors.Is(se.Err, jsontext.ErrNonStringName) {
		return fail("expected a string key in object", off)
	}
	msg := se.Err.Error()
	switch {
	case strings.Contains(msg, "missing value"): // {"a":}
		return fail("invalid character", off)
	case strings.Contains(msg, " in literal "):
		for off > 0 && off <= len(data) && data[off-1] >= 'a' && data[off-1] <= 'z' {
			off-- // report where the literal starts
		}
		return fail("invalid literal", off)
	case strings.Contains(msg, " in number"):
		return fail("invalid number", off)
	case strings.HasPrefix(msg, "invalid escape sequence"), strings.HasPrefix(msg, "invalid surrogate pair"):
		return fail("invalid escape in string", off)
	case strings.Contains(msg, " in string"):
		return fail("control character in string", off)
	case strings.Contains(msg, "after object name"):
		return fail("expected ':' after object key", off)
	case strings.Contains(msg, "after object value"):
		return fail("expected ',' or '}' in object", off)
	case strings.Contains(msg, "after array"):
		return fail("expected ',' or ']' in array", off)
	case strings.Contains(msg, "at start of string"):
		return fail("expected a string key in object", off)
	case strings.Contains(msg, "max depth"):
		return fail("nesting too deep", off)
	}
	return fail("invalid character", off)
}

// checkJSON returns nil if data is one valid JSON text (like json.Valid),
// else the first syntax error.
func checkJSON(data []byte) error { return scan(data, nil, "value") }

// validJSON reports whether data is one valid JSON text, like json.Valid.
func validJSON(data []byte) bool { return checkJSON(data) == nil }

// eachMember calls fn for every member of obj, an already validated JSON
// object, in input order (so a later duplicate key overrides an earlier one
// when fn simply assigns, matching encoding/json).
func eachMember(obj []byte, fn memberFunc) {
	if len(obj) == 0 || obj[0] != '{' {
		return
	}
	_ = scan(obj, fn, "object") // obj was validated with the whole record
}
