package closeemu

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// mergeLeads handles POST /api/v1/lead/merge/ {"source", "destination"}: the
// source's contacts move to the destination and the source is deleted. The
// destination's own fields are kept as they are. The answer is {}.
func (s *Server) mergeLeads(w http.ResponseWriter, r *http.Request) {
	_, top, ok := s.readObject(w, r, EndpointMerge)
	if !ok {
		return
	}
	fe := fieldErrors{}
	src, dst := optString(top, "source", fe), optString(top, "destination", fe)
	for key, v := range map[string]*string{"source": src, "destination": dst} {
		if _, bad := fe[key]; !bad && (v == nil || strings.TrimSpace(*v) == "") {
			fe[key] = msgRequired
		}
	}
	if len(fe) > 0 {
		s.writeValidation(w, nil, fe)
		return
	}
	if *src == *dst {
		s.writeValidation(w, []string{"Source and destination must be different leads."}, nil)
		return
	}
	if fe = s.merge(*src, *dst); len(fe) > 0 {
		s.writeValidation(w, nil, fe)
		return
	}
	s.writeBody(w, http.StatusOK, "application/json", []byte("{}"))
}

// Merge merges lead src into dst as POST /lead/merge/ does (and counts it
// in Stats.Merges): src's contacts move to dst, then src is gone. The error
// wraps ErrNoSuchLead for an unknown id.
func (s *Server) Merge(src, dst string) error {
	if src == dst {
		return fmt.Errorf("closeemu: merge: source and destination are both %s", src)
	}
	fe := s.merge(src, dst)
	if len(fe) == 0 {
		return nil
	}
	var unknown []string
	for _, key := range []string{"source", "destination"} {
		if _, ok := fe[key]; ok {
			unknown = append(unknown, key)
		}
	}
	return fmt.Errorf("%w: merge %s into %s: unknown %s", ErrNoSuchLead, src, dst, strings.Join(unknown, " and "))
}

// merge moves src's contacts to dst and forgets src, reporting an unknown
// lead as a field error under "source" or "destination".
func (s *Server) merge(src, dst string) fieldErrors {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	from, to := s.byID[src], s.byID[dst]
	fe := fieldErrors{}
	if from == nil {
		fe["source"] = "Lead does not exist."
	}
	if to == nil {
		fe["destination"] = "Lead does not exist."
	}
	if len(fe) > 0 {
		return fe
	}
	for _, id := range from.lead.ContactIDs {
		if c := s.contacts[id]; c != nil {
			c.c.LeadID = dst
			to.lead.ContactIDs = append(to.lead.ContactIDs, id)
		}
	}
	s.dropLead(from, true)
	if i := slices.Index(s.leads, from); i >= 0 {
		s.leads = slices.Delete(s.leads, i, i+1)
	}
	// Rendering only fails on a programming error: the destination keeps
	// its previous rendering, and Leads and GET still work.
	_ = s.touchLead(to, now)
	s.stats.Merges++
	return nil
}
