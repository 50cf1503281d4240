package closeemu

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/closesink/closesink/pkg/closeapi"
)

// Close treats every PUT as a PATCH: a key that is absent leaves its field
// alone, null clears it, and a list (emails, phones) replaces the whole list.
// Unknown keys are ignored, as Close ignores read-only ones.

// msgNoContact is Close's 404 for a contact id that does not exist.
const msgNoContact = "Empty query: Contact matching query does not exist."

// contactPatch is a decoded PUT /contact/{id}/ body; nil means "not sent".
type contactPatch struct {
	name, title *string
	emails      []emailJSON // non-nil when sent
	phones      []phoneJSON // non-nil when sent
	addrs       []string    // sent addresses, trimmed and lowercased, for faults
}

// leadPatch is a decoded PUT /lead/{id}/ body.
type leadPatch struct {
	name, url, description *string
	status                 *leadRequest // statusID/status when either was sent
	custom                 []customField
}

// parseObject decodes body as a JSON object, answering 400 itself if it is not.
func (s *Server) parseObject(w http.ResponseWriter, body []byte) (map[string]json.RawMessage, bool) {
	var top map[string]json.RawMessage
	err := json.Unmarshal(body, &top)
	if err == nil && top == nil {
		err = errNotObject{}
	}
	if err != nil {
		s.writeValidation(w, []string{"Invalid JSON: " + err.Error()}, nil)
		return nil, false
	}
	return top, true
}

// readObject is the start of every handler whose body is a JSON object:
// the endpoint's faults, then the body, then the object, answering itself
// (and returning false) when any of them stops the request.
func (s *Server) readObject(w http.ResponseWriter, r *http.Request, e Endpoint) ([]byte, map[string]json.RawMessage, bool) {
	body, ok := s.faultedBody(w, r, e)
	if !ok {
		return nil, nil, false
	}
	top, ok := s.parseObject(w, body)
	return body, top, ok
}

// rejectUpdate answers a PUT that cannot apply: 404 with notFound when the
// object does not exist, else 400 with the field errors.
func (s *Server) rejectUpdate(w http.ResponseWriter, missing bool, notFound string, fe fieldErrors) {
	if missing {
		s.writeError(w, http.StatusNotFound, notFound)
		return
	}
	s.writeValidation(w, nil, fe)
}

// optString reads an optional string key: nil when absent, "" when null.
func optString(top map[string]json.RawMessage, key string, fe fieldErrors) *string {
	if _, sent := top[key]; !sent {
		return nil
	}
	v, _, ok := stringField(top, key)
	if !ok {
		fe[key] = msgNotString
		return nil
	}
	return &v
}

func parseContactPatch(top map[string]json.RawMessage) (*contactPatch, fieldErrors) {
	fe := fieldErrors{}
	p := &contactPatch{name: optString(top, "name", fe), title: optString(top, "title", fe)}
	if raw, sent := top["emails"]; sent {
		var in []closeapi.Email
		for j, e := range parseEntries(raw, "emails", "email", fe) {
			if strings.TrimSpace(e.value) != "" && !validEmail(e.value) {
				fe["emails."+strconv.Itoa(j)+".email"] = msgInvalidEmail
			}
			in = append(in, closeapi.Email{Email: e.value, Type: e.typ})
			p.addrs = append(p.addrs, strings.ToLower(strings.TrimSpace(e.value)))
		}
		p.emails = emailsJSON(in)
	}
	if raw, sent := top["phones"]; sent {
		var in []closeapi.Phone
		for _, e := range parseEntries(raw, "phones", "phone", fe) {
			in = append(in, closeapi.Phone{Phone: e.value, Type: e.typ})
		}
		p.phones = phonesJSON(in)
	}
	return p, fe
}

// updateContact handles PUT /api/v1/contact/{id}/.
func (s *Server) updateContact(w http.ResponseWriter, r *http.Request, id string) {
	body, top, ok := s.readObject(w, r, EndpointUpdateContact)
	if !ok {
		return
	}
	p, fe := parseContactPatch(top)
	if s.emailFaulted(w, EndpointUpdateContact, p.addrs) {
		return
	}
	now := s.now()
	s.mu.Lock()
	c := s.contacts[id]
	if c == nil || len(fe) > 0 {
		s.mu.Unlock()
		s.rejectUpdate(w, c == nil, msgNoContact, fe)
		return
	}
	if p.name != nil {
		c.c.Name, c.c.DisplayName = *p.name, *p.name
	}
	if p.title != nil {
		c.c.Title = *p.title
	}
	if p.phones != nil {
		c.c.Phones = p.phones
	}
	if p.emails != nil {
		s.setEmails(c, p.emails, now)
	}
	err := s.touchLead(s.byID[c.c.LeadID], now)
	out, merr := json.Marshal(c.c)
	s.recordUpdate(EndpointUpdateContact, id, body)
	s.stats.ContactUpdates++
	s.mu.Unlock()
	if err != nil || merr != nil {
		s.writeError(w, http.StatusInternalServerError, "Internal error.")
		return
	}
	s.writeBody(w, http.StatusOK, "application/json", out)
}

