package closeemu

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"

	"github.com/closesink/closesink/pkg/closeapi"
)

// Search limits. Close caps _limit; the emulator never pages (cursor is
// always null), so a client must ask for few enough results.
const (
	defaultSearchLimit = 10
	maxSearchLimit     = 200
)

// msgUnsupportedQuery answers any query but closeapi.ContactByEmail's.
const msgUnsupportedQuery = "Unsupported query: the emulator only answers an \"and\" of " +
	"object_type contact and has_related contact_email with a text/phrase " +
	"field_condition on contact_email.email (closeapi.ContactByEmail)."

// search handles POST /api/v1/data/search/ for the one query shape
// closesink sends: contacts by email address, matched by words.
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	body, ok := s.faultedBody(w, r, EndpointSearch)
	if !ok {
		return
	}
	req, err := decodeStrict[closeapi.SearchRequest](body)
	if err != nil {
		s.writeValidation(w, []string{"Invalid JSON: " + err.Error()}, nil)
		return
	}
	email, fe := validateSearch(req)
	if s.emailFaulted(w, EndpointSearch, []string{strings.ToLower(strings.TrimSpace(email))}) {
		return
	}
	if len(fe) > 0 {
		s.writeValidation(w, nil, fe)
		return
	}
	limit := req.Limit
	if limit == 0 {
		limit = defaultSearchLimit
	}
	limit = min(limit, maxSearchLimit)
	fields := append([]string{"id", "lead_id"}, req.Fields["contact"]...)

	now := s.now()
	s.mu.Lock()
	found := s.matchContacts(words(email), now)
	found = found[:min(len(found), limit)]
	objs := make([]contactJSON, len(found))
	for i, c := range found {
		objs[i] = c.c
	}
	s.stats.Searches++
	s.mu.Unlock()

	var b bytes.Buffer
	b.WriteString(`{"data":[`)
	for i, c := range objs {
		obj, err := json.Marshal(c)
		if err != nil {
			s.writeError(w, http.StatusInternalServerError, "Internal error.")
			return
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"__object_type":"contact",`)
		b.Write(selectFields(obj, fields)[1:]) // always holds "id"
	}
	b.WriteString(`],"cursor":null}`)
	s.writeBody(w, http.StatusOK, "application/json", b.Bytes())
}

// decodeStrict decodes one JSON value into a T, rejecting unknown keys and
// trailing data.
func decodeStrict[T any](body []byte) (T, error) {
	var v T
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, err
	}
	if dec.More() {
		return v, errors.New("unexpected data after the JSON object")
	}
	return v, nil
}

// validateSearch checks req is exactly closeapi.ContactByEmail's shape (the
// two and-ed conditions in either order) and returns the searched address.
func validateSearch(req closeapi.SearchRequest) (string, fieldErrors) {
	fe := fieldErrors{}
	email := searchedEmail(req.Query)
	want := closeapi.ContactByEmail(email, 0).Query
	swapped := want
	swapped.Queries = []closeapi.Query{want.Queries[1], want.Queries[0]}
	if !reflect.DeepEqual(req.Query, want) && !reflect.DeepEqual(req.Query, swapped) {
		fe["query"] = msgUnsupportedQuery
	} else if len(words(email)) == 0 {
		fe["query"] = "The email condition's value has no words to search for."
	}
	for obj := range req.Fields {
		if obj != "contact" {
			fe["_fields"] = "Only contact fields can be requested."
		}
	}
	if req.Limit < 0 {
		fe["_limit"] = "Not a valid non-negative integer."
	}
	return email, fe
}

// searchedEmail digs the condition value out of a contact-by-email query,
// or returns "" when the query has no such node.
func searchedEmail(q closeapi.Query) string {
	for _, sub := range q.Queries {
		if sub.Type == "has_related" && sub.RelatedQuery != nil && sub.RelatedQuery.Condition != nil {
			return sub.RelatedQuery.Condition.Value
		}
	}
	return ""
}
