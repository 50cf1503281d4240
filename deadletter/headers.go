// Package deadletter writes records whose outcome is a failure to the
// dead-letter topic, reads them back, and replays them.
//
// The header contract (docs/design.md §5): the original key, value and headers are
// copied unchanged and closesink adds the headers named by the constants
// below. A record that is dead-lettered again during a replay keeps its
// original closesink.source.* headers, gets fresh error headers and has
// closesink.replays incremented, so an operator can always tell where a lead
// came from and how often it was tried.
package deadletter

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/pipeline"
)

// Header names of the dead-letter contract.
const (
	HeaderClass           = "closesink.error.class"
	HeaderStatus          = "closesink.error.status"
	HeaderMessage         = "closesink.error.message"
	HeaderSourceTopic     = "closesink.source.topic"
	HeaderSourcePartition = "closesink.source.partition"
	HeaderSourceOffset    = "closesink.source.offset"
	HeaderSourceTimestamp = "closesink.source.timestamp"
	HeaderAttempts        = "closesink.attempts"
	HeaderFailedAt        = "closesink.failed_at"
	HeaderReplays         = "closesink.replays"
	// HeaderValueOmitted is set (to the original value's size in bytes)
	// when the value was too large for the dead-letter topic and was left
	// out; the record's source headers say where to read it.
	HeaderValueOmitted = "closesink.value_omitted"
	// HeaderKeyOmitted (the key's size) and HeaderHeadersOmitted (how many
	// of the producer's headers) are set when even the record without its
	// value was too large, so the key and the producer's headers were left
	// out too. The source headers still say where the original is.
	HeaderKeyOmitted     = "closesink.key_omitted"
	HeaderHeadersOmitted = "closesink.headers_omitted"

	headerPrefix = "closesink."
	// MaxMessageBytes bounds closesink.error.message (docs/design.md §5).
	MaxMessageBytes = 1024
)

// Info is what the dead-letter headers of a record say.
type Info struct {
	pipeline.Failure
	SourceTopic     string
	SourcePartition int32
	SourceOffset    int64
	SourceTimestamp time.Time
	Replays         int
	// ValueOmitted is the size of a value that was too large for the DLQ
	// and was left out (0: the value is here). Such a record cannot be
	// replayed from the DLQ; its source position still holds the value.
	ValueOmitted int
	// KeyOmitted and HeadersOmitted: see HeaderKeyOmitted.
	KeyOmitted, HeadersOmitted int
}

// Build returns the record to write to the dead-letter topic for src.
//
// If src was read from the dead-letter topic itself, it is being replayed:
// its source headers and omission markers are kept and closesink.replays is
// incremented. Otherwise the source headers describe src, whatever
// closesink.* headers a producer put on it (they are not trusted as
// provenance, and are dropped). Build does not modify src.
func Build(dlqTopic string, src *kgo.Record, f pipeline.Failure) *kgo.Record {
	prev, isReplay := Parse(src)
	isReplay = isReplay && src.Topic == dlqTopic
	out := &kgo.Record{Topic: dlqTopic, Key: src.Key, Value: src.Value}
	out.Headers = make([]kgo.RecordHeader, 0, len(src.Headers)+10)
	for _, h := range src.Headers {
		if !strings.HasPrefix(h.Key, headerPrefix) {
			out.Headers = append(out.Headers, h)
		}
	}
	add := func(k, v string) { out.Headers = append(out.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)}) }
	add(HeaderClass, string(f.Class))
	if f.HTTPStatus > 0 {
		add(HeaderStatus, strconv.Itoa(f.HTTPStatus))
	}
	add(HeaderMessage, truncate(f.Message, MaxMessageBytes))
	replays := 0
	if isReplay {
		add(HeaderSourceTopic, prev.SourceTopic)
		add(HeaderSourcePartition, strconv.FormatInt(int64(prev.SourcePartition), 10))
		add(HeaderSourceOffset, strconv.FormatInt(prev.SourceOffset, 10))
		add(HeaderSourceTimestamp, formatTime(prev.SourceTimestamp))
		replays = prev.Replays + 1
	} else {
		add(HeaderSourceTopic, src.Topic)
		add(HeaderSourcePartition, strconv.FormatInt(int64(src.Partition), 10))
		add(HeaderSourceOffset, strconv.FormatInt(src.Offset, 10))
		add(HeaderSourceTimestamp, formatTime(src.Timestamp))
	}
	add(HeaderAttempts, strconv.Itoa(f.Attempts))
	failedAt := f.FailedAt
	if failedAt.IsZero() {
		failedAt = time.Now()
	}
	add(HeaderFailedAt, formatTime(failedAt))
	if replays > 0 {
		add(HeaderReplays, strconv.Itoa(replays))
	}
	if isReplay {
		for _, m := range []struct {
			key string
			n   int
		}{{HeaderValueOmitted, prev.ValueOmitted}, {HeaderKeyOmitted, prev.KeyOmitted}, {HeaderHeadersOmitted, prev.HeadersOmitted}} {
			if m.n > 0 {
				add(m.key, strconv.Itoa(m.n))
			}
		}
	}
	return out
}