// getContact handles GET /api/v1/contact/{id}/.
func (s *Server) getContact(w http.ResponseWriter, id string) {
	c, ok := s.contactJSON(id)
	if !ok {
		s.writeError(w, http.StatusNotFound, msgNoContact)
		return
	}
	s.writeJSON(w, http.StatusOK, c)
}

func (s *Server) contactJSON(id string) (contactJSON, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.contacts[id]; c != nil {
		return c.c, true
	}
	return contactJSON{}, false
}

// touchLead sets the lead's date_updated and re-renders it. Caller holds s.mu.
func (s *Server) touchLead(rec *leadRec, now time.Time) error {
	if rec == nil {
		return nil
	}
	rec.lead.DateUpdated = now.UTC().Format(closeTimeLayout)
	return s.rerender(rec)
}

func parseLeadPatch(top map[string]json.RawMessage) (*leadPatch, fieldErrors) {
	fe := fieldErrors{}
	p := &leadPatch{
		name: optString(top, "name", fe), url: optString(top, "url", fe),
		description: optString(top, "description", fe),
	}
	if p.name != nil && strings.TrimSpace(*p.name) == "" {
		fe["name"] = msgRequired
	}
	statusID, status := optString(top, "status_id", fe), optString(top, "status", fe)
	switch {
	case statusID != nil && status != nil:
		fe["status"] = msgStatusBoth
	case statusID != nil && *statusID == "", status != nil && *status == "":
		fe["status"] = msgRequired
	case statusID != nil:
		p.status = &leadRequest{statusID: *statusID}
	case status != nil:
		p.status = &leadRequest{status: *status}
	}
	if _, sent := top["contacts"]; sent {
		fe["contacts"] = "Contacts cannot be changed through the lead: PUT /contact/{id}/."
	}
	for k, v := range top {
		if strings.HasPrefix(k, closeapi.CustomPrefix) && len(k) > len(closeapi.CustomPrefix) {
			var compact bytes.Buffer
			if !isNull(v) {
				_ = json.Compact(&compact, v) // v came out of a valid document
			}
			p.custom = append(p.custom, customField{key: k, value: compact.Bytes()})
		}
	}
	return p, fe
}

// updateLead handles PUT /api/v1/lead/{id}/.
func (s *Server) updateLead(w http.ResponseWriter, r *http.Request, id string) {
	body, top, ok := s.readObject(w, r, EndpointUpdateLead)
	if !ok {
		return
	}
	p, fe := parseLeadPatch(top)
	var statusID, label string
	if p.status != nil {
		statusID, label = s.resolveStatus(p.status, fe)
	}
	now := s.now()
	s.mu.Lock()
	rec := s.byID[id]
	if rec == nil || len(fe) > 0 {
		s.mu.Unlock()
		s.rejectUpdate(w, rec == nil, msgNoLead, fe)
		return
	}
	if p.name != nil {
		rec.lead.Name, rec.lead.DisplayName = *p.name, *p.name
	}
	if p.status != nil {
		rec.lead.StatusID, rec.lead.StatusLabel = statusID, label
	}
	if p.url != nil {
		rec.lead.URL = nil
		if *p.url != "" {
			u := *p.url
			rec.lead.URL = &u
		}
	}
	if p.description != nil {
		rec.lead.Description = *p.description
	}
	rec.custom = patchCustom(rec.custom, p.custom)
	err := s.touchLead(rec, now)
	snap := rec.snap
	s.recordUpdate(EndpointUpdateLead, id, body)
	s.stats.LeadUpdates++
	s.mu.Unlock()
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, "Internal error.")
		return
	}
	s.writeBody(w, http.StatusOK, "application/json", snap.json)
}

// patchCustom applies a PATCH to custom fields: an empty value (null was
// sent) removes the field, anything else sets it. The result is a new slice
// sorted by key.
func patchCustom(cur, patch []customField) []customField {
	if len(patch) == 0 {
		return cur
	}
	m := make(map[string]json.RawMessage, len(cur)+len(patch))
	for _, f := range cur {
		m[f.key] = f.value
	}
	for _, f := range patch {
		if len(f.value) == 0 {
			delete(m, f.key)
		} else {
			m[f.key] = f.value
		}
	}
	out := make([]customField, 0, len(m))
	for k, v := range m {
		out = append(out, customField{key: k, value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}
