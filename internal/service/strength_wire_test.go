package service_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"
)

// wireLog is what the front saw of every lead creation (POST /lead/): when
// it arrived, the contact email it was for and how it was answered. It is
// the ground truth the duplicate checks compare the emulator against.
type wireLog struct {
	mu    sync.Mutex
	calls []*wireCall
}

// wireCall is one lead POST. status is the answer written to closesink,
// 0 while none is (or when the connection was closed without one).
type wireCall struct {
	http.ResponseWriter
	log     *wireLog
	arrived time.Time
	email   string
	status  int
	ended   bool
}

// begin records a lead POST and returns the writer the handlers must answer
// through. The body is read (for the email) and handed on unchanged.
func (l *wireLog) begin(w http.ResponseWriter, r *http.Request) *wireCall {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var lead struct {
		Contacts []struct {
			Emails []struct{ Email string }
		}
	}
	_ = json.Unmarshal(body, &lead)
	c := &wireCall{ResponseWriter: w, log: l, arrived: time.Now()}
	if len(lead.Contacts) > 0 && len(lead.Contacts[0].Emails) > 0 {
		c.email = lead.Contacts[0].Emails[0].Email
	}
	l.mu.Lock()
	l.calls = append(l.calls, c)
	l.mu.Unlock()
	return c
}

func (c *wireCall) WriteHeader(status int) {
	c.log.mu.Lock()
	if c.status == 0 {
		c.status = status
	}
	c.log.mu.Unlock()
	c.ResponseWriter.WriteHeader(status)
}

func (c *wireCall) Write(b []byte) (int, error) {
	c.log.mu.Lock()
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.log.mu.Unlock()
	return c.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (the
// emulator's dropped connections hijack it).
func (c *wireCall) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *wireCall) end() {
	c.log.mu.Lock()
	c.ended = true
	c.log.mu.Unlock()
}

// wireCallView is a wireCall as read by a test.
type wireCallView struct {
	arrived time.Time
	email   string
	status  int
	ended   bool
}

func (l *wireLog) snapshot() []wireCallView {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]wireCallView, len(l.calls))
	for i, c := range l.calls {
		out[i] = wireCallView{c.arrived, c.email, c.status, c.ended}
	}
	return out
}

// createThenFail reports whether an answered lead POST is one the emulator
// may have stored without telling closesink so: no answer at all (a
// dropped connection, or one cut during LatencyAfterCreate) or the 502 of
// ErrorAfterCreateRate. The tests using it inject no fault of that shape
// before a create (no Latency, DropConnRate, or 502 from ErrorRate).
func (v wireCallView) createThenFail() bool {
	return v.ended && (v.status == 0 || v.status == http.StatusBadGateway)
}

// dupeReport accounts for every lead in Close against the wire.
type dupeReport struct {
	leads, abandoned, unanswered, errored int // distinct leads; abandoned = unanswered + errored
	problems                              []string
}

// explainDuplicates checks the promise "no duplicate without a crash": each
// email's extra leads are exactly its requests abandoned after the create
// (each answered 2xx once, so closesink never sent a lead again after Close
// acknowledged it), and the wire's abandoned requests are exactly the
// emulator's Stats.AbandonedAfterCreate.
func (h *harness) explainDuplicates() dupeReport {
	var r dupeReport
	ok, abandoned := map[string]int{}, map[string]int{}
	for _, c := range h.front.wire.snapshot() {
		switch {
		case c.status >= 200 && c.status < 300:
			ok[c.email]++
		case c.createThenFail() && c.status == 0:
			abandoned[c.email]++
			r.unanswered++
		case c.createThenFail():
			abandoned[c.email]++
			r.errored++
		}
	}
	r.abandoned = r.unanswered + r.errored
	created := h.createdEmails()
	r.leads = len(created)
	for e, n := range created {
		if n-1 != abandoned[e] || ok[e] != 1 {
			r.problems = append(r.problems, fmt.Sprintf("%s created %d times, answered 2xx %d times; %d abandoned-after-create requests explain %d extra",
				e, n, ok[e], abandoned[e], abandoned[e]))
		}
	}
	sort.Strings(r.problems)
	if s := h.emu.Stats(); s.AbandonedAfterCreate != r.abandoned {
		r.problems = append(r.problems, fmt.Sprintf("the emulator counted %d leads abandoned after their create, the wire %d (%d unanswered, %d errors)",
			s.AbandonedAfterCreate, r.abandoned, r.unanswered, r.errored))
	}
	return r
}

// checkDuplicatesExplained fails the test for every duplicate lead no
// abandoned create explains, and returns the report (to log, and to check
// that the faults struck at all).
func (h *harness) checkDuplicatesExplained() dupeReport {
	h.t.Helper()
	r := h.explainDuplicates()
	for _, p := range r.problems {
		h.t.Error(p)
	}
	if len(r.problems) == 0 {
		h.t.Logf("%d leads; %d extra leads, all from requests abandoned after their create (%d unanswered, %d 502)",
			r.leads, r.abandoned, r.unanswered, r.errored)
	}
	return r
}
