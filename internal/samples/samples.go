// Package samples holds closesink's sample Signal events: the product page's
// "Example: Lead Submitted", other lead events, a repeat submitter (one
// person's two lead events, days apart), page views, identify calls and the
// real-world mess the worker must survive (no consent, no email, invalid
// emails, records that are not JSON, an empty record). `closesink demo` runs
// them through the real pipeline and `closesink produce-samples` writes them
// to a real cluster.
//
// The events live in the embedded file events.json. Each one carries the
// outcome the worker must give it under the Default preset (see Expect), so
// the file documents the transform's behaviour and the demo's test checks
// every event against it. All names, emails and phone numbers are made up.
package samples

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/pipeline"
)

//go:embed events.json
var eventsJSON []byte

// HeaderSample names the record header that carries the sample's Name, so a
// record can be traced back to its sample (also in the dead-letter topic,
// which keeps the producer's headers).
const HeaderSample = "demo-sample"

// ErrBadSamples is wrapped by every error about the embedded file. It means
// the file was edited into an unusable state; tests catch it.
var ErrBadSamples = errors.New("samples: bad embedded events.json")

// Expect is the outcome a sample must get: Outcome is the pipeline's outcome;
// Reason is the drop reason (no_mapped_name, not_mapped, no_email, no_consent) or
// the dead-letter class (invalid_event, permanent, ...), empty when delivered.
type Expect struct {
	Outcome pipeline.Kind
	Reason  string
}

// String renders "delivered" or "outcome:reason", the form used in events.json.
func (e Expect) String() string {
	if e.Reason == "" {
		return e.Outcome.String()
	}
	return e.Outcome.String() + ":" + e.Reason
}

// ParseExpect reads the events.json form of an Expect.
func ParseExpect(s string) (Expect, error) {
	outcome, reason, _ := strings.Cut(strings.TrimSpace(s), ":")
	for _, k := range []pipeline.Kind{pipeline.Delivered, pipeline.Dropped, pipeline.DeadLettered} {
		if outcome == k.String() && (reason == "") == (k == pipeline.Delivered) {
			return Expect{Outcome: k, Reason: reason}, nil
		}
	}
	return Expect{}, fmt.Errorf("expect %q: want %q, %q or %q", s, pipeline.Delivered, pipeline.Dropped.String()+":<reason>", pipeline.DeadLettered.String()+":<class>")
}

// Sample is one sample event.
type Sample struct {
	Name  string // unique, short, kebab-case
	About string // what the sample shows
	Key   string // the record key (the user or anonymous id); "" for none
	Value []byte // the record value, exactly as produced
	// Expect is the outcome under the Default preset, with Close answering
	// CloseStatus for CloseEmail.
	Expect Expect
	// CloseStatus, when non-zero, is the status the demo's Close emulator
	// answers for leads whose contact email is CloseEmail (a fault, to show
	// a permanent rejection reaching the dead-letter topic).
	CloseStatus int
	CloseEmail  string
}

type fileSample struct {
	Name        string          `json:"name"`
	About       string          `json:"about"`
	Key         string          `json:"key"`
	Expect      string          `json:"expect"`
	Value       json.RawMessage `json:"value"` // a JSON event, compacted when produced
	Raw         *string         `json:"raw"`   // a record that is not a JSON event, byte for byte
	CloseEmail  string          `json:"close_email"`
	CloseStatus int             `json:"close_status"`
}

var parsed = sync.OnceValues(func() ([]Sample, error) { return parse(eventsJSON) })

// All returns every sample in file order. The slice and the byte slices are
// fresh copies, so callers may modify them. It does not block and is safe for
// concurrent use; it fails only if the embedded file is broken.
func All() ([]Sample, error) {
	all, err := parsed()
	if err != nil {
		return nil, err
	}
	out := make([]Sample, len(all))
	for i, s := range all {
		s.Value = bytes.Clone(s.Value)
		out[i] = s
	}
	return out, nil
}

