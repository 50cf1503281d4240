package kafkatest

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestChooseBackend(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		env       map[string]string
		docker    bool
		want      string
		wantErr   string
		noProbing bool // Docker must not be probed: it is slow where absent
	}{
		{name: "brokers set", env: map[string]string{EnvBrokers: "127.0.0.1:19092"}, want: NameExternal, noProbing: true},
		{name: "brokers win over a forced backend", env: map[string]string{EnvBrokers: "a:1,b:2", EnvBackend: NameKfake}, want: NameExternal, noProbing: true},
		{name: "blank brokers count as unset", env: map[string]string{EnvBrokers: " , "}, docker: false, want: NameKfake},
		{name: "docker healthy", docker: true, want: NameTestcontainers},
		{name: "no docker", docker: false, want: NameKfake},
		{name: "forced kfake despite docker", env: map[string]string{EnvBackend: "kfake"}, docker: true, want: NameKfake, noProbing: true},
		{name: "forced testcontainers", env: map[string]string{EnvBackend: " testcontainers "}, want: NameTestcontainers, noProbing: true},
		{name: "forced external without brokers", env: map[string]string{EnvBackend: "external"}, wantErr: "needs KAFKA_BROKERS", noProbing: true},
		{name: "unknown backend", env: map[string]string{EnvBackend: "redpanda"}, wantErr: `"redpanda"`, noProbing: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			probed := false
			got, err := chooseBackend(
				func(k string) string { return tt.env[k] },
				func() bool { probed = true; return tt.docker },
			)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tt.want {
				t.Errorf("backend = %q, want %q", got, tt.want)
			}
			if tt.noProbing && probed {
				t.Errorf("Docker was probed although the choice did not need it")
			}
		})
	}
}

func TestParseBrokers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ,", nil},
		{"127.0.0.1:19092", []string{"127.0.0.1:19092"}},
		{" a:1 ,b:2,, c:3 ", []string{"a:1", "b:2", "c:3"}},
	}
	for _, tt := range tests {
		if got := parseBrokers(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("parseBrokers(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

var legalName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func TestUniqueName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		subtest    string
		prefix     string
		wantPrefix string
	}{
		{subtest: "plain", prefix: "group", wantPrefix: "group-TestUniqueName-plain-"},
		{subtest: "no prefix", prefix: "", wantPrefix: "TestUniqueName-no_prefix-"},
		{subtest: "odd: chars/ünïcode.dots", prefix: "g.1", wantPrefix: "g-1-TestUniqueName-odd-_chars-n-code-dots-"},
		{subtest: strings.Repeat("long", 100), prefix: "dlq", wantPrefix: "dlq-TestUniqueName-longlong"},
	}
	for _, tt := range tests {
		t.Run(tt.subtest, func(t *testing.T) {
			t.Parallel()
			a, b := UniqueName(t, tt.prefix), UniqueName(t, tt.prefix)
			if a == b {
				t.Errorf("two calls returned the same name %q", a)
			}
			for _, name := range []string{a, b} {
				if !strings.HasPrefix(name, tt.wantPrefix) {
					t.Errorf("name %q, want prefix %q", name, tt.wantPrefix)
				}
				if !legalName.MatchString(name) || len(name) > 199 {
					t.Errorf("name %q (%d bytes) is not a legal topic/group name of at most 199 bytes", name, len(name))
				}
			}
		})
	}
}
