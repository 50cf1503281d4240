package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/closesink/closesink/pkg/closeemu"
	"github.com/closesink/closesink/pkg/kafkatest"
)

// checkWorld is a cluster with source, DLQ and results topics and a Close
// emulator with two statuses and one custom field.
type checkWorld struct {
	brokers, topic, dlq, results, closeURL string
}

func newCheckWorld(t *testing.T) checkWorld {
	t.Helper()
	b := kafkatest.Start(t)
	emu := closeemu.New(closeemu.Config{APIKeys: []string{"api_good"}, Statuses: []string{"stat_default", "stat_web"},
		CustomFields: []closeemu.CustomField{{ID: "cf_plan", Name: "Plan", Type: "text"}}})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return checkWorld{brokers: strings.Join(b.Brokers, ","), topic: b.CreateTopic(t, 3), dlq: b.CreateTopic(t, 1),
		results: b.CreateTopic(t, 1), closeURL: srv.URL}
}

// yamlWith writes a config file mapping the custom field ids to a path.
func yamlWith(t *testing.T, fieldIDs ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("mapping:\n  custom_fields:\n")
	for _, id := range fieldIDs {
		b.WriteString("    " + id + ": properties.plan\n")
	}
	p := filepath.Join(t.TempDir(), "closesink.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (w checkWorld) args(extra ...string) []string {
	return append([]string{"check", "--connect", "--brokers", w.brokers, "--topic", w.topic, "--dlq-topic", w.dlq,
		"--results-topic", w.results, "--close-url", w.closeURL}, extra...)
}

func lines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }

// Everything in place: one "ok" (or "skip", for ACL answers a broker does
// not give) line per check, covering Kafka (cluster, the three topics, the
// group) and Close (key, status, custom field), and exit 0.
func TestCheckConnectAllGood(t *testing.T) {
	w := newCheckWorld(t)
	r := runToEnd(t, []string{"CLOSE_API_KEY=api_good"}, w.args("--config", yamlWith(t, "cf_plan"), "--lead-status-id", "stat_web")...)
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"ok   configuration:", "ok   kafka: reached cluster", "source topic " + w.topic + " exists, 3 partition(s)",
		"dead-letter topic " + w.dlq + " exists", "results topic " + w.results + " exists", "kafka: group closesink",
		"ok   close: API key accepted", "ok   close: lead status stat_web exists", `ok   close: custom field cf_plan exists ("Plan", text) <- properties.plan`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no %q in:\n%s", want, r.stdout)
		}
	}
	for _, l := range lines(r.stdout) {
		if !strings.HasPrefix(l, "ok ") && !strings.HasPrefix(l, "skip ") {
			t.Errorf("line %q is neither ok nor skip", l)
		}
	}
	t.Logf("check output:\n%s", r.stdout)
}

// Each setup problem is the last line, "FAIL ...", and exit 2; nothing after
// the first failure is checked.
func TestCheckStopsAtTheFirstFailure(t *testing.T) {
	w := newCheckWorld(t)
	cases := []struct {
		name string
		key  string
		args []string
		want string
	}{
		{"missing results topic", "api_good", w.args("--results-topic", w.topic+"-nope"), "FAIL kafka: results topic " + w.topic + "-nope: topic does not exist"},
		{"rejected key", "api_revokedKey123", w.args(), "FAIL close: API key (GET /api/v1/me/): Close rejected the API key"},
		{"unknown status", "api_good", w.args("--lead-status-id", "stat_gone"), "FAIL close: lead status stat_gone: no such lead status"},
		{"unknown custom field", "api_good", w.args("--config", yamlWith(t, "cf_plan", "cf_gone")), "FAIL close: custom field cf_gone: no such lead custom field"},
		{"bad configuration", "api_good", []string{"check", "--topic", "t"}, "FAIL configuration: invalid configuration: brokers"},
		{"bad configuration, no connect", "", []string{"check", "--brokers", w.brokers, "--topic", w.topic}, "FAIL configuration: invalid configuration: the Close API key is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runToEnd(t, []string{"CLOSE_API_KEY=" + tc.key}, tc.args...)
			ls := lines(r.stdout)
			if r.code != exitConfig || !strings.HasPrefix(ls[len(ls)-1], tc.want) {
				t.Fatalf("exit %d, last line %q; want exit 2 and %q\n%s", r.code, ls[len(ls)-1], tc.want, r.stdout)
			}
			if strings.Contains(r.stdout+r.stderr, "api_revokedKey123") {
				t.Fatal("the key was printed")
			}
		})
	}
}

// Without --connect only the configuration is checked; unreachable Kafka
// with --connect is exit 1 (not the setup's fault as far as check knows).
func TestCheckWithoutConnectAndUnreachableKafka(t *testing.T) {
	r := runToEnd(t, []string{"CLOSE_API_KEY=api_good"}, "check", "--brokers", "127.0.0.1:1", "--topic", "leads")
	if r.code != exitOK || !strings.Contains(r.stdout, "ok   configuration: topic leads, dlq leads.dlq") || !strings.Contains(r.stdout, "skip kafka and close: not contacted") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runToEnd(t, []string{"CLOSE_API_KEY=api_good"}, "check", "--connect", "--brokers", "127.0.0.1:1", "--topic", "leads")
	if r.code != exitFailure || !strings.Contains(r.stdout, "FAIL kafka: cannot reach the brokers 127.0.0.1:1") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
