package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/delivery"
	"github.com/closesink/closesink/pkg/closeapi"
	"github.com/closesink/closesink/transform"
)

// fakeClose is an in-memory Close for the upsert flow (one test goroutine).
type fakeClose struct {
	contacts map[string]*closeapi.FoundContact // by email
	leads    map[string]*closeapi.ExistingLead // by id
	calls    map[string]int
	n        int
	// fail, if set, answers a call ("search", "create", ...) instead of Close.
	fail func(call string) (delivery.Outcome, bool)
	// createRetries makes Create fail this many times before it succeeds,
	// consulting beforeRetry before each retry, as delivery does.
	createRetries int
	// createdButLost: the first create stores the lead but its answer is
	// lost (a timeout), so the client retries.
	createdButLost bool
}

func newFakeClose() *fakeClose {
	return &fakeClose{contacts: map[string]*closeapi.FoundContact{}, leads: map[string]*closeapi.ExistingLead{}, calls: map[string]int{}}
}

func (f *fakeClose) answer(call string) (delivery.Outcome, bool) {
	f.calls[call]++
	if f.fail != nil {
		return f.fail(call)
	}
	return delivery.Outcome{}, false
}

var ok200 = delivery.Outcome{Status: delivery.Delivered, HTTPStatus: 200, Attempts: 1}

func (f *fakeClose) store(l *closeapi.Lead) (leadID, contactID string) {
	f.n++
	leadID, contactID = fmt.Sprintf("lead_%d", f.n), fmt.Sprintf("cont_%d", f.n)
	f.leads[leadID] = &closeapi.ExistingLead{ID: leadID, Name: l.Name, URL: l.URL, Description: l.Description, Custom: l.Custom}
	c := l.Contacts[0]
	f.contacts[c.Emails[0].Email] = &closeapi.FoundContact{ID: contactID, LeadID: leadID, Name: c.Name, Title: c.Title, Emails: c.Emails, Phones: c.Phones}
	return leadID, contactID
}

func (f *fakeClose) Create(ctx context.Context, _ int32, body []byte, beforeRetry func(context.Context) bool) delivery.Outcome {
	if out, failed := f.answer("create"); failed {
		return out
	}
	var l closeapi.Lead
	if err := l.UnmarshalJSON(body); err != nil {
		return delivery.Outcome{Status: delivery.Permanent, HTTPStatus: 400}
	}
	if f.createdButLost {
		f.createdButLost = false
		f.store(&l)
		f.createRetries++
	}
	for ; f.createRetries > 0; f.createRetries-- {
		if beforeRetry(ctx) {
			return delivery.Outcome{Status: delivery.Superseded, Attempts: 1}
		}
	}
	leadID, contactID := f.store(&l)
	out := ok200
	out.LeadID, out.ContactID = leadID, contactID
	return out
}

func (f *fakeClose) Search(_ context.Context, _ int32, email string) ([]closeapi.FoundContact, delivery.Outcome) {
	if out, failed := f.answer("search"); failed {
		return nil, out
	}
	if c, ok := f.contacts[email]; ok {
		return []closeapi.FoundContact{*c}, ok200
	}
	return nil, ok200
}

func (f *fakeClose) GetLead(_ context.Context, _ int32, id string) (closeapi.ExistingLead, delivery.Outcome) {
	if out, failed := f.answer("get_lead"); failed {
		return closeapi.ExistingLead{}, out
	}
	l, ok := f.leads[id]
	if !ok {
		return closeapi.ExistingLead{}, delivery.Outcome{Status: delivery.Permanent, HTTPStatus: 404, Attempts: 1}
	}
	return *l, ok200
}

func (f *fakeClose) UpdateContact(_ context.Context, _ int32, id string, u closeapi.ContactUpdate) delivery.Outcome {
	if out, failed := f.answer("put_contact"); failed {
		return out
	}
	for _, c := range f.contacts {
		if c.ID == id {
			*c = applyContact(*c, u)
			return ok200
		}
	}
	return delivery.Outcome{Status: delivery.Permanent, HTTPStatus: 404, Attempts: 1}
}

