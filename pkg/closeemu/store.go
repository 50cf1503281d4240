package closeemu

import (
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/closesink/closesink/pkg/closeapi"
)

// ErrNoSuchLead is wrapped by Merge's error when a lead id is unknown
// (never created, evicted by MaxLeads, or merged away).
var ErrNoSuchLead = errors.New("closeemu: no such lead")

// leadRec is a stored lead's mutable state, guarded by Server.mu. Its
// contacts live in Server.contacts, listed by lead.ContactIDs; snap is
// re-rendered after every change to either.
type leadRec struct {
	lead   leadJSON      // Contacts is always nil here; ContactIDs is the live list
	custom []customField // sorted by key
	body   []byte        // the create request, for LeadBodies
	snap   *storedLead
}

// contactRec is a stored contact, guarded by Server.mu.
type contactRec struct {
	c   contactJSON
	seq uint64 // creation order: search results are sorted by it
	// The search index lags writes: until indexAt, search matches the
	// addresses in stale (nil for a new contact); from then on, c.Emails.
	stale   []string
	indexAt time.Time
}

// render rebuilds snap from the lead and cs, its contacts in ContactIDs order.
func (rec *leadRec) render(cs []contactJSON) error {
	lj := rec.lead
	lj.ContactIDs = slices.Clone(lj.ContactIDs)
	if lj.ContactIDs == nil {
		lj.ContactIDs = []string{}
	}
	lj.Contacts = append([]contactJSON{}, cs...)
	body, err := json.Marshal(lj)
	if err != nil {
		return err
	}
	if body, err = spliceCustom(body, rec.custom); err != nil {
		return err
	}
	rec.snap = &storedLead{view: lj.view(), json: body}
	return nil
}

// rerender renders rec from the stored contacts. Caller holds s.mu.
func (s *Server) rerender(rec *leadRec) error {
	cs := make([]contactJSON, 0, len(rec.lead.ContactIDs))
	for _, id := range rec.lead.ContactIDs {
		if c := s.contacts[id]; c != nil {
			cs = append(cs, c.c)
		}
	}
	return rec.render(cs)
}

// addLead stores a new lead and its contacts, evicting the oldest lead
// beyond MaxLeads. Caller holds s.mu.
func (s *Server) addLead(rec *leadRec, contacts []*contactRec, now time.Time) {
	s.leads = append(s.leads, rec)
	s.byID[rec.lead.ID] = rec
	for _, c := range contacts {
		s.seq++
		c.seq = s.seq
		c.indexAt = now.Add(s.indexDelay)
		s.contacts[c.c.ID] = c
		s.reindex(c.c.ID, nil, contactTokens(c))
	}
	if s.maxLeads > 0 && len(s.leads) > s.maxLeads {
		s.dropLead(s.leads[0], false)
		s.leads[0] = nil // let the GC have it
		s.leads = s.leads[1:]
	}
}

// dropLead forgets a lead: with its contacts when evicted (keepContacts
// false), or leaving them to the caller when merged away. It does not touch
// s.leads. Caller holds s.mu.
func (s *Server) dropLead(rec *leadRec, keepContacts bool) {
	delete(s.byID, rec.lead.ID)
	if keepContacts {
		return
	}
	for _, id := range rec.lead.ContactIDs {
		if c := s.contacts[id]; c != nil {
			s.reindex(id, contactTokens(c), nil)
			delete(s.contacts, id)
		}
	}
}

// Leads returns copies of the stored leads, in creation order, as they are
// now (updates applied, merged-away leads gone).
func (s *Server) Leads() []closeapi.CreatedLead {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]closeapi.CreatedLead, len(s.leads))
	for i, l := range s.leads {
		out[i] = copyLead(l.snap.view)
	}
	return out
}

// LeadsByEmail counts the stored leads by contact email: how many leads
// each address got (tests assert "exactly once" with it). A lead holding an
// address on several contacts (say, after a merge) counts once.
func (s *Server) LeadsByEmail() map[string]int {
	out := map[string]int{}
	for _, l := range s.Leads() {
		seen := map[string]bool{}
		for _, c := range l.Contacts {
			for _, e := range c.Emails {
				if !seen[e.Email] {
					seen[e.Email] = true
					out[e.Email]++
				}
			}
		}
	}
	return out
}

// ContactsByEmail counts the stored contacts by exact email address (as
// stored, case and all): in upsert mode every address should map to 1.
func (s *Server) ContactsByEmail() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, c := range s.contacts {
		seen := map[string]bool{}
		for _, e := range c.c.Emails {
			if !seen[e.Email] {
				seen[e.Email] = true
				out[e.Email]++
			}
		}
	}
	return out
}

// LeadBodies returns copies of the raw request bodies of the stored leads, in
// the same order as Leads, for golden comparisons of what a client sent.
func (s *Server) LeadBodies() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, len(s.leads))
	for i, l := range s.leads {
		out[i] = slices.Clone(l.body)
	}
	return out
}

// LeadView is a stored lead as it is now, with the fields an update may
// change.
type LeadView struct {
	closeapi.CreatedLead
	URL         string
	Description string
	// Custom holds the custom fields by id ("cf_abc", without "custom.").
	Custom      map[string]json.RawMessage
	DateUpdated string
}

// Lead returns the lead with id as it is now; false if there is none
// (never created, evicted, or merged away).
func (s *Server) Lead(id string) (LeadView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.byID[id]
	if rec == nil {
		return LeadView{}, false
	}
	v := LeadView{
		CreatedLead: copyLead(rec.snap.view),
		Description: rec.lead.Description,
		DateUpdated: rec.lead.DateUpdated,
	}
	if rec.lead.URL != nil {
		v.URL = *rec.lead.URL
	}
	for _, f := range rec.custom {
		if v.Custom == nil {
			v.Custom = map[string]json.RawMessage{}
		}
		v.Custom[f.key[len(closeapi.CustomPrefix):]] = slices.Clone(f.value)
	}
	return v, true
}

// Contact returns the contact with id as it is now (LeadID follows merges);
// false if there is none.
func (s *Server) Contact(id string) (closeapi.CreatedContact, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.contacts[id]
	if c == nil {
		return closeapi.CreatedContact{}, false
	}
	return c.c.view(), true
}

// Update is one PUT the emulator applied, as the client sent it.
type Update struct {
	Endpoint Endpoint // EndpointUpdateContact or EndpointUpdateLead
	ID       string   // the contact or lead id
	Body     []byte   // the raw request body
}

// Updates returns copies of the applied PUTs in order (at most MaxLeads of
// the latest when MaxLeads is set), so a test can check a client sends only
// the fields that changed.
func (s *Server) Updates() []Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Update, len(s.updates))
	for i, u := range s.updates {
		u.Body = slices.Clone(u.Body)
		out[i] = u
	}
	return out
}

// recordUpdate keeps an applied PUT. Caller holds s.mu.
func (s *Server) recordUpdate(e Endpoint, id string, body []byte) {
	s.updates = append(s.updates, Update{Endpoint: e, ID: id, Body: body})
	if s.maxLeads > 0 && len(s.updates) > s.maxLeads {
		s.updates[0] = Update{}
		s.updates = s.updates[1:]
	}
}
