package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/samples"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/pkg/closeapi"
)

// productPagePayload is the Close payload of the product page's "Example:
// Lead Submitted", as the page prints it.
const productPagePayload = `{
  "name": "Acme Inc",
  "status_id": "stat_xxxxxxxxxxxxxxxxxxxxxxxx",
  "url": "https://example.com/contact",
  "description": "Pricing enquiry",
  "contacts": [
    {
      "name": "Jane Doe",
      "title": "Head of Growth",
      "emails": [{ "email": "jane.doe@acme.com" }],
      "phones": [{ "phone": "+447700900123" }]
    }
  ]
}`

func runDemoForTest(t *testing.T, events int, mode string) (*demoResult, string, string) {
	t.Helper()
	var out, logs bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	res, err := runDemo(ctx, demoOptions{Events: events, Mode: mode, Out: &out, Logs: &logs})
	if err != nil {
		t.Fatalf("runDemo: %v\n%s\n%s", err, out.String(), logs.String())
	}
	// 10s is the promise to users, not a speed test. Measured under -race on
	// this 2-core machine while a real-broker test run loaded both cores:
	// 0.18-0.27s in process, 1.4-1.6s as `closesink demo` (a fresh binary),
	// so the bound leaves a margin of 6x over the worst of those.
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("demo took %s, want under 10s", took)
	}
	return res, out.String(), logs.String()
}

