package replay

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/pipeline"
)

var now = time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)

func TestParseFilter(t *testing.T) {
	tests := []struct {
		name                            string
		classes, statuses, since, until string
		want                            Filter
		wantErr                         string // substring; "" = no error
	}{
		{name: "empty selects all", want: Filter{}},
		{name: "classes trimmed and deduplicated", classes: " permanent, invalid_event,permanent,",
			want: Filter{Classes: []pipeline.Class{pipeline.ClassPermanent, pipeline.ClassInvalidEvent}}},
		{name: "statuses", statuses: "401, 403,401", want: Filter{Statuses: []int{401, 403}}},
		{name: "rfc3339", since: "2026-05-01T09:00:00Z", until: "2026-05-02T09:00:00+02:00",
			want: Filter{Since: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC), Until: time.Date(2026, 5, 2, 7, 0, 0, 0, time.UTC)}},
		{name: "date", since: "2026-05-01", want: Filter{Since: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)}},
		{name: "duration ago", since: "24h", until: "90m",
			want: Filter{Since: now.Add(-24 * time.Hour), Until: now.Add(-90 * time.Minute)}},
		{name: "days ago", since: "7d", want: Filter{Since: now.Add(-7 * 24 * time.Hour)}},
		{name: "unknown class", classes: "permanent,fatal", wantErr: `unknown error class "fatal"`},
		{name: "status not a number", statuses: "401,abc", wantErr: `"abc" is not an HTTP status`},
		{name: "status out of range", statuses: "42", wantErr: `"42" is not an HTTP status`},
		{name: "bad since", since: "yesterday", wantErr: "--since"},
		{name: "negative duration", until: "-5m", wantErr: "--until"},
		{name: "zero duration", since: "0s", wantErr: "--since"},
		{name: "bad days", since: "xd", wantErr: "--since"},
		{name: "since after until", since: "1h", until: "2h", wantErr: "must be before"},
		{name: "since equals until", since: "2026-05-01", until: "2026-05-01T00:00:00Z", wantErr: "must be before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFilter(strings.Split(tt.classes, ","), strings.Split(tt.statuses, ","), tt.since, tt.until, now)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrInvalidFilter) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrInvalidFilter containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Since.Equal(tt.want.Since) || !got.Until.Equal(tt.want.Until) {
				t.Fatalf("times = %v..%v, want %v..%v", got.Since, got.Until, tt.want.Since, tt.want.Until)
			}
			got.Since, got.Until, tt.want.Since, tt.want.Until = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestFilterMatch(t *testing.T) {
	at := func(s string) time.Time { tm, _ := time.Parse(time.RFC3339, s); return tm }
	info := func(c pipeline.Class, status int, failed string) deadletter.Info {
		i := deadletter.Info{Failure: pipeline.Failure{Class: c, HTTPStatus: status}}
		if failed != "" {
			i.FailedAt = at(failed)
		}
		return i
	}
	window := Filter{Since: at("2026-05-01T00:00:00Z"), Until: at("2026-05-02T00:00:00Z")}
	tests := []struct {
		name   string
		filter Filter
		info   deadletter.Info
		want   bool
	}{
		{"zero filter matches anything", Filter{}, deadletter.Info{}, true},
		{"class in list", Filter{Classes: []pipeline.Class{"permanent", "invalid_event"}}, info("invalid_event", 0, ""), true},
		{"class not in list", Filter{Classes: []pipeline.Class{"permanent"}}, info("retries_exhausted", 503, ""), false},
		{"status in list", Filter{Statuses: []int{401, 403}}, info("permanent", 403, ""), true},
		{"status not in list", Filter{Statuses: []int{401}}, info("permanent", 400, ""), false},
		{"no status never matches a status filter", Filter{Statuses: []int{401}}, info("invalid_event", 0, ""), false},
		{"class and status both needed", Filter{Classes: []pipeline.Class{"permanent"}, Statuses: []int{401}}, info("retries_exhausted", 401, ""), false},
		{"since is inclusive", window, info("permanent", 401, "2026-05-01T00:00:00Z"), true},
		{"until is exclusive", window, info("permanent", 401, "2026-05-02T00:00:00Z"), false},
		{"before since", window, info("permanent", 401, "2026-04-30T23:59:59Z"), false},
		{"inside window", window, info("permanent", 401, "2026-05-01T13:00:00Z"), true},
		{"unknown failure time never matches a time bound", Filter{Since: at("2020-01-01T00:00:00Z")}, info("permanent", 401, ""), false},
		{"unknown failure time vs until", Filter{Until: at("2030-01-01T00:00:00Z")}, info("permanent", 401, ""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter.Match(tt.info); got != tt.want {
				t.Fatalf("Match = %v, want %v (filter %s)", got, tt.want, tt.filter)
			}
		})
	}
}

func TestFilterString(t *testing.T) {
	f, err := ParseFilter([]string{"permanent"}, []string{"401", "403"}, "2026-05-01", "", now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.String(), "class=permanent status=401,403 since=2026-05-01T00:00:00Z"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
	if got := (Filter{}).String(); got != "all" {
		t.Fatalf("zero String = %q", got)
	}
	if !(Filter{}).IsZero() || f.IsZero() {
		t.Fatal("IsZero wrong")
	}
}
