package closeemu

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// createLead handles POST /api/v1/lead/.
func (s *Server) createLead(w http.ResponseWriter, r *http.Request) {
	body, ok := s.faultedBody(w, r, EndpointCreateLead)
	if !ok {
		return
	}
	req, fe, err := parseLead(body)
	if err != nil {
		s.writeValidation(w, []string{"Invalid JSON: " + err.Error()}, nil)
		return
	}
	// Email faults apply even to otherwise invalid leads: a test pinning a
	// status on one address expects that status whatever else is wrong.
	if s.emailFaulted(w, EndpointCreateLead, req.emails()) {
		return
	}
	statusID, label := s.resolveStatus(req, fe)
	if len(fe) > 0 {
		s.writeValidation(w, nil, fe)
		return
	}
	rec, contacts, err := buildLead(req, statusID, label, s.orgID, s.now())
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, "Internal error.")
		return
	}
	// The create's answer is the lead as created, whatever a PUT racing
	// with it changes once it is stored.
	snap := rec.snap
	s.answerCreated(w, r, snap, s.store(rec, contacts, body))
}

// faultedBody applies the endpoint's faults, then reads the request body,
// answering itself (and returning false) when either stops the request.
func (s *Server) faultedBody(w http.ResponseWriter, r *http.Request, e Endpoint) ([]byte, bool) {
	if s.faulted(w, e) {
		return nil, false
	}
	return s.readBody(w, r)
}

// readBody reads the request body up to the size cap, answering 413 or 400
// itself when it cannot.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			s.writeError(w, http.StatusRequestEntityTooLarge, "Request body too large.")
			return nil, false
		}
		s.writeValidation(w, []string{"Could not read the request body."}, nil)
		return nil, false
	}
	return body, true
}

// resolveStatus picks the lead's status id and label, recording an error in
// fe when the request names a status the organization does not have.
func (s *Server) resolveStatus(req *leadRequest, fe fieldErrors) (id, label string) {
	switch {
	case req.statusID != "":
		if s.statuses != nil && !s.statuses[req.statusID] {
			// Close reports an unknown status_id under "status" (see close-api.md).
			if _, dup := fe["status"]; !dup {
				fe["status"] = msgInvalidChoice
			}
			return "", ""
		}
		id = req.statusID
	case req.status != "":
		// Deprecated label form: match a known label, case-insensitively.
		for sid, l := range s.labels {
			if strings.EqualFold(l, req.status) && (s.statuses == nil || s.statuses[sid]) {
				return sid, l
			}
		}
		if _, dup := fe["status"]; !dup {
			fe["status"] = msgInvalidChoice
		}
		return "", ""
	default:
		id = s.defaultStatus
	}
	if label = s.labels[id]; label == "" {
		label = id
	}
	return id, label
}

// msgNoLead is Close's 404 for a lead id that does not exist.
const msgNoLead = "Empty query: Lead matching query does not exist."

// getLead handles GET /api/v1/lead/{id}/.
func (s *Server) getLead(w http.ResponseWriter, id string) {
	if s.faulted(w, EndpointGetLead) {
		return
	}
	s.mu.Lock()
	var snap *storedLead
	if rec := s.byID[id]; rec != nil {
		snap = rec.snap
	}
	s.mu.Unlock()
	if snap == nil {
		s.writeError(w, http.StatusNotFound, msgNoLead)
		return
	}
	s.writeBody(w, http.StatusOK, "application/json", snap.json)
}

// Listing limits, as Close documents for leads.
const (
	defaultListLimit = 100
	maxListLimit     = 200
)

// listLeads handles GET /api/v1/lead/ with _skip, _limit and _fields.
func (s *Server) listLeads(w http.ResponseWriter, r *http.Request) {
	skip, limit, ok := s.listParams(w, r)
	if !ok {
		return
	}
	var fields []string
	if f := r.URL.Query().Get("_fields"); f != "" {
		fields = strings.Split(f, ",")
	}

	s.mu.Lock()
	total := len(s.leads)
	start, end := pageBounds(skip, limit, total)
	page := make([]*storedLead, 0, end-start)
	for _, rec := range s.leads[start:end] {
		page = append(page, rec.snap)
	}
	s.mu.Unlock()

	var b bytes.Buffer
	b.WriteString(`{"data":[`)
	for i, l := range page {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(selectFields(l.json, fields))
	}
	b.WriteString(`],"has_more":`)
	b.WriteString(strconv.FormatBool(end < total))
	b.WriteByte('}')
	s.writeBody(w, http.StatusOK, "application/json", b.Bytes())
}

// listParams reads a list's _skip and _limit (0 or absent: the default
// limit; more than the cap: the cap), answering 400 itself when either is
// not a non-negative integer.
func (s *Server) listParams(w http.ResponseWriter, r *http.Request) (skip, limit int, ok bool) {
	q := r.URL.Query()
	fe := fieldErrors{}
	skip = intParam(q.Get("_skip"), 0, "_skip", fe)
	limit = intParam(q.Get("_limit"), defaultListLimit, "_limit", fe)
	if len(fe) > 0 {
		s.writeValidation(w, nil, fe)
		return 0, 0, false
	}
	if limit == 0 {
		limit = defaultListLimit
	}
	return skip, min(limit, maxListLimit), true
}

// pageBounds is the [start, end) of the page skip and limit select from n items.
func pageBounds(skip, limit, n int) (start, end int) {
	start = min(skip, n)
	return start, min(start+limit, n)
}

// intParam parses a non-negative integer query parameter.
func intParam(v string, def int, name string, fe fieldErrors) int {
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		fe[name] = "Not a valid non-negative integer."
		return def
	}
	return n
}

// selectFields narrows a lead object to the named keys, in the order asked.
func selectFields(obj []byte, fields []string) []byte {
	if len(fields) == 0 {
		return obj
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(obj, &all); err != nil {
		return obj // stored bodies are always valid objects
	}
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	seen := map[string]bool{}
	for _, f := range fields {
		f = strings.TrimSpace(f)
		v, ok := all[f]
		if !ok || seen[f] {
			continue
		}
		seen[f] = true
		if n > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
		n++
	}
	b.WriteByte('}')
	return b.Bytes()
}

// me handles GET /api/v1/me/, the cheap key check.
func (s *Server) me(w http.ResponseWriter) {
	s.writeJSON(w, http.StatusOK, map[string]any{
		"id":            s.userID,
		"first_name":    "Close",
		"last_name":     "Emulator",
		"email":         "emulator@closesink.invalid",
		"organizations": []map[string]string{{"id": s.orgID, "name": "closesink emulator"}},
	})
}