// Every sample gets exactly the outcome events.json says, the worker's own
// counters agree, Close holds exactly the delivered leads and the DLQ holds
// exactly the dead-lettered records, traced back to their source offsets.
func TestDemoOutcomesMatchTheSamples(t *testing.T) {
	all, err := samples.All()
	if err != nil {
		t.Fatal(err)
	}
	res, out, logs := runDemoForTest(t, 0, config.ModeCreate)

	if len(res.Records) != len(all) {
		t.Fatalf("%d records, want one per sample (%d)", len(res.Records), len(all))
	}
	if len(res.Mismatches) != 0 {
		t.Errorf("mismatches: %v", res.Mismatches)
	}
	want := map[samples.Expect]int64{}
	for _, s := range all {
		want[s.Expect]++
	}
	seen := map[string]demoRecord{}
	for _, r := range res.Records {
		if r.Got != r.Expect {
			t.Errorf("%s: got %s, want %s", r.Sample, r.Got, r.Expect)
		}
		if (r.LeadID != "") != (r.Expect.Outcome == pipeline.Delivered) {
			t.Errorf("%s: lead id %q for outcome %s", r.Sample, r.LeadID, r.Got)
		}
		seen[r.Sample] = r
	}
	got := map[samples.Expect]int64{}
	for _, c := range res.Counts {
		got[samples.Expect{Outcome: c.Outcome, Reason: c.Reason}] += c.N
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("worker counters %v, samples expect %v", got, want)
	}

	if n := int64(len(res.Leads)); n != want[samples.Expect{Outcome: pipeline.Delivered}] {
		t.Errorf("Close received %d leads, want %d", n, want[samples.Expect{Outcome: pipeline.Delivered}])
	}
	var dead int64
	for e, n := range want {
		if e.Outcome == pipeline.DeadLettered {
			dead += n
		}
	}
	if int64(len(res.DeadLetters)) != dead {
		t.Errorf("DLQ holds %d records, want %d", len(res.DeadLetters), dead)
	}
	for _, d := range res.DeadLetters {
		src, ok := seen[d.Sample]
		switch {
		case !ok:
			t.Errorf("DLQ record of unknown sample %q", d.Sample)
		case string(d.Info.Class) != src.Expect.Reason:
			t.Errorf("%s: DLQ class %s, want %s", d.Sample, d.Info.Class, src.Expect.Reason)
		case d.Info.SourceTopic != demoTopic || d.Info.SourcePartition != src.Partition || d.Info.SourceOffset != src.Offset:
			t.Errorf("%s: DLQ source %s/%d/%d, produced at %d/%d", d.Sample, d.Info.SourceTopic,
				d.Info.SourcePartition, d.Info.SourceOffset, src.Partition, src.Offset)
		case d.Info.Class == "permanent" && d.Info.HTTPStatus != 400:
			t.Errorf("%s: permanent with status %d, want Close's 400", d.Sample, d.Info.HTTPStatus)
		}
	}

	// The product page's example reaches Close exactly as the page shows it,
	// and the report prints it.
	var seed *demoLead
	for i := range res.Leads {
		if res.Leads[i].Sample == "seed-lead-submitted" {
			seed = &res.Leads[i]
		}
	}
	if seed == nil {
		t.Fatal("no lead from the product page's example")
	}
	var gotSeed, wantSeed any
	if err := json.Unmarshal(seed.Body, &gotSeed); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(productPagePayload), &wantSeed); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotSeed, wantSeed) {
		t.Errorf("seed payload sent to Close:\n%s\nwant the product page's:\n%s", seed.Body, productPagePayload)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, seed.Body, "  ", "  "); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{pretty.String(), "permanent", "invalid_event", "Finished in", "dropped        no_mapped_name  8", "dropped        not_mapped      1"} {
		if !strings.Contains(out, s) {
			t.Errorf("report lacks %q:\n%s", s, out)
		}
	}

	// The worker's own log lines (shown to the user) mask addresses.
	if strings.Contains(logs, "blocked.buyer@rejected.example") || !strings.Contains(logs, "b***@rejected.example") {
		t.Errorf("worker logs must mask the rejected lead's email:\n%s", logs)
	}

	// Create mode makes a lead per lead event: the repeat submitter has two,
	// each as its event made it, and nothing is updated.
	tom := leadsWithEmail(res, repeatEmail)
	if len(tom) != 2 {
		t.Fatalf("create mode: %d leads for %s, want 2 (one per event)", len(tom), repeatEmail)
	}
	if tom[0].Sample != "repeat-submitter-monday" || tom[1].Sample != "repeat-submitter-thursday" ||
		contactOf(tom[0]).Title != "Marketing Manager" || contactOf(tom[1]).Title != "Head of Marketing" {
		t.Errorf("create mode: the repeat submitter's leads are %+v", tom)
	}
	for _, r := range res.Records {
		if r.Got.Outcome == pipeline.Delivered && r.Action != pipeline.ActionCreated {
			t.Errorf("create mode: %s delivered with action %q", r.Sample, r.Action)
		}
	}
	if len(res.Updates) != 0 || strings.Contains(out, "Updates Close received") {
		t.Errorf("create mode sent %d updates", len(res.Updates))
	}
}

// repeatEmail is the repeat submitter's address in events.json.
const repeatEmail = "tom.becker@fjordline.example"