func (f *fakeClose) UpdateLead(_ context.Context, _ int32, id string, u closeapi.LeadUpdate) delivery.Outcome {
	if out, failed := f.answer("put_lead"); failed {
		return out
	}
	l, ok := f.leads[id]
	if !ok {
		return delivery.Outcome{Status: delivery.Permanent, HTTPStatus: 404, Attempts: 1}
	}
	*l = applyLead(*l, u)
	return ok200
}

func newUpsertTest(t *testing.T, f *fakeClose, mod func(*Config)) (*Pipeline, *fakeDLQ) {
	t.Helper()
	q := &fakeDLQ{}
	p, _, _ := newTest(t, &fakeDeliverer{}, q, func(c *Config) {
		c.Upsert = &UpsertConfig{API: f, Memory: 100}
		tr, err := transform.New(transform.Config{Identify: true})
		if err != nil {
			t.Fatal(err)
		}
		c.Transformer = tr
		if mod != nil {
			mod(c)
		}
	})
	return p, q
}

func event(typ, title, phone, leadType string) *kgo.Record {
	return &kgo.Record{Value: []byte(fmt.Sprintf(`{"type":%q,"event":"Lead Submitted","properties":{"lead_type":%q},
		"traits":{"email":"jane@acme.com","firstName":"Jane","title":%q,"phone":%q,"company":"Acme"},
		"context":{"consent":{"marketing":true}}}`, typ, leadType, title, phone))}
}

