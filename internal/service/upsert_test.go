package service_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pkg/closeemu"
)

// upsertEvent is a lead or identify event for email with a messageId of its
// own, a title, an optional phone and a lead type.
func upsertEvent(typ, id, email, title, phone, leadType string) string {
	return fmt.Sprintf(`{"type":%q,"event":"Lead Submitted","messageId":%q,"properties":{"lead_type":%q},
		"traits":{"email":%q,"firstName":"Jane","lastName":"Doe","title":%q,"phone":%q,"company":"Acme"},
		"context":{"consent":{"marketing":true}}}`, typ, id, leadType, email, title, phone)
}

func upsertMode(edit func(*config.Config)) func(*config.Config) {
	return func(c *config.Config) {
		c.Delivery.Mode = config.ModeUpsert
		c.DedupeWindow = 1000
		if edit != nil {
			edit(c)
		}
	}
}

// The same person submits three lead events (different messageIds; the third
// with a new title and a phone): one lead, one contact, the title and phones
// updated, the email untouched.
func TestUpsertOnePersonThreeEvents(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	h.start(memberOpts{name: "a", cfg: upsertMode(nil)})
	h.produce(0,
		upsertEvent("track", "m1", "jane@acme.com", "CTO", "", "Pricing"),
		upsertEvent("track", "m2", "jane@acme.com", "CTO", "", "Pricing"),
		upsertEvent("track", "m3", "Jane@Acme.com", "CEO", "+1 415 555 0100", "Demo"))
	eventually(t, "all three events committed", h.lag)
	if got := h.emu.ContactsByEmail(); len(got) != 1 || got["jane@acme.com"] != 1 {
		t.Fatalf("contacts by email: %v", got)
	}
	leads := h.emu.Leads()
	if len(leads) != 1 {
		t.Fatalf("%d leads, want 1", len(leads))
	}
	l, ok := h.emu.Lead(leads[0].ID)
	if !ok || len(l.Contacts) != 1 {
		t.Fatalf("lead %+v", l)
	}
	c := l.Contacts[0]
	if c.Title != "CEO" || len(c.Phones) != 1 || c.Phones[0].Phone != "+14155550100" || l.Description != "Demo" {
		t.Fatalf("contact not kept current: %+v; description %q", c, l.Description)
	}
	if len(c.Emails) != 1 || c.Emails[0].Email != "jane@acme.com" {
		t.Fatalf("emails changed: %+v", c.Emails)
	}
	s := h.emu.Stats()
	if s.Searches != 1 || s.ContactUpdates != 1 || s.LeadUpdates != 1 {
		t.Fatalf("searches %d, contact PUTs %d, lead PUTs %d; want 1 each (the memory spares the rest)", s.Searches, s.ContactUpdates, s.LeadUpdates)
	}
	for _, u := range h.emu.Updates() {
		if strings.Contains(string(u.Body), "email") || strings.Contains(string(u.Body), `"name"`) || strings.Contains(string(u.Body), "status") {
			t.Fatalf("an update sent emails, a name or a status: %s %s", u.Endpoint, u.Body)
		}
	}
}

// Skip mode matches and leaves the person alone.
func TestUpsertSkipSendsNoUpdate(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	m := h.start(memberOpts{name: "a", cfg: upsertMode(nil)})
	h.produce(0, upsertEvent("track", "m1", "a@x.com", "CTO", "", "Pricing"))
	eventually(t, "the lead", h.lag)
	m.stop(t)
	h.start(memberOpts{name: "skip", cfg: upsertMode(func(c *config.Config) { c.Delivery.OnMatch = config.OnMatchSkip })})
	h.produce(0, upsertEvent("track", "m2", "a@x.com", "CFO", "", "Other"))
	eventually(t, "the skip committed", h.lag)
	if s := h.emu.Stats(); s.ContactUpdates+s.LeadUpdates != 0 || s.Searches != 2 || len(h.emu.Leads()) != 1 {
		t.Fatalf("skip mode: %d PUTs, %d searches, %d leads", s.ContactUpdates+s.LeadUpdates, s.Searches, len(h.emu.Leads()))
	}
}

