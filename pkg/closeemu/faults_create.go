package closeemu

import (
	"net/http"
	"time"
)

// afterCreate is the fate of the response to one stored lead, drawn when the
// lead is stored.
type afterCreate struct {
	delay  time.Duration // wait before answering; 0 means none
	drop   bool          // close the connection instead of answering
	status int           // answer this instead of 200; 0 means none
	reset  time.Duration // RateReset, should status be 429
}

// abandoned reports whether the client is already certain to get no success.
func (a afterCreate) abandoned() bool { return a.drop || a.status != 0 }

// drawAfterCreate decides the after-create faults for one stored lead. Each
// rate that is set consumes one draw from its own stream whatever the others
// decide, so which leads one rate picks depends on the seed alone.
func (fs *faultState) drawAfterCreate() afterCreate {
	f := fs.f
	a := afterCreate{reset: f.RateReset}
	if f.LatencyAfterCreate > 0 {
		// 0 and 1 both mean every lead and draw nothing.
		r := f.LatencyAfterCreateRate
		if r == 0 || r == 1 || fs.latAfterRNG.Float64() < r {
			a.delay = f.LatencyAfterCreate
		}
	}
	a.drop = f.DropAfterCreateRate > 0 && fs.dropAfterRNG.Float64() < f.DropAfterCreateRate
	errHit := f.ErrorAfterCreateRate > 0 && fs.errAfterRNG.Float64() < f.ErrorAfterCreateRate
	if errHit && !a.drop {
		a.status = f.ErrorStatus
		if a.status < 400 {
			// A success or redirect would not tell the client anything failed.
			a.status = http.StatusBadGateway
		}
	}
	return a
}

// store keeps a created lead and draws its after-create faults. A lead whose
// client is sure to get no success is counted as abandoned here, under the
// same lock as Created, so no Stats snapshot sees one count without the
// other and the count is in place before the client can observe the fault.
func (s *Server) store(rec *leadRec, contacts []*contactRec, body []byte) afterCreate {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	rec.body = body
	s.addLead(rec, contacts, now)
	s.stats.Created++
	a := s.faults.drawAfterCreate()
	if a.abandoned() {
		s.stats.AbandonedAfterCreate++
	}
	return a
}

// answerCreated answers the POST that stored lead, applying a's faults.
func (s *Server) answerCreated(w http.ResponseWriter, r *http.Request, lead *storedLead, a afterCreate) {
	if a.delay > 0 {
		s.mu.Lock()
		s.delaying++
		s.mu.Unlock()
		// The body has been read to EOF, so net/http is watching the
		// connection and cancels the context if the client hangs up.
		ok := wait(r, a.delay) && r.Context().Err() == nil
		s.mu.Lock()
		s.delaying--
		if !ok && !a.abandoned() {
			s.stats.AbandonedAfterCreate++
		}
		s.mu.Unlock()
		if !ok {
			// As for Latency: an empty 200 would look like success.
			s.dropConnection(w)
			return
		}
	}
	switch {
	case a.drop:
		s.dropConnection(w)
	case a.status != 0:
		s.writeInjected(w, a.status, a.reset)
	default:
		s.writeBody(w, http.StatusOK, "application/json", lead.json)
	}
}
