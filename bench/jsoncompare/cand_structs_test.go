package jsoncompare

import (
	"encoding/json"

	"github.com/bytedance/sonic"
	"github.com/closesink/closesink/pkg/closeapi"
)

// encoding/json (v1) and sonic decode into structs. A span keeps a member's
// raw bytes without copying them (both libraries hand UnmarshalJSON a slice
// of the input), so the drop path pays for validation and field matching
// only, not for copies. Caveat for both: struct fields match keys
// case-insensitively ("TYPE" would count as "type"), unlike the transform.

type span []byte

func (s *span) UnmarshalJSON(b []byte) error { *s = b; return nil }

type structEnvelope struct {
	Type, Event, Traits, Properties, Context span
	MessageID                                span `json:"messageId"`
}

type structTraits struct{ Email, Phone, FirstName, LastName, Name, Title, Company span }

type structConsentCats struct{ Marketing span }

type structLead struct {
	Type, Event span
	MessageID   span `json:"messageId"`
	Traits      structTraits
	Properties  struct {
		LeadType span `json:"lead_type"`
	}
	Context struct {
		Traits  structTraits
		Consent struct {
			Marketing             span
			Categories, Canonical structConsentCats
		}
		Page struct{ URL span }
	}
}

func kindOf(raw []byte) byte {
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// spanEnvelope builds the envelope from raw spans.
func spanEnvelope(typ, event, traits, properties, context []byte) envelope {
	env := envelope{typK: kindOf(typ), eventK: kindOf(event), traitsK: kindOf(traits), propertiesK: kindOf(properties), contextK: kindOf(context)}
	if kindOf(typ) == '"' {
		env.typ, env.typIsString = rawStringBytes(typ), true
	}
	if kindOf(event) == '"' {
		env.event, env.eventIsString = rawStringBytes(event), true
	}
	return env
}

func (f *leadFields) mergeSpans(t *structTraits) {
	for _, m := range []struct {
		key string
		raw span
	}{{"email", t.Email}, {"phone", t.Phone}, {"firstName", t.FirstName}, {"lastName", t.LastName}, {"name", t.Name}, {"title", t.Title}, {"company", t.Company}} {
		if len(m.raw) > 0 && m.raw[0] != 'n' {
			*f.traitSetter(m.key) = rawString(m.raw)
		}
	}
}

func structLeadFields(l *structLead) (leadFields, bool) {
	if mapped, ok := decide(spanEnvelope(l.Type, l.Event, nil, nil, nil)); !mapped || !ok {
		return leadFields{}, false
	}
	var f leadFields
	f.mergeSpans(&l.Context.Traits)
	f.mergeSpans(&l.Traits)
	c := &l.Context.Consent
	f.consent = string(c.Marketing) == "true" || string(c.Categories.Marketing) == "true" || string(c.Canonical.Marketing) == "true"
	f.leadType = rawString(l.Properties.LeadType)
	f.url = rawString(l.Context.Page.URL)
	f.messageID = rawString(l.MessageID)
	return f, true
}

func idsOf(c *closeapi.CreatedLead) (lead, contact string) {
	switch {
	case len(c.Contacts) > 0 && c.Contacts[0].ID != "":
		contact = c.Contacts[0].ID
	case len(c.ContactIDs) > 0:
		contact = c.ContactIDs[0]
	}
	return c.ID, contact
}

var stdCandidate = candidate{
	name: "encoding_json",
	drop: func(data []byte) (mapped, ok bool) {
		var e structEnvelope
		if json.Unmarshal(data, &e) != nil {
			return false, false
		}
		return decide(spanEnvelope(e.Type, e.Event, e.Traits, e.Properties, e.Context))
	},
	lead: func(data []byte) (leadFields, bool) {
		var l structLead
		if json.Unmarshal(data, &l) != nil {
			return leadFields{}, false
		}
		return structLeadFields(&l)
	},
	created: func(body []byte) (string, string) {
		var c closeapi.CreatedLead
		_ = json.Unmarshal(body, &c)
		return idsOf(&c)
	},
}

// sonic.ConfigStd is the configuration meant to behave like encoding/json.
var sonicCandidate = candidate{
	name: "sonic",
	drop: func(data []byte) (mapped, ok bool) {
		var e structEnvelope
		if sonic.ConfigStd.Unmarshal(data, &e) != nil {
			return false, false
		}
		return decide(spanEnvelope(e.Type, e.Event, e.Traits, e.Properties, e.Context))
	},
	lead: func(data []byte) (leadFields, bool) {
		var l structLead
		if sonic.ConfigStd.Unmarshal(data, &l) != nil {
			return leadFields{}, false
		}
		return structLeadFields(&l)
	},
	created: func(body []byte) (string, string) {
		var c closeapi.CreatedLead
		_ = sonic.ConfigStd.Unmarshal(body, &c)
		return idsOf(&c)
	},
}
