package jsoncompare

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/closesink/closesink/pkg/closeapi"
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// jsontext: a pooled Decoder reading straight from the record (a
// bytes.Buffer is read without a copy, so every Value aliases the record).
// The options make it accept what json.Valid accepts: invalid UTF-8 and
// duplicate names.
var jtOpts = jsonv2.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

type jtState struct {
	buf bytes.Buffer
	dec jsontext.Decoder
}

var jtPool = sync.Pool{New: func() any { return new(jtState) }}

// jtMembers validates obj as exactly one JSON object (nothing after it) and
// calls fn for each member with its decoded name and raw value.
func jtMembers(obj []byte, fn func(name, value []byte)) bool {
	st := jtPool.Get().(*jtState)
	defer jtPool.Put(st)
	st.buf = *bytes.NewBuffer(obj)
	st.dec.Reset(&st.buf, jtOpts)
	d := &st.dec
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '{' {
		return false
	}
	for d.PeekKind() == '"' {
		name, err := d.ReadValue()
		if err != nil {
			return false
		}
		value, err := d.ReadValue()
		if err != nil {
			return false
		}
		if bytes.IndexByte(name, '\\') >= 0 {
			name, _ = jsontext.AppendUnquote(nil, name)
		} else {
			name = name[1 : len(name)-1]
		}
		fn(name, value)
	}
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '}' {
		return false
	}
	_, err := d.ReadToken()
	return err == io.EOF
}

func jtEnvelope(data []byte) (env structEnvelope, ok bool) {
	ok = jtMembers(data, func(name, value []byte) {
		switch string(name) {
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
	return env, ok
}

// membersLead reads a mapped event's lead fields from its envelope, given
// a way to walk an object's members (used by jsontext and the hand scanner).
func membersLead(e structEnvelope, members func(obj []byte, fn func(name, value []byte))) (leadFields, bool) {
	if mapped, ok := decide(spanEnvelope(e.Type, e.Event, e.Traits, e.Properties, e.Context)); !mapped || !ok {
		return leadFields{}, false
	}
	member := func(obj []byte, key string) (found []byte) {
		if kindOf(obj) == '{' {
			members(obj, func(name, value []byte) {
				if string(name) == key {
					found = value
				}
			})
		}
		return found
	}
	merge := func(f *leadFields, obj []byte) {
		if kindOf(obj) == '{' {
			members(obj, func(name, value []byte) {
				if dst := f.traitSetter(string(name)); dst != nil && value[0] != 'n' {
					*dst = rawString(value)
				}
			})
		}
	}
	var f leadFields
	var ctxTraits, consent, page []byte
	if kindOf(e.Context) == '{' {
		members(e.Context, func(name, value []byte) {
			switch string(name) {
			case "traits":
				ctxTraits = value
			case "consent":
				consent = value
			case "page":
				page = value
			}
		})
	}
	merge(&f, ctxTraits)
	merge(&f, e.Traits)
	f.consent = string(member(consent, "marketing")) == "true" ||
		string(member(member(consent, "categories"), "marketing")) == "true" ||
		string(member(member(consent, "canonical"), "marketing")) == "true"
	f.leadType = rawString(member(e.Properties, "lead_type"))
	f.url = rawString(member(page, "url"))
	f.messageID = rawString(e.MessageID)
	return f, true
}

var jsontextCandidate = candidate{
	name: "jsontext",
	drop: func(data []byte) (mapped, ok bool) {
		e, ok := jtEnvelope(data)
		if !ok {
			return false, false
		}
		return decide(spanEnvelope(e.Type, e.Event, e.Traits, e.Properties, e.Context))
	},
	lead: func(data []byte) (leadFields, bool) {
		e, ok := jtEnvelope(data)
		if !ok {
			return leadFields{}, false
		}
		return membersLead(e, func(obj []byte, fn func(name, value []byte)) { jtMembers(obj, fn) })
	},
	// Close's response is decoded into the closeapi type by json/v2 (the
	// semantic layer over jsontext) with encoding/json's semantics, exactly
	// as delivery/created.go does.
	created: func(body []byte) (string, string) {
		var c closeapi.CreatedLead
		if err := jsonv2.Unmarshal(body, &c, jsonv1.DefaultOptionsV1()); err != nil {
			var typeErr *jsonv1.UnmarshalTypeError
			if !errors.As(err, &typeErr) {
				return "", ""
			}
		}
		return idsOf(&c)
	},
}
