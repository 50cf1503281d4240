package closeemu

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/closesink/closesink/pkg/closeapi"
)

// leadRequest is a decoded POST /lead/ body.
type leadRequest struct {
	name        string
	statusID    string
	status      string // deprecated label form; only meaningful without status_id
	url         string
	description string
	custom      []customField // sorted by key
	contacts    []contactRequest
}

type customField struct {
	key   string // full key, e.g. "custom.cf_abc"
	value json.RawMessage
}

type contactRequest struct {
	name, title string
	emails      []closeapi.Email
	phones      []closeapi.Phone
}

// fieldErrors is Close's "field-errors" object.
type fieldErrors map[string]string

// Messages follow Close's wording where it is known ("Not a valid choice.").
const (
	msgRequired      = "This field is required."
	msgNotString     = "Not a valid string."
	msgNotList       = "Not a valid list."
	msgNotObject     = "Not a valid object."
	msgInvalidEmail  = "Invalid email address."
	msgInvalidChoice = "Not a valid choice."
	msgStatusBoth    = "Send either status or status_id, not both."
)

// errNotObject reports a body that is valid JSON but not an object.
type errNotObject struct{}

func (errNotObject) Error() string { return "request body must be a JSON object" }

// parseLead decodes body. A non-nil error means the body is not a JSON object
// at all; otherwise fe holds every field problem found (empty when valid).
// The request is returned even with field errors so faults keyed on a contact
// email can still match.
func parseLead(body []byte) (*leadRequest, fieldErrors, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		if json.Valid(body) {
			return nil, nil, errNotObject{}
		}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, nil, err
	}
	req := &leadRequest{}
	fe := fieldErrors{}

	name, present, ok := stringField(top, "name")
	switch {
	case !ok:
		fe["name"] = msgNotString
	case !present || strings.TrimSpace(name) == "":
		fe["name"] = msgRequired
	}
	req.name = name

	var hasStatusID, hasStatus bool
	req.statusID, hasStatusID, ok = stringField(top, "status_id")
	if !ok {
		fe["status_id"] = msgNotString
	}
	req.status, hasStatus, ok = stringField(top, "status")
	if !ok {
		fe["status"] = msgNotString
	}
	if hasStatusID && hasStatus {
		fe["status"] = msgStatusBoth
	}
	if req.url, _, ok = stringField(top, "url"); !ok {
		fe["url"] = msgNotString
	}
	if req.description, _, ok = stringField(top, "description"); !ok {
		fe["description"] = msgNotString
	}

	for k, v := range top {
		if strings.HasPrefix(k, closeapi.CustomPrefix) && len(k) > len(closeapi.CustomPrefix) {
			req.custom = append(req.custom, customField{key: k, value: v})
		}
	}
	sort.Slice(req.custom, func(i, j int) bool { return req.custom[i].key < req.custom[j].key })

	req.contacts = parseContacts(top["contacts"], fe)
	return req, fe, nil
}

// parseContacts decodes the contacts list, recording problems under dotted
// keys such as "contacts.0.emails.1.email". Close nests these as objects, but
// flat string values keep the body readable by closeapi.ErrorBody.
func parseContacts(raw json.RawMessage, fe fieldErrors) []contactRequest {
	if isNull(raw) {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		fe["contacts"] = msgNotList
		return nil
	}
	out := make([]contactRequest, 0, len(items))
	for i, item := range items {
		at := "contacts." + strconv.Itoa(i)
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(item, &obj); err != nil || obj == nil {
			fe[at] = msgNotObject
			continue
		}
		var c contactRequest
		var ok bool
		if c.name, _, ok = stringField(obj, "name"); !ok {
			fe[at+".name"] = msgNotString
		}
		if c.title, _, ok = stringField(obj, "title"); !ok {
			fe[at+".title"] = msgNotString
		}
		for j, e := range parseEntries(obj["emails"], at+".emails", "email", fe) {
			if strings.TrimSpace(e.value) != "" && !validEmail(e.value) {
				fe[at+".emails."+strconv.Itoa(j)+".email"] = msgInvalidEmail
			}
			c.emails = append(c.emails, closeapi.Email{Email: e.value, Type: e.typ})
		}
		for _, p := range parseEntries(obj["phones"], at+".phones", "phone", fe) {
			c.phones = append(c.phones, closeapi.Phone{Phone: p.value, Type: p.typ})
		}
		out = append(out, c)
	}
	return out
}

type entry struct{ value, typ string }

// parseEntries decodes an emails or phones list: objects with a required
// string valueKey and an optional string "type". Entries with errors are
// still returned (in place) so indexes in messages stay aligned.
func parseEntries(raw json.RawMessage, at, valueKey string, fe fieldErrors) []entry {
	if isNull(raw) {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		fe[at] = msgNotList
		return nil
	}
	out := make([]entry, 0, len(items))
	for i, item := range items {
		here := at + "." + strconv.Itoa(i)
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(item, &obj); err != nil || obj == nil {
			fe[here] = msgNotObject
			out = append(out, entry{})
			continue
		}
		v, present, ok := stringField(obj, valueKey)
		switch {
		case !ok:
			fe[here+"."+valueKey] = msgNotString
		case !present || strings.TrimSpace(v) == "":
			fe[here+"."+valueKey] = msgRequired
		}
		typ, _, ok := stringField(obj, "type")
		if !ok {
			fe[here+".type"] = msgNotString
		}
		out = append(out, entry{value: v, typ: typ})
	}
	return out
}

// stringField reads obj[key]: present is false when missing or null; ok is
// false when present but not a string.
func stringField(obj map[string]json.RawMessage, key string) (value string, present, ok bool) {
	raw, found := obj[key]
	if !found || isNull(raw) {
		return "", false, true
	}
	if err := json.Unmarshal(raw, &value); err != nil {
		return "", true, false
	}
	return value, true, true
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// emails lists every contact email as Close would match it (trimmed, lowercased).
func (r *leadRequest) emails() []string {
	var out []string
	for _, c := range r.contacts {
		for _, e := range c.emails {
			out = append(out, strings.ToLower(strings.TrimSpace(e.Email)))
		}
	}
	return out
}