// leadsWithEmail returns the leads Close holds whose contacts have email,
// in the report's (the file's) order.
func leadsWithEmail(res *demoResult, email string) []demoLead {
	var out []demoLead
	for _, l := range res.Leads {
		for _, c := range l.Now.Contacts {
			if slices.ContainsFunc(c.Emails, func(e closeapi.Email) bool { return e.Email == email }) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

func contactOf(l demoLead) closeapi.CreatedContact {
	if len(l.Now.Contacts) == 0 {
		return closeapi.CreatedContact{}
	}
	return l.Now.Contacts[0]
}

// Upsert mode: the repeat submitter's Thursday event updates the contact
// and lead Monday's created (the new title, the phone, the demo page), so
// Close holds one lead for them; every other sample is as in create mode.
func TestDemoUpsertOneLeadPerPerson(t *testing.T) {
	all, err := samples.All()
	if err != nil {
		t.Fatal(err)
	}
	res, out, _ := runDemoForTest(t, 0, config.ModeUpsert)
	if len(res.Records) != len(all) || len(res.Mismatches) != 0 {
		t.Fatalf("%d records (want %d), mismatches %v", len(res.Records), len(all), res.Mismatches)
	}
	var delivered int
	byName := map[string]demoRecord{}
	for _, r := range res.Records {
		if r.Got != r.Expect {
			t.Errorf("%s: got %s, want %s", r.Sample, r.Got, r.Expect)
		}
		if r.Got.Outcome == pipeline.Delivered {
			delivered++
			want := pipeline.ActionCreated
			if r.Sample == "repeat-submitter-thursday" {
				want = pipeline.ActionUpdated
			}
			if r.Action != want || r.LeadID == "" {
				t.Errorf("%s: action %q, lead %q; want %q", r.Sample, r.Action, r.LeadID, want)
			}
		}
		byName[r.Sample] = r
	}
	mon, thu := byName["repeat-submitter-monday"], byName["repeat-submitter-thursday"]
	if mon.LeadID != thu.LeadID || mon.ContactID == "" || mon.ContactID != thu.ContactID {
		t.Errorf("Monday's lead/contact %s/%s, Thursday's %s/%s: want the same", mon.LeadID, mon.ContactID, thu.LeadID, thu.ContactID)
	}
	if len(res.Leads) != delivered-1 {
		t.Errorf("Close holds %d leads for %d delivered events, want %d", len(res.Leads), delivered, delivered-1)
	}

	tom := leadsWithEmail(res, repeatEmail)
	if len(tom) != 1 {
		t.Fatalf("upsert mode: %d leads for %s, want 1", len(tom), repeatEmail)
	}
	c := contactOf(tom[0])
	if tom[0].Sample != "repeat-submitter-monday" || c.Title != "Head of Marketing" ||
		len(c.Phones) != 1 || c.Phones[0].Phone != "+4791234567" || len(c.Emails) != 1 {
		t.Errorf("the repeat submitter's lead now: sample %q, contact %+v; want Thursday's title and phone", tom[0].Sample, c)
	}
	if tom[0].Now.URL != "https://example.com/demo" || tom[0].Now.Description != "Demo Requested" ||
		!slices.Equal(tom[0].UpdatedBy, []string{"repeat-submitter-thursday"}) {
		t.Errorf("the repeat submitter's lead now: url %q, description %q, updated by %v",
			tom[0].Now.URL, tom[0].Now.Description, tom[0].UpdatedBy)
	}
	// Close got only what changed: the contact's title and phone, the
	// lead's url and description.
	if len(res.Updates) != 2 {
		t.Fatalf("%d updates, want 2 (contact, lead): %+v", len(res.Updates), res.Updates)
	}
	var cu, lu map[string]any
	if err := json.Unmarshal(res.Updates[0].Body, &cu); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(res.Updates[1].Body, &lu); err != nil {
		t.Fatal(err)
	}
	if res.Updates[0].ID != thu.ContactID || cu["title"] != "Head of Marketing" || cu["phones"] == nil || cu["emails"] != nil || cu["name"] != nil {
		t.Errorf("contact update %s %s", res.Updates[0].ID, res.Updates[0].Body)
	}
	if res.Updates[1].ID != thu.LeadID || lu["url"] != "https://example.com/demo" || lu["name"] != nil || lu["status_id"] != nil {
		t.Errorf("lead update %s %s", res.Updates[1].ID, res.Updates[1].Body)
	}

	for _, s := range []string{
		fmt.Sprintf("Close now holds %d leads for %d delivered lead events: created %d, updated 1, unchanged 0.", delivered-1, delivered, delivered-1),
		"updated    " + thu.LeadID, "PUT /api/v1/contact/" + thu.ContactID + "/", "PUT /api/v1/lead/" + thu.LeadID + "/",
		"now in Close, after updates by repeat-submitter-thursday", `"title": "Head of Marketing"`, "Finished in",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("report lacks %q:\n%s", s, out)
		}
	}
}

// --events cycles through the samples; duplicates get the same outcomes.
func TestDemoEventsCycle(t *testing.T) {
	all, err := samples.All()
	if err != nil {
		t.Fatal(err)
	}
	n := len(all) + 5
	res, _, _ := runDemoForTest(t, n, "")
	if len(res.Records) != n || len(res.Mismatches) != 0 {
		t.Fatalf("%d records (want %d), mismatches %v", len(res.Records), n, res.Mismatches)
	}
	var delivered int
	for _, s := range all[:5] {
		if s.Expect.Outcome == pipeline.Delivered {
			delivered++
		}
	}
	for _, s := range all {
		if s.Expect.Outcome == pipeline.Delivered {
			delivered++
		}
	}
	if len(res.Leads) != delivered {
		t.Fatalf("Close received %d leads, want %d", len(res.Leads), delivered)
	}
}

// `closesink demo --mode upsert` as a user runs it: exit 0, the actions in
// the report; a mode that does not exist is a usage error.
func TestDemoCommandUpsertMode(t *testing.T) {
	r := runToEnd(t, nil, "demo", "--mode", "upsert")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, s := range []string{"closesink run --mode upsert", "repeat-submitter-thursday", "updated", "Updates Close received (2;", "Close now holds"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
	r = runToEnd(t, nil, "demo", "--mode", "merge")
	if r.code != exitConfig || !strings.Contains(r.stderr, "merge") || r.stdout != "" {
		t.Fatalf("--mode merge: exit %d, stdout %q, stderr %q; want exit %d naming the mode", r.code, r.stdout, r.stderr, exitConfig)
	}
}

// `closesink demo` as a user runs it: exit 0, the report on stdout.
func TestDemoCommandExitsZero(t *testing.T) {
	start := time.Now()
	r := runToEnd(t, nil, "demo")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if took := time.Since(start); took > 10*time.Second { // measured: see runDemoForTest
		t.Errorf("closesink demo took %s, want under 10s", took)
	}
	for _, s := range []string{`"name": "Acme Inc"`, "Dead-letter topic", "Outcomes"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "dead-lettered") || strings.Contains(r.stderr, "INFO") {
		t.Errorf("stderr should hold the worker's warn lines only:\n%s", r.stderr)
	}
}

// --events in upsert mode: a repeat of a sample is the same person again,
// so Close still holds one lead per person; a repeat that changes nothing
// sends nothing ("unchanged"), and the repeat submitter's events keep
// updating their one lead.
func TestDemoUpsertEventsCycle(t *testing.T) {
	all, err := samples.All()
	if err != nil {
		t.Fatal(err)
	}
	n := 2 * len(all)
	res, _, _ := runDemoForTest(t, n, config.ModeUpsert)
	if len(res.Records) != n || len(res.Mismatches) != 0 {
		t.Fatalf("%d records (want %d), mismatches %v", len(res.Records), n, res.Mismatches)
	}
	people := 0
	for _, s := range all {
		if s.Expect.Outcome == pipeline.Delivered && s.Name != "repeat-submitter-thursday" {
			people++
		}
	}
	if len(res.Leads) != people || len(leadsWithEmail(res, repeatEmail)) != 1 {
		t.Fatalf("Close holds %d leads (want one per person, %d), %d for %s", len(res.Leads), people,
			len(leadsWithEmail(res, repeatEmail)), repeatEmail)
	}
	acts := res.actionCounts()
	// Second round: Monday's event sets the old title and page back, and
	// Thursday's sets the new ones again; every other person is unchanged.
	if acts[pipeline.ActionCreated] != people || acts[pipeline.ActionUpdated] != 3 || acts[pipeline.ActionUnchanged] != people-1 {
		t.Errorf("actions %v; want created %d, updated 3, unchanged %d", acts, people, people-1)
	}
}
