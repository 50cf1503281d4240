package replay

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/transform"
)

const janeEvent = `{"type":"track","event":"Lead Submitted",
 "traits":{"email":"jane.doe@acme.com","phone":"+44 7700 900123","firstName":"Jane","lastName":"Doe"},
 "context":{"consent":{"marketing":true}}}`

func TestPreviewDescribe(t *testing.T) {
	tr, err := transform.New(transform.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		showPII bool
		max     int
		value   string
		want    []string // substrings that must appear
		notWant []string // substrings that must not
	}{
		{name: "lead masked", value: janeEvent,
			want:    []string{`send {"name":"D***"`, `"name":"J*** D***"`, `"email":"j***@acme.com"`, `"phone":"+**********23"`},
			notWant: []string{"jane.doe", "Jane", "Doe\"", "7700"}},
		{name: "lead with PII", value: janeEvent, showPII: true,
			want: []string{`send {"name":"Doe"`, `"name":"Jane Doe"`, `"email":"jane.doe@acme.com"`, `"phone":"+447700900123"`}},
		{name: "company is not masked", value: strings.Replace(janeEvent, `"lastName":"Doe"`, `"lastName":"Doe","company":"Acme Inc"`, 1),
			want: []string{`send {"name":"Acme Inc"`}},
		{name: "email as lead name", value: `{"type":"track","event":"Signed Up","traits":{"email":"solo@x.io"},"context":{"consent":{"marketing":true}}}`,
			want: []string{`send {"name":"s***@x.io"`}, notWant: []string{"solo@"}},
		{name: "dropped", value: `{"type":"page","name":"Pricing"}`, want: []string{"drop no_mapped_name"}},
		{name: "no consent", value: strings.Replace(janeEvent, "true", "false", 1), want: []string{"drop no_consent"}},
		{name: "invalid", value: "not json", want: []string{"dead-letter invalid_event: invalid event: not JSON"}},
		{name: "too large", value: janeEvent, max: 10, want: []string{"dead-letter invalid_event: record value is", "10-byte limit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Preview{Transformer: tr, ShowPII: tt.showPII, MaxRecordBytes: tt.max}.Describe([]byte(tt.value))
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("%s\nlacks %s", got, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("%s\nshows %s", got, w)
				}
			}
		})
	}
}

func dlqRecord(t *testing.T, value string, f pipeline.Failure) *kgo.Record {
	t.Helper()
	src := &kgo.Record{Topic: "leads", Partition: 2, Offset: 4411, Value: []byte(value),
		Timestamp: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	r := deadletter.Build("leads.dlq", src, f)
	r.Partition, r.Offset = 0, 17
	return r
}

func TestEntry(t *testing.T) {
	failed := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	rec := dlqRecord(t, janeEvent, pipeline.Failure{Class: pipeline.ClassPermanent, HTTPStatus: 401,
		Message: "Unauthorized for jane.doe@acme.com", Attempts: 1, FailedAt: failed})

	e := NewEntry(rec, false)
	want := `dlq 0@17  leads/2@4411  permanent  401  2026-05-01T10:00:00Z  replays=0  j***@acme.com  "Unauthorized for j***@acme.com"`
	if got := e.Text(); got != want {
		t.Fatalf("Text =\n%s\nwant\n%s", got, want)
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(e); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"dlq_partition": 0.0, "dlq_offset": 17.0, "source_topic": "leads", "source_partition": 2.0,
		"source_offset": 4411.0, "class": "permanent", "status": 401.0, "failed_at": "2026-05-01T10:00:00Z",
		"replays": 0.0, "attempts": 1.0, "email": "j***@acme.com"} {
		if m[k] != v {
			t.Errorf("json %s = %v, want %v", k, m[k], v)
		}
	}
	if pii := NewEntry(rec, true); pii.Email != "jane.doe@acme.com" || !strings.Contains(pii.Message, "jane.doe@acme.com") {
		t.Errorf("show-pii entry: %+v", pii)
	}

	// Context traits are read too; a value that is not an event has no email;
	// a record without closesink headers prints dashes.
	ctxOnly := dlqRecord(t, `{"context":{"traits":{"email":"ctx@x.io"}}}`, pipeline.Failure{Class: pipeline.ClassInvalidEvent})
	if e := NewEntry(ctxOnly, true); e.Email != "ctx@x.io" || e.Status != 0 {
		t.Errorf("context email entry: %+v", e)
	}
	bare := NewEntry(&kgo.Record{Value: []byte("\xff garbage")}, false)
	if got := bare.Text(); got != `dlq 0@0  -  -  -  -  replays=0  -  ""` {
		t.Errorf("bare Text = %s", got)
	}
}

func TestStats(t *testing.T) {
	day1 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	day2 := time.Date(2026, 5, 2, 23, 30, 0, 0, time.FixedZone("x", -2*3600)) // 2026-05-03 UTC
	var s Stats
	s.SetRanges([]deadletter.Range{{Partition: 0, Start: 3, From: 5, To: 9, Committed: 5}, {Partition: 1, To: 0, Committed: -1}})
	for _, f := range []pipeline.Failure{
		{Class: pipeline.ClassPermanent, HTTPStatus: 401, FailedAt: day1},
		{Class: pipeline.ClassPermanent, HTTPStatus: 401, FailedAt: day2},
		{Class: pipeline.ClassInvalidEvent, FailedAt: day1.Add(time.Hour)},
	} {
		s.Add(dlqRecord(t, "{}", f))
	}
	s.Add(&kgo.Record{Value: []byte("foreign")})

	if s.Total != 4 || s.ByClass["permanent"] != 2 || s.ByClass["invalid_event"] != 1 || s.ByClass["unknown"] != 1 {
		t.Fatalf("by class %v total %d", s.ByClass, s.Total)
	}
	if s.ByStatus["401"] != 2 || s.ByStatus["none"] != 2 {
		t.Fatalf("by status %v", s.ByStatus)
	}
	if s.ByDay["2026-05-01"] != 2 || s.ByDay["2026-05-03"] != 1 || s.ByDay["unknown"] != 1 {
		t.Fatalf("by day %v", s.ByDay)
	}
	if !s.Oldest.Equal(day1) || !s.Newest.Equal(day2) {
		t.Fatalf("oldest %v newest %v", s.Oldest, s.Newest)
	}
	var buf bytes.Buffer
	if err := s.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, w := range []string{"records         4", "oldest failure  2026-05-01T10:00:00Z", "newest failure  2026-05-03T01:30:00Z",
		"0          3      9    5     5          4", "1          0      0    0     -          0", "401", "2026-05-03"} {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q:\n%s", w, out)
		}
	}
}
