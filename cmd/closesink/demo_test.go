package main

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/closesink/closesink/internal/samples"
	"github.com/closesink/closesink/pipeline"
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

func runDemoForTest(t *testing.T, events int) (*demoResult, string, string) {
	t.Helper()
	var out, logs bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	res, err := runDemo(ctx, demoOptions{Events: events, Out: &out, Logs: &logs})
	if err != nil {
		t.Fatalf("runDemo: %v\n%s\n%s", err, out.String(), logs.String())
	}
	// The demo takes well under a second here; 10s is the promise to users,
	// kept even under the race detector on a busy 2-core machine.
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
	res, out, logs := runDemoForTest(t, 0)

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
	for _, s := range []string{pretty.String(), "permanent", "invalid_event", "Finished in", "dropped        not_mapped     8"} {
		if !strings.Contains(out, s) {
			t.Errorf("report lacks %q:\n%s", s, out)
		}
	}

	// The worker's own log lines (shown to the user) mask addresses.
	if strings.Contains(logs, "blocked.buyer@rejected.example") || !strings.Contains(logs, "b***@rejected.example") {
		t.Errorf("worker logs must mask the rejected lead's email:\n%s", logs)
	}
}

// --events cycles through the samples; duplicates get the same outcomes.
func TestDemoEventsCycle(t *testing.T) {
	all, err := samples.All()
	if err != nil {
		t.Fatal(err)
	}
	n := len(all) + 5
	res, _, _ := runDemoForTest(t, n)
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

// `closesink demo` as a user runs it: exit 0, the report on stdout.
func TestDemoCommandExitsZero(t *testing.T) {
	start := time.Now()
	r := runToEnd(t, nil, "demo")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if took := time.Since(start); took > 10*time.Second {
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
