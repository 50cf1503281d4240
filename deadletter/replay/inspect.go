package replay

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/transform"
)

// Entry is one dead-letter record as `closesink dlq list` shows it.
type Entry struct {
	DLQPartition    int32  `json:"dlq_partition"`
	DLQOffset       int64  `json:"dlq_offset"`
	SourceTopic     string `json:"source_topic"`
	SourcePartition int32  `json:"source_partition"`
	SourceOffset    int64  `json:"source_offset"`
	Class           string `json:"class"`
	Status          int    `json:"status,omitempty"` // 0: no HTTP response
	Message         string `json:"message"`
	FailedAt        string `json:"failed_at"` // RFC 3339, "" when unknown
	Replays         int    `json:"replays"`
	Attempts        int    `json:"attempts"`
	Email           string `json:"email"` // masked unless showPII; "" when the value has none
}

// NewEntry describes rec. Emails (in the value and in the error message) are
// masked unless showPII. It never panics on any record.
func NewEntry(rec *kgo.Record, showPII bool) Entry {
	info, _ := deadletter.Parse(rec)
	e := Entry{
		DLQPartition: rec.Partition, DLQOffset: rec.Offset,
		SourceTopic: info.SourceTopic, SourcePartition: info.SourcePartition, SourceOffset: info.SourceOffset,
		Class: string(info.Class), Status: info.HTTPStatus, Message: info.Message,
		Replays: info.Replays, Attempts: info.Attempts, Email: emailOf(rec.Value),
	}
	if !info.FailedAt.IsZero() {
		e.FailedAt = info.FailedAt.UTC().Format(time.RFC3339)
	}
	if !showPII {
		e.Message = transform.MaskText(e.Message)
		if e.Email != "" {
			e.Email = transform.MaskEmail(e.Email)
		}
	}
	return e
}

// Text is the one-line human form:
// "dlq 0@17  orders/2@4411  permanent  401  2026-05-01T10:00:00Z  replays=0  j***@acme.com  "Unauthorized"".
func (e Entry) Text() string {
	status, failed, email := "-", e.FailedAt, e.Email
	if e.Status > 0 {
		status = strconv.Itoa(e.Status)
	}
	if failed == "" {
		failed = "-"
	}
	if email == "" {
		email = "-"
	}
	src := "-"
	if e.SourceTopic != "" {
		src = fmt.Sprintf("%s/%d@%d", e.SourceTopic, e.SourcePartition, e.SourceOffset)
	}
	class := e.Class
	if class == "" {
		class = "-"
	}
	return fmt.Sprintf("dlq %d@%d  %s  %s  %s  %s  replays=%d  %s  %q",
		e.DLQPartition, e.DLQOffset, src, class, status, failed, e.Replays, email, e.Message)
}

// emailOf finds the email trait of a Signal event (top-level traits win over
// context.traits, as in the transform); "" when there is none.
func emailOf(value []byte) string {
	var ev struct {
		Traits  map[string]json.RawMessage `json:"traits"`
		Context struct {
			Traits map[string]json.RawMessage `json:"traits"`
		} `json:"context"`
	}
	if json.Unmarshal(value, &ev) != nil {
		return ""
	}
	for _, traits := range []map[string]json.RawMessage{ev.Traits, ev.Context.Traits} {
		var s string
		if raw, ok := traits["email"]; ok && json.Unmarshal(raw, &s) == nil && s != "" {
			return s
		}
	}
	return ""
}

// Stats aggregates dead-letter records for `closesink dlq stats`. The zero
// value is ready; not safe for concurrent use.
type Stats struct {
	Total    int            `json:"total"`
	ByClass  map[string]int `json:"by_class"`
	ByStatus map[string]int `json:"by_status"` // "401", or "none" without an HTTP response
	ByDay    map[string]int `json:"by_day"`    // UTC day of failed_at, "unknown" when missing
	Oldest   *time.Time     `json:"oldest_failure,omitempty"`
	Newest   *time.Time     `json:"newest_failure,omitempty"`
	// Partitions are the ranges read (set by the caller).
	Partitions []PartitionStats `json:"partitions"`
}

// PartitionStats are the offsets of one DLQ partition.
type PartitionStats struct {
	Partition int32 `json:"partition"`
	Start     int64 `json:"start"`     // oldest stored offset
	End       int64 `json:"end"`       // next offset to be written
	From      int64 `json:"from"`      // where this report started reading
	Committed int64 `json:"committed"` // replay group's offset, -1 when none
	Counted   int64 `json:"counted"`   // records in [From, End)
}

// SetRanges records the partitions a report covers.
func (s *Stats) SetRanges(ranges []deadletter.Range) {
	s.Partitions = s.Partitions[:0]
	for _, r := range ranges {
		s.Partitions = append(s.Partitions, PartitionStats{Partition: r.Partition, Start: r.Start, End: r.To,
			From: r.From, Committed: r.Committed, Counted: r.Pending()})
	}
}

// Add counts one record.
func (s *Stats) Add(rec *kgo.Record) {
	if s.ByClass == nil {
		s.ByClass, s.ByStatus, s.ByDay = map[string]int{}, map[string]int{}, map[string]int{}
	}
	info, _ := deadletter.Parse(rec)
	s.Total++
	class := string(info.Class)
	if class == "" {
		class = "unknown"
	}
	s.ByClass[class]++
	status := "none"
	if info.HTTPStatus > 0 {
		status = strconv.Itoa(info.HTTPStatus)
	}
	s.ByStatus[status]++
	if t := info.FailedAt; t.IsZero() {
		s.ByDay["unknown"]++
	} else {
		t = t.UTC()
		s.ByDay[t.Format(time.DateOnly)]++
		if s.Oldest == nil || t.Before(*s.Oldest) {
			s.Oldest = &t
		}
		if s.Newest == nil || t.After(*s.Newest) {
			s.Newest = &t
		}
	}
}

// WriteText writes the human report.
func (s *Stats) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "records\t%d\n", s.Total)
	if s.Oldest != nil {
		fmt.Fprintf(tw, "oldest failure\t%s\n", s.Oldest.Format(time.RFC3339))
		fmt.Fprintf(tw, "newest failure\t%s\n", s.Newest.Format(time.RFC3339))
	}
	fmt.Fprintln(tw, "\npartition\tstart\tend\tfrom\tcommitted\trecords")
	for _, p := range s.Partitions {
		committed := "-"
		if p.Committed >= 0 {
			committed = strconv.FormatInt(p.Committed, 10)
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%s\t%d\n", p.Partition, p.Start, p.End, p.From, committed, p.Counted)
	}
	for _, sec := range []struct {
		title string
		m     map[string]int
	}{{"class", s.ByClass}, {"http status", s.ByStatus}, {"day (failed_at, UTC)", s.ByDay}} {
		fmt.Fprintf(tw, "\n%s\trecords\n", sec.title)
		for _, k := range sortedKeys(sec.m) {
			fmt.Fprintf(tw, "%s\t%d\n", k, sec.m[k])
		}
	}
	return tw.Flush()
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
