package replay

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/pipeline"
)

// ErrInvalidFilter is wrapped by every error ParseFilter returns.
var ErrInvalidFilter = errors.New("replay: invalid filter")

// Filter selects dead-letter records by their headers. Empty fields select
// everything; set fields must all match.
type Filter struct {
	// Classes selects records whose closesink.error.class is one of these.
	Classes []pipeline.Class
	// Statuses selects records whose closesink.error.status is one of
	// these; a record without an HTTP status (invalid_event) never matches.
	Statuses []int
	// Since and Until bound closesink.failed_at: Since <= failed_at < Until.
	// A record without a readable failed_at never matches a time bound.
	Since, Until time.Time
}

// IsZero reports whether f selects every record.
func (f Filter) IsZero() bool {
	return len(f.Classes) == 0 && len(f.Statuses) == 0 && f.Since.IsZero() && f.Until.IsZero()
}

// Match reports whether the record described by info is selected.
func (f Filter) Match(info deadletter.Info) bool {
	if len(f.Classes) > 0 && !slices.Contains(f.Classes, info.Class) {
		return false
	}
	if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, info.HTTPStatus) {
		return false
	}
	if !f.Since.IsZero() && (info.FailedAt.IsZero() || info.FailedAt.Before(f.Since)) {
		return false
	}
	if !f.Until.IsZero() && (info.FailedAt.IsZero() || !info.FailedAt.Before(f.Until)) {
		return false
	}
	return true
}

// String describes f for logs and the summary, e.g.
// "class=permanent status=401,403 since=2026-05-01T00:00:00Z", or "all".
func (f Filter) String() string {
	var parts []string
	if len(f.Classes) > 0 {
		cs := make([]string, len(f.Classes))
		for i, c := range f.Classes {
			cs[i] = string(c)
		}
		parts = append(parts, "class="+strings.Join(cs, ","))
	}
	if len(f.Statuses) > 0 {
		ss := make([]string, len(f.Statuses))
		for i, s := range f.Statuses {
			ss[i] = strconv.Itoa(s)
		}
		parts = append(parts, "status="+strings.Join(ss, ","))
	}
	if !f.Since.IsZero() {
		parts = append(parts, "since="+f.Since.UTC().Format(time.RFC3339))
	}
	if !f.Until.IsZero() {
		parts = append(parts, "until="+f.Until.UTC().Format(time.RFC3339))
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, " ")
}

// ParseFilter builds a Filter from command-line values: classes and statuses
// are lists (blank items are ignored), since and until are times for
// ParseTime relative to now. Empty values leave that part of the filter unset.
func ParseFilter(classes, statuses []string, since, until string, now time.Time) (Filter, error) {
	var f Filter
	for _, s := range nonBlank(classes) {
		c, err := pipeline.ParseClass(s)
		if err != nil {
			return Filter{}, fmt.Errorf("%w: --class: %w", ErrInvalidFilter, err)
		}
		if !slices.Contains(f.Classes, c) {
			f.Classes = append(f.Classes, c)
		}
	}
	for _, s := range nonBlank(statuses) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 || n > 599 {
			return Filter{}, fmt.Errorf("%w: --status: %q is not an HTTP status code (100-599)", ErrInvalidFilter, s)
		}
		if !slices.Contains(f.Statuses, n) {
			f.Statuses = append(f.Statuses, n)
		}
	}
	var err error
	if f.Since, err = ParseTime(since, now); err != nil {
		return Filter{}, fmt.Errorf("%w: --since: %w", ErrInvalidFilter, err)
	}
	if f.Until, err = ParseTime(until, now); err != nil {
		return Filter{}, fmt.Errorf("%w: --until: %w", ErrInvalidFilter, err)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return Filter{}, fmt.Errorf("%w: --since (%s) must be before --until (%s)", ErrInvalidFilter,
			f.Since.UTC().Format(time.RFC3339), f.Until.UTC().Format(time.RFC3339))
	}
	return f, nil
}

// ParseTime reads an absolute RFC 3339 time ("2026-05-01T09:00:00Z"), a date
// ("2026-05-01", midnight UTC), or a duration meaning "now minus" ("90m",
// "24h", "7d"; d is 24 hours). "" is the zero time (no bound).
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	d, err := parseAgo(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-05-01T09:00:00Z), a date (2026-05-01) nor a duration ago (24h, 7d)", s)
	}
	return now.Add(-d), nil
}

// parseAgo is time.ParseDuration plus a whole-days form ("7d"), rejecting
// negative and zero values: "since 0s ago" is a typo, not a filter.
func parseAgo(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n > 100000 {
			return 0, errors.New("bad days")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, err
		}
	}
	if d <= 0 {
		return 0, errors.New("not positive")
	}
	return d, nil
}

// nonBlank returns the trimmed items that are not blank.
func nonBlank(items []string) []string {
	out := make([]string, 0, len(items))
	for _, s := range items {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
