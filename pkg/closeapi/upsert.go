package closeapi

import (
	"bytes"
	"encoding/json"
	"sort"
)

// Paths of the endpoints closesink's upsert mode uses, below /api/v1.
const (
	SearchPath    = "/api/v1/data/search/"
	ContactPath   = "/api/v1/contact/" // + "{id}/" for PUT
	LeadPath      = "/api/v1/lead/"    // + "{id}/" for GET and PUT
	LeadMergePath = "/api/v1/lead/merge/"
)

// SearchRequest is the body of POST /api/v1/data/search/ (Advanced
// Filtering), limited to the query shapes closesink sends.
type SearchRequest struct {
	Query  Query               `json:"query"`
	Fields map[string][]string `json:"_fields,omitempty"`
	Limit  int                 `json:"_limit,omitempty"`
}

// Query is one node of a search query tree.
type Query struct {
	Type string `json:"type"` // and, object_type, has_related, field_condition
	// and
	Queries []Query `json:"queries,omitempty"`
	// object_type
	ObjectType string `json:"object_type,omitempty"`
	// has_related
	ThisObjectType    string `json:"this_object_type,omitempty"`
	RelatedObjectType string `json:"related_object_type,omitempty"`
	RelatedQuery      *Query `json:"related_query,omitempty"`
	// field_condition
	Field     *QueryField     `json:"field,omitempty"`
	Condition *QueryCondition `json:"condition,omitempty"`
}

// QueryField names the field a field_condition tests.
type QueryField struct {
	Type       string `json:"type"` // regular_field
	ObjectType string `json:"object_type"`
	FieldName  string `json:"field_name"`
}

// QueryCondition is a field_condition's test.
type QueryCondition struct {
	Type  string `json:"type"` // text
	Mode  string `json:"mode"` // phrase
	Value string `json:"value"`
}

// ContactFields are the contact fields a contact search asks for: enough to
// compare the email exactly and to decide what an update changes.
var ContactFields = []string{"id", "lead_id", "name", "title", "emails", "phones"}

// ContactByEmail is the search for contacts that have email, in the shape
// Close's own integrations use. Close matches words ("phrase" mode), so the
// caller must still compare the returned emails exactly.
func ContactByEmail(email string, limit int) SearchRequest {
	return SearchRequest{
		Query: Query{Type: "and", Queries: []Query{
			{Type: "object_type", ObjectType: "contact"},
			{Type: "has_related", ThisObjectType: "contact", RelatedObjectType: "contact_email",
				RelatedQuery: &Query{Type: "field_condition",
					Field:     &QueryField{Type: "regular_field", ObjectType: "contact_email", FieldName: "email"},
					Condition: &QueryCondition{Type: "text", Mode: "phrase", Value: email}}},
		}},
		Fields: map[string][]string{"contact": ContactFields},
		Limit:  limit,
	}
}

// SearchResponse is Close's answer to a search: "data" is empty when
// nothing matches.
type SearchResponse struct {
	Data   []FoundContact `json:"data"`
	Cursor *string        `json:"cursor"`
}

// FoundContact is a contact as a search returns it (the ContactFields).
type FoundContact struct {
	ObjectType string  `json:"__object_type,omitempty"`
	ID         string  `json:"id"`
	LeadID     string  `json:"lead_id"`
	Name       string  `json:"name,omitempty"`
	Title      string  `json:"title,omitempty"`
	Emails     []Email `json:"emails,omitempty"`
	Phones     []Phone `json:"phones,omitempty"`
}

// ContactUpdate is the body of PUT /api/v1/contact/{id}/. Close treats a
// PUT as a PATCH: only the fields set here are sent. Phones, when set,
// replace the contact's whole list, so it must hold every phone to keep.
// Emails are never sent: closesink does not change a contact's addresses.
type ContactUpdate struct {
	Name   *string `json:"name,omitempty"`
	Title  *string `json:"title,omitempty"`
	Phones []Phone `json:"phones,omitempty"`
}

// Empty reports that the update changes nothing (no PUT is needed).
func (u ContactUpdate) Empty() bool { return u.Name == nil && u.Title == nil && u.Phones == nil }

// LeadUpdate is the body of PUT /api/v1/lead/{id}/, as a PATCH: url,
// description and custom fields (by id) that changed. closesink never sends
// a lead's name or status on update: a salesperson may have set them.
type LeadUpdate struct {
	URL         *string
	Description *string
	Custom      map[string]json.RawMessage
}

// Empty reports that the update changes nothing.
func (u LeadUpdate) Empty() bool { return u.URL == nil && u.Description == nil && len(u.Custom) == 0 }

// MarshalJSON writes the set fields, custom fields as flat "custom.<id>"
// keys in id order.
func (u LeadUpdate) MarshalJSON() ([]byte, error) {
	m := map[string]json.RawMessage{}
	for k, v := range map[string]*string{"url": u.URL, "description": u.Description} {
		if v != nil {
			b, err := json.Marshal(*v)
			if err != nil {
				return nil, err
			}
			m[k] = b
		}
	}
	for id, v := range u.Custom {
		m[CustomPrefix+id] = v
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(m[k])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads the set fields back (the emulator's side).
func (u *LeadUpdate) UnmarshalJSON(data []byte) error {
	var plain struct {
		URL         *string `json:"url"`
		Description *string `json:"description"`
	}
	if err := json.Unmarshal(data, &plain); err != nil {
		return err
	}
	custom, err := collectCustom(data)
	if err != nil {
		return err
	}
	*u = LeadUpdate{URL: plain.URL, Description: plain.Description, Custom: custom}
	return nil
}

// MergeRequest is the body of POST /api/v1/lead/merge/: source disappears
// into destination.
type MergeRequest struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
}

// ExistingLead is what an update compares against: the fields of GET
// /api/v1/lead/{id}/ that closesink may change (and the name and status it
// never changes).
type ExistingLead struct {
	ID          string                     `json:"id"`
	Name        string                     `json:"name"`
	StatusID    string                     `json:"status_id,omitempty"`
	URL         string                     `json:"url,omitempty"`
	Description string                     `json:"description,omitempty"`
	Custom      map[string]json.RawMessage `json:"-"`
}

// UnmarshalJSON reads the lead, collecting "custom.<id>" keys into Custom.
func (l *ExistingLead) UnmarshalJSON(data []byte) error {
	type plain ExistingLead // without this method, so the decode does not recurse
	p, custom, err := decodeWithCustom[plain](data)
	if err != nil {
		return err
	}
	p.Custom = custom
	*l = ExistingLead(p)
	return nil
}
