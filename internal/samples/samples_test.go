package samples

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/closesink/closesink/delivery"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/transform"
)

// allSamples is All(), failing the test if the samples do not load.
func allSamples(t *testing.T) []Sample {
	t.Helper()
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// defaultTransformer is the transform under the Default preset.
func defaultTransformer(t *testing.T) *transform.Transformer {
	t.Helper()
	tr, err := transform.New(transform.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestExpectationsMatchTheTransform checks every sample's annotation against
// the real transform under the Default preset. Samples that Close is told to
// reject must be leads as far as the transform is concerned.
func TestExpectationsMatchTheTransform(t *testing.T) {
	all, tr := allSamples(t), defaultTransformer(t)
	for _, s := range all {
		t.Run(s.Name, func(t *testing.T) {
			res := tr.Transform(s.Value)
			var got Expect
			switch res.Kind {
			case transform.KindLead:
				got = Expect{Outcome: pipeline.Delivered}
				if s.CloseStatus != 0 {
					if res.Email() != s.CloseEmail {
						t.Errorf("close_email %q is not the lead's email %q, so the fault would never fire", s.CloseEmail, res.Email())
					}
					// Close's answer decides: what the delivery policy makes
					// of close_status, not what the sample says of itself.
					got = Expect{Outcome: pipeline.DeadLettered, Reason: string(pipeline.ClassRetriesExhausted)}
					if delivery.Classify(s.CloseStatus, nil) == delivery.ClassPermanent {
						got.Reason = string(pipeline.ClassPermanent)
					}
				}
			case transform.KindDropped:
				got = Expect{Outcome: pipeline.Dropped, Reason: string(res.Drop)}
			case transform.KindInvalid:
				got = Expect{Outcome: pipeline.DeadLettered, Reason: "invalid_event"}
			}
			if got != s.Expect {
				t.Errorf("transform gives %s (%v), events.json expects %s", got, res.Err, s.Expect)
			}
		})
	}
}

// TestSampleSetCoversTheBrief pins the mix the demo promises.
func TestSampleSetCoversTheBrief(t *testing.T) {
	all := allSamples(t)
	counts := map[Expect]int{}
	var seed *Sample
	for i, s := range all {
		counts[s.Expect]++
		if s.Name == "seed-lead-submitted" {
			seed = &all[i]
		}
	}
	if len(all) < 24 {
		t.Errorf("%d samples, want a few dozen", len(all))
	}
	for _, e := range []string{"delivered", "dropped:not_mapped", "dropped:no_email", "dropped:no_consent",
		"dead_lettered:invalid_event", "dead_lettered:permanent"} {
		exp, _ := ParseExpect(e)
		if counts[exp] == 0 {
			t.Errorf("no sample expects %s", e)
		}
	}
	if seed == nil || !bytes.Contains(seed.Value, []byte(`"lead_type":"Pricing enquiry"`)) ||
		!bytes.Contains(seed.Value, []byte(`"url":"https://example.com/contact"`)) {
		t.Fatalf("the product page's example is missing or changed")
	}
}

// TestRepeatSubmitter pins the pair the upsert demo is about: one person
// (same key, same email after the transform), two events with their own
// messageIds, Monday's pricing form before Thursday's demo request, which
// brings a new title and a phone Monday's lacked.
func TestRepeatSubmitter(t *testing.T) {
	all, tr := allSamples(t), defaultTransformer(t)
	at := map[string]int{}
	for i, s := range all {
		at[s.Name] = i
	}
	mi, ok1 := at["repeat-submitter-monday"]
	ti, ok2 := at["repeat-submitter-thursday"]
	if !ok1 || !ok2 || mi > ti {
		t.Fatalf("want repeat-submitter-monday before repeat-submitter-thursday (at %d, %d)", mi, ti)
	}
	mon, thu := all[mi], all[ti]
	if mon.Key == "" || mon.Key != thu.Key || mon.Expect != thu.Expect || mon.Expect.Outcome != pipeline.Delivered {
		t.Fatalf("keys %q, %q; expects %s, %s: want one key and delivered", mon.Key, thu.Key, mon.Expect, thu.Expect)
	}
	m, th := tr.Transform(mon.Value), tr.Transform(thu.Value)
	if m.Kind != transform.KindLead || th.Kind != transform.KindLead {
		t.Fatalf("kinds %v, %v: want two leads", m.Kind, th.Kind)
	}
	if m.Email() == "" || m.Email() != th.Email() || m.MessageID == th.MessageID || m.MessageID == "" {
		t.Fatalf("emails %q, %q, messageIds %q, %q: want one email, two events", m.Email(), th.Email(), m.MessageID, th.MessageID)
	}
	if m.Event != "Lead Submitted" || th.Event != "Demo Requested" {
		t.Errorf("events %q, %q", m.Event, th.Event)
	}
	mc, tc := m.Lead.Contacts[0], th.Lead.Contacts[0]
	if mc.Title == tc.Title || tc.Title == "" || len(mc.Phones) != 0 || len(tc.Phones) != 1 {
		t.Errorf("Monday's contact %+v, Thursday's %+v: want a new title and a phone on Thursday only", mc, tc)
	}
	// No other sample is this person: the demo's counts rely on it.
	for i, s := range all {
		if i != mi && i != ti && (s.Key == mon.Key || bytes.Contains(bytes.ToLower(s.Value), []byte(m.Email()))) {
			t.Errorf("sample %s shares the repeat submitter's key or email", s.Name)
		}
	}
}

func TestRecords(t *testing.T) {
	all := allSamples(t)
	recs, err := Records("leads", 0)
	if err != nil || len(recs) != len(all) {
		t.Fatalf("Records(0) = %d records, %v; want %d", len(recs), err, len(all))
	}
	recs, err = Records("leads", len(all)+2)
	if err != nil || len(recs) != len(all)+2 {
		t.Fatalf("Records(n+2) = %d, %v", len(recs), err)
	}
	for i, r := range recs {
		s := all[i%len(all)]
		if r.Topic != "leads" || !bytes.Equal(r.Value, RepeatValue(s.Value, i/len(all))) || string(r.Key) != s.Key {
			t.Fatalf("record %d does not match sample %s", i, s.Name)
		}
		if len(r.Headers) != 1 || r.Headers[0].Key != HeaderSample || string(r.Headers[0].Value) != s.Name {
			t.Fatalf("record %d headers = %v", i, r.Headers)
		}
		if r.Value == nil {
			t.Fatalf("record %d (%s) has a null value; empty records must be empty, not tombstones", i, s.Name)
		}
	}
	if first, again := recs[0].Value, recs[len(all)].Value; bytes.Equal(first, again) || !bytes.Contains(again, []byte(`#2"`)) {
		t.Fatalf("the second round repeats the first's messageId: %s", again)
	}
	// Records and All hand out copies: scribbling on one must not change the next.
	recs[0].Value[0] = 'X'
	again, _ := All()
	again[0].Value[0] = 'Y'
	fresh, _ := All()
	if fresh[0].Value[0] != '{' {
		t.Fatalf("the embedded samples were modified through a returned slice")
	}
}

func TestCloseStatusForEmail(t *testing.T) {
	m, err := CloseStatusForEmail()
	if err != nil {
		t.Fatal(err)
	}
	if m["blocked.buyer@rejected.example"] != 400 || len(m) != 1 {
		t.Fatalf("faults = %v", m)
	}
}

func TestParseExpect(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Expect
		ok   bool
	}{
		{"delivered", Expect{Outcome: pipeline.Delivered}, true},
		{"dropped:no_email", Expect{pipeline.Dropped, "no_email"}, true},
		{"dead_lettered:permanent", Expect{pipeline.DeadLettered, "permanent"}, true},
		{"dropped", Expect{}, false},
		{"delivered:fast", Expect{}, false},
		{"lost:it", Expect{}, false},
		{"", Expect{}, false},
	} {
		got, err := ParseExpect(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseExpect(%q) = %v, %v", tc.in, got, err)
		}
		if tc.ok && got.String() != tc.in {
			t.Errorf("String() = %q, want %q", got.String(), tc.in)
		}
	}
}

func TestParseRejectsBrokenFiles(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"not json", `[`, "unexpected EOF"},
		{"empty list", `[]`, "no samples"},
		{"unknown field", `[{"name":"a","expect":"delivered","value":{},"expected":"x"}]`, "unknown field"},
		{"no name", `[{"expect":"delivered","value":{}}]`, "name is empty"},
		{"bad expect", `[{"name":"a","expect":"dropped","value":{}}]`, "expect"},
		{"both", `[{"name":"a","expect":"delivered","value":{},"raw":"x"}]`, "both"},
		{"neither", `[{"name":"a","expect":"delivered"}]`, "neither"},
		{"duplicate", `[{"name":"a","expect":"delivered","raw":""},{"name":"a","expect":"delivered","raw":""}]`, "twice"},
		{"half a fault", `[{"name":"a","expect":"delivered","raw":"","close_status":400}]`, "together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse([]byte(tc.file))
			if !errors.Is(err, ErrBadSamples) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrBadSamples mentioning %q", err, tc.want)
			}
		})
	}
}
