// Package closeapi holds the Close REST API types closesink sends and receives.
// It has no behaviour beyond JSON encoding, so every other package may import it.
package closeapi

import (
	"bytes"
	"encoding/json"
	"sort"
)

// Lead is the body of POST /api/v1/lead/ (only the fields closesink uses).
//
// Custom fields are flat top-level keys "custom.<field id>" in Close's API, so
// they are kept in Custom by field id (e.g. "cf_abc") and MarshalJSON writes
// them as "custom.cf_abc". Field order in the output is fixed (name, status_id,
// url, description, custom fields sorted by id, contacts) so payloads are
// byte-stable for golden tests and logs.
type Lead struct {
	Name        string                     `json:"name"`
	StatusID    string                     `json:"status_id,omitempty"`
	URL         string                     `json:"url,omitempty"`
	Description string                     `json:"description,omitempty"`
	Custom      map[string]json.RawMessage `json:"-"`
	Contacts    []Contact                  `json:"contacts"`
}

// Contact is a contact nested in a lead.
type Contact struct {
	Name   string  `json:"name,omitempty"`
	Title  string  `json:"title,omitempty"`
	Emails []Email `json:"emails,omitempty"`
	Phones []Phone `json:"phones,omitempty"`
}

// Email is one contact email address.
type Email struct {
	Email string `json:"email"`
	Type  string `json:"type,omitempty"`
}

// Phone is one contact phone number (E.164).
type Phone struct {
	Phone string `json:"phone"`
	Type  string `json:"type,omitempty"`
}

// CustomPrefix is the key prefix Close uses for custom fields addressed by id.
const CustomPrefix = "custom."

// MarshalJSON writes the lead with custom fields as flat "custom.<id>" keys.
func (l Lead) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	writeField := func(key string, v any) error {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		b.Write(k)
		b.WriteByte(':')
		if raw, ok := v.(json.RawMessage); ok {
			b.Write(raw)
			return nil
		}
		enc, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.Write(enc)
		return nil
	}
	if err := writeField("name", l.Name); err != nil {
		return nil, err
	}
	for _, f := range []struct{ k, v string }{{"status_id", l.StatusID}, {"url", l.URL}, {"description", l.Description}} {
		if f.v != "" {
			if err := writeField(f.k, f.v); err != nil {
				return nil, err
			}
		}
	}
	ids := make([]string, 0, len(l.Custom))
	for id := range l.Custom {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := writeField(CustomPrefix+id, l.Custom[id]); err != nil {
			return nil, err
		}
	}
	contacts := l.Contacts
	if contacts == nil {
		contacts = []Contact{}
	}
	if err := writeField("contacts", contacts); err != nil {
		return nil, err
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads a lead, collecting "custom.<id>" keys into Custom.
func (l *Lead) UnmarshalJSON(data []byte) error {
	type plain Lead // without this method, so the decode does not recurse
	p, custom, err := decodeWithCustom[plain](data)
	if err != nil {
		return err
	}
	p.Custom = custom
	*l = Lead(p)
	return nil
}

// decodeWithCustom decodes a lead object into a new P, the plain form of a
// type whose UnmarshalJSON calls it, and returns its "custom.<id>" keys
// beside it for that type's Custom.
func decodeWithCustom[P any](data []byte) (P, map[string]json.RawMessage, error) {
	var p P
	if err := json.Unmarshal(data, &p); err != nil {
		return p, nil, err
	}
	custom, err := collectCustom(data)
	return p, custom, err
}

// collectCustom returns the "custom.<id>" keys of a JSON object by id (nil
// when there are none).
func collectCustom(data []byte) (map[string]json.RawMessage, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, err
	}
	var custom map[string]json.RawMessage
	for k, v := range all {
		if len(k) > len(CustomPrefix) && k[:len(CustomPrefix)] == CustomPrefix {
			if custom == nil {
				custom = map[string]json.RawMessage{}
			}
			custom[k[len(CustomPrefix):]] = v
		}
	}
	return custom, nil
}