// FromDLQ reports whether rec was read from the dead-letter topic dlqTopic.
func FromDLQ(dlqTopic string, rec *kgo.Record) bool { return rec.Topic == dlqTopic }

// Parse reads the dead-letter headers of rec. ok is false when rec carries no
// closesink.source.topic header (it is not a dead-letter record). Malformed
// numeric headers read as zero: a damaged header must not make a lead
// unreplayable.
func Parse(rec *kgo.Record) (info Info, ok bool) {
	for _, h := range rec.Headers {
		v := string(h.Value)
		switch h.Key {
		case HeaderClass:
			info.Class = pipeline.Class(v)
		case HeaderStatus:
			info.HTTPStatus, _ = strconv.Atoi(v)
		case HeaderMessage:
			info.Message = v
		case HeaderSourceTopic:
			info.SourceTopic, ok = v, true
		case HeaderSourcePartition:
			p, _ := strconv.ParseInt(v, 10, 32)
			info.SourcePartition = int32(p)
		case HeaderSourceOffset:
			info.SourceOffset, _ = strconv.ParseInt(v, 10, 64)
		case HeaderSourceTimestamp:
			info.SourceTimestamp, _ = time.Parse(time.RFC3339Nano, v)
		case HeaderAttempts:
			info.Attempts, _ = strconv.Atoi(v)
		case HeaderFailedAt:
			info.FailedAt, _ = time.Parse(time.RFC3339Nano, v)
		case HeaderReplays:
			info.Replays, _ = strconv.Atoi(v)
		case HeaderValueOmitted:
			info.ValueOmitted, _ = strconv.Atoi(v)
		case HeaderKeyOmitted:
			info.KeyOmitted, _ = strconv.Atoi(v)
		case HeaderHeadersOmitted:
			info.HeadersOmitted, _ = strconv.Atoi(v)
		}
	}
	return info, ok
}

// OriginalHeaders returns rec's headers without closesink's own, i.e. the
// headers the producer of the source record wrote.
func OriginalHeaders(rec *kgo.Record) []kgo.RecordHeader {
	var out []kgo.RecordHeader
	for _, h := range rec.Headers {
		if !strings.HasPrefix(h.Key, headerPrefix) {
			out = append(out, h)
		}
	}
	return out
}

// RepublishHeaders are the headers of a DLQ record republished to another
// topic (replay --to-topic): the producer's headers plus the source pointer,
// so the record's origin is not lost. The service does not trust them as
// provenance if the record fails again (Build describes its new position).
func RepublishHeaders(rec *kgo.Record) []kgo.RecordHeader {
	out := OriginalHeaders(rec)
	for _, h := range rec.Headers {
		switch h.Key {
		case HeaderSourceTopic, HeaderSourcePartition, HeaderSourceOffset, HeaderSourceTimestamp:
			out = append(out, h)
		}
	}
	return out
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// truncate cuts s to at most n bytes at a rune boundary and drops invalid
// UTF-8, so a header value is always valid text.
func truncate(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