func parse(data []byte) ([]Sample, error) {
	var file []fileSample
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields() // a typo in a field name must not pass silently
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSamples, err)
	}
	if len(file) == 0 {
		return nil, fmt.Errorf("%w: no samples", ErrBadSamples)
	}
	seen := map[string]bool{}
	out := make([]Sample, 0, len(file))
	for i, f := range file {
		s, err := f.sample()
		if err != nil {
			return nil, fmt.Errorf("%w: sample %d (%q): %w", ErrBadSamples, i, f.Name, err)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("%w: sample name %q is used twice", ErrBadSamples, s.Name)
		}
		seen[s.Name] = true
		out = append(out, s)
	}
	return out, nil
}

func (f fileSample) sample() (Sample, error) {
	if f.Name == "" {
		return Sample{}, errors.New("name is empty")
	}
	exp, err := ParseExpect(f.Expect)
	if err != nil {
		return Sample{}, err
	}
	s := Sample{Name: f.Name, About: f.About, Key: f.Key, Expect: exp, CloseStatus: f.CloseStatus, CloseEmail: f.CloseEmail}
	switch {
	case f.Raw != nil && f.Value != nil:
		return Sample{}, errors.New("has both value and raw")
	case f.Raw != nil:
		s.Value = []byte(*f.Raw)
	case f.Value != nil:
		// Producers send compact JSON; the file is indented for reading.
		var buf bytes.Buffer
		if err := json.Compact(&buf, f.Value); err != nil {
			return Sample{}, err
		}
		s.Value = buf.Bytes()
	default:
		return Sample{}, errors.New("has neither value nor raw")
	}
	if (f.CloseStatus != 0) != (f.CloseEmail != "") {
		return Sample{}, errors.New("close_status and close_email go together")
	}
	return s, nil
}

// Record returns s as a record for topic, with the key and the HeaderSample
// header. The record does not share memory with s.
func (s Sample) Record(topic string) *kgo.Record {
	r := &kgo.Record{
		Topic:   topic,
		Value:   bytes.Clone(s.Value),
		Headers: []kgo.RecordHeader{{Key: HeaderSample, Value: []byte(s.Name)}},
	}
	if r.Value == nil {
		r.Value = []byte{} // an empty value, not null: null would be a tombstone
	}
	if s.Key != "" {
		r.Key = []byte(s.Key)
	}
	return r
}

// Records returns count records for topic, cycling through the samples in
// file order; count <= 0 means each sample once. It does not block.
func Records(topic string, count int) ([]*kgo.Record, error) {
	all, err := parsed()
	if err != nil {
		return nil, err
	}
	if count <= 0 {
		count = len(all)
	}
	out := make([]*kgo.Record, count)
	for i := range out {
		out[i] = all[i%len(all)].Record(topic)
		out[i].Value = RepeatValue(out[i].Value, i/len(all))
	}
	return out, nil
}

// RepeatValue is a sample's value in its round-th repeat (round 0 is the
// sample itself): a repeat gets its own messageId ("<id>#2", "#3", ...), so
// cycling makes new events rather than producer repeats, which the worker
// would drop as duplicates. A value that is not a JSON object or has no
// string messageId is returned unchanged.
func RepeatValue(value []byte, round int) []byte {
	if round == 0 {
		return value
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(value, &obj) != nil {
		return value
	}
	var id string
	if json.Unmarshal(obj["messageId"], &id) != nil || id == "" {
		return value
	}
	obj["messageId"], _ = json.Marshal(fmt.Sprintf("%s#%d", id, round+1))
	out, err := json.Marshal(obj)
	if err != nil {
		return value
	}
	return out
}

// CloseStatusForEmail maps each CloseEmail to its CloseStatus, the fault
// table for the Close emulator (closeemu.Faults.StatusForEmail).
func CloseStatusForEmail() (map[string]int, error) {
	all, err := parsed()
	if err != nil {
		return nil, err
	}
	m := map[string]int{}
	for _, s := range all {
		if s.CloseStatus != 0 {
			m[s.CloseEmail] = s.CloseStatus
		}
	}
	return m, nil
}