// A lead merged away in Close while the worker remembers it: the PUT gets
// 404, a new search finds the contact on the merged lead, which is updated.
func TestUpsertAfterAMerge(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	h.start(memberOpts{name: "a", cfg: upsertMode(nil)})
	h.produce(0, upsertEvent("track", "m1", "a@x.com", "CTO", "", "Pricing"), upsertEvent("track", "m2", "b@x.com", "CTO", "", "Pricing"))
	eventually(t, "two leads", h.lag)
	leads := map[string]string{}
	for _, l := range h.emu.Leads() {
		leads[l.Contacts[0].Emails[0].Email] = l.ID
	}
	if err := h.emu.Merge(leads["a@x.com"], leads["b@x.com"]); err != nil {
		t.Fatal(err)
	}
	h.produce(0, upsertEvent("track", "m3", "a@x.com", "COO", "", "Demo"))
	eventually(t, "the update after the merge", h.lag)
	all := h.emu.Leads()
	if len(all) != 1 || all[0].ID != leads["b@x.com"] {
		t.Fatalf("leads after the merge and an update: %d, want only %s", len(all), leads["b@x.com"])
	}
	merged, _ := h.emu.Lead(all[0].ID)
	var contacts []string
	for _, c := range merged.Contacts {
		contacts = append(contacts, c.Emails[0].Email+"="+c.Title)
	}
	if fmt.Sprint(contacts) != "[b@x.com=CTO a@x.com=COO]" || merged.Description != "Demo" {
		t.Fatalf("merged lead: contacts %v, description %q", contacts, merged.Description)
	}
	if s := h.emu.Stats(); s.Searches != 3 || s.Created != 2 {
		t.Fatalf("searches %d (want 2 at creation + 1 after the 404), creates %d", s.Searches, s.Created)
	}
}

// Identify calls update an existing contact and never create one.
func TestUpsertIdentifyUpdatesWithoutCreating(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	h.start(memberOpts{name: "a", cfg: upsertMode(func(c *config.Config) { c.Delivery.UpdateOnIdentify = true })})
	h.produce(0,
		upsertEvent("identify", "i1", "nobody@x.com", "CTO", "", ""),
		upsertEvent("track", "m1", "jane@acme.com", "CTO", "", "Pricing"),
		upsertEvent("identify", "i2", "jane@acme.com", "Chief of Staff", "", ""))
	eventually(t, "committed", h.lag)
	if got := h.emu.ContactsByEmail(); len(got) != 1 || got["jane@acme.com"] != 1 {
		t.Fatalf("contacts: %v (an identify created one?)", got)
	}
	if c := h.emu.Leads()[0].Contacts[0]; c.Title != "Chief of Staff" {
		t.Fatalf("identify did not update the title: %+v", c)
	}
	if s := h.emu.Stats(); s.LeadUpdates != 0 {
		t.Fatalf("an identify updated the lead (%d PUTs)", s.LeadUpdates)
	}
}

// Under a tight budget the upsert's extra requests still never draw a 429.
func TestUpsertStaysWithinTheBudget(t *testing.T) {
	const leads, budget = 40, 20.0
	h := newHarness(t, 2, 1, closeemu.Config{RateLimit: budget * 1.25})
	h.start(memberOpts{name: "a", cfg: upsertMode(func(c *config.Config) { c.Rate, c.Burst = budget, 2 })})
	for i := range leads {
		e := fmt.Sprintf("p%d@x.com", i%(leads/2)) // every person twice
		h.produce(int32(i%2), upsertEvent("track", fmt.Sprint("m", i), e, fmt.Sprint("T", i), "", "Pricing"))
	}
	eventually(t, "committed", h.lag)
	s := h.emu.Stats()
	if s.RateLimited != 0 {
		t.Fatalf("%d answers were 429", s.RateLimited)
	}
	if got := h.emu.ContactsByEmail(); len(got) != leads/2 {
		t.Fatalf("%d people in Close, want %d", len(got), leads/2)
	}
	t.Logf("requests per lead event: %.2f (%d requests for %d events: %d searches, %d creates, %d contact PUTs, %d lead PUTs)",
		float64(s.Requests)/leads, s.Requests, leads, s.Searches, s.Created, s.ContactUpdates, s.LeadUpdates)
}

// A replay in upsert mode gives the same protection: a dead-lettered event
// of a person Close has since got (the lead was created by a later event)
// updates that lead instead of creating a second one.
func TestUpsertReplayNeverDuplicates(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	h.start(memberOpts{name: "a", cfg: upsertMode(nil)})
	h.produce(0, lead("jane@acme.com"))
	eventually(t, "the lead", h.lag)
	h.putDLQ(dead{email: "jane@acme.com", class: "permanent", status: 401}, dead{email: "new@acme.com", class: "permanent", status: 401})
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	s, err := h.replayCtx(ctx, service.ReplayOptions{}, upsertMode(nil))
	if err != nil || s.Delivered != 2 {
		t.Fatalf("replay: %+v, %v", s, err)
	}
	if got := h.emu.ContactsByEmail(); len(got) != 2 || got["jane@acme.com"] != 1 || got["new@acme.com"] != 1 {
		t.Fatalf("contacts after the replay: %v", got)
	}
}