func mustProcess(t *testing.T, p *Pipeline, rec *kgo.Record) Outcome {
	t.Helper()
	out, err := p.Process(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// One person, three events: one lead and one contact, kept current, with
// as few requests as the memory allows.
func TestUpsertCreatesOnceThenUpdates(t *testing.T) {
	f := newFakeClose()
	p, _ := newUpsertTest(t, f, nil)
	if out := mustProcess(t, p, event("track", "CTO", "", "Pricing")); out.Action != ActionCreated || out.LeadID != "lead_1" {
		t.Fatalf("first: %+v", out)
	}
	if out := mustProcess(t, p, event("track", "CTO", "", "Pricing")); out.Action != ActionUnchanged {
		t.Fatalf("repeat: %+v", out)
	}
	out := mustProcess(t, p, event("track", "CEO", "+14155550100", "Demo"))
	if out.Action != ActionUpdated || out.LeadID != "lead_1" || out.ContactID != "cont_1" {
		t.Fatalf("changed: %+v", out)
	}
	c, l := f.contacts["jane@acme.com"], f.leads["lead_1"]
	if len(f.leads) != 1 || c.Title != "CEO" || len(c.Phones) != 1 || l.Description != "Demo" || l.Name != "Acme" {
		t.Fatalf("Close holds %d leads; contact %+v; lead %+v", len(f.leads), c, l)
	}
	if want := map[string]int{"search": 1, "create": 1, "put_contact": 1, "put_lead": 1}; fmt.Sprint(f.calls) != fmt.Sprint(want) {
		t.Fatalf("calls %v, want %v (the memory spares the search, the GET and the unchanged PUTs)", f.calls, want)
	}
}

// A person Close has (a restart: empty memory) is found, read and updated.
func TestUpsertMatchesWhatCloseHas(t *testing.T) {
	f := newFakeClose()
	f.store(&closeapi.Lead{Name: "Acme", Description: "Pricing", Contacts: []closeapi.Contact{{Name: "Jane", Title: "CTO", Emails: []closeapi.Email{{Email: "jane@acme.com"}}}}})
	p, _ := newUpsertTest(t, f, nil)
	if out := mustProcess(t, p, event("track", "CTO", "", "Pricing")); out.Action != ActionUnchanged || out.LeadID != "lead_1" {
		t.Fatalf("%+v", out)
	}
	if f.calls["search"] != 1 || f.calls["get_lead"] != 1 || f.calls["put_contact"]+f.calls["put_lead"]+f.calls["create"] != 0 {
		t.Fatalf("calls %v", f.calls)
	}
	skip, _ := newUpsertTest(t, f, func(c *Config) { c.Upsert.SkipMatched = true })
	if out := mustProcess(t, skip, event("track", "CFO", "", "Other")); out.Action != ActionSkipped || f.contacts["jane@acme.com"].Title != "CTO" {
		t.Fatalf("skip mode: %+v, title %q", out, f.contacts["jane@acme.com"].Title)
	}
}

// A PUT answered 404 (merged or deleted meanwhile) searches again once,
// then creates.
func TestUpsertRecreatesAfterA404(t *testing.T) {
	f := newFakeClose()
	p, _ := newUpsertTest(t, f, nil)
	mustProcess(t, p, event("track", "CTO", "", "Pricing"))
	delete(f.contacts, "jane@acme.com") // merged away: gone from search and PUT
	out := mustProcess(t, p, event("track", "CEO", "", "Pricing"))
	if out.Action != ActionCreated || f.calls["search"] != 2 || f.calls["create"] != 2 {
		t.Fatalf("%+v calls %v", out, f.calls)
	}
}

// A create whose answer was lost is found by the search before the retry
// and not sent again.
func TestUpsertRetrySearchesFirst(t *testing.T) {
	f := newFakeClose()
	f.createdButLost = true
	p, _ := newUpsertTest(t, f, nil)
	out := mustProcess(t, p, event("track", "CTO", "", "Pricing"))
	if out.Action != ActionUnchanged || len(f.leads) != 1 || out.LeadID != "lead_1" {
		t.Fatalf("%+v; Close holds %d leads", out, len(f.leads))
	}
}

// Identify calls update a known contact only; an unknown email does nothing.
func TestUpsertIdentifyNeverCreates(t *testing.T) {
	f := newFakeClose()
	p, _ := newUpsertTest(t, f, nil)
	if out := mustProcess(t, p, event("identify", "CTO", "", "")); out.Kind != Dropped || out.DropReason != DropUnknownContact || f.calls["create"] != 0 {
		t.Fatalf("unknown: %+v, calls %v", out, f.calls)
	}
	mustProcess(t, p, event("track", "CTO", "", "Pricing"))
	if out := mustProcess(t, p, event("identify", "CEO", "", "")); out.Action != ActionUpdated || f.contacts["jane@acme.com"].Title != "CEO" {
		t.Fatalf("known: %+v", out)
	}
	if f.calls["put_lead"] != 0 || f.calls["create"] != 1 {
		t.Fatalf("identify touched the lead or created one: %v", f.calls)
	}
}

// A search Close rejects is dead-lettered like a create; one cut short is
// not final.
func TestUpsertSearchFailures(t *testing.T) {
	f := newFakeClose()
	f.fail = func(call string) (delivery.Outcome, bool) {
		return delivery.Outcome{Status: delivery.Permanent, HTTPStatus: http.StatusForbidden, Message: "forbidden", Attempts: 1}, call == "search"
	}
	p, q := newUpsertTest(t, f, nil)
	if out := mustProcess(t, p, event("track", "CTO", "", "Pricing")); out.Kind != DeadLettered || out.HTTPStatus != 403 || len(q.failures) != 1 {
		t.Fatalf("%+v", out)
	}
	f.fail = func(call string) (delivery.Outcome, bool) {
		return delivery.Outcome{Status: delivery.Interrupted}, call == "search"
	}
	if _, err := p.Process(context.Background(), event("track", "CTO", "", "Pricing")); !errors.Is(err, ErrNotFinal) {
		t.Fatalf("interrupted search: err = %v, want ErrNotFinal", err)
	}
}
