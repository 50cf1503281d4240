package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func parse(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	c := Defaults()
	Register(fs, &c)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrecedenceFileEnvFlag(t *testing.T) {
	file := writeFile(t, "c.yaml", `
brokers: [file:9092]
topic: file-topic
group: file-group
rate: 3
max_retry_duration: 2m
mapping:
  events: [Lead Submitted, Trial Started]
  custom_fields: {cf_abc: properties.plan}
`)
	fs := parse(t, "--config", file, "--group", "flag-group")
	cfg, err := Load(fs, env(map[string]string{
		"CLOSESINK_TOPIC": "env-topic", "CLOSESINK_GROUP": "env-group", "CLOSE_API_KEY": " api_k ",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Brokers[0] != "file:9092" || cfg.Topic != "env-topic" || cfg.Group != "flag-group" {
		t.Fatalf("precedence wrong: %+v", cfg)
	}
	if cfg.Rate != 3 || cfg.MaxRetryDuration != 2*time.Minute || cfg.Burst != 5 {
		t.Fatalf("file values/defaults wrong: rate=%v retry=%v burst=%v", cfg.Rate, cfg.MaxRetryDuration, cfg.Burst)
	}
	if cfg.DLQTopic != "env-topic.dlq" || cfg.APIKey != "api_k" {
		t.Fatalf("derived: dlq=%q key=%q", cfg.DLQTopic, cfg.APIKey)
	}
	if len(cfg.Mapping.Events) != 2 || cfg.Mapping.CustomFields["cf_abc"] != "properties.plan" {
		t.Fatalf("mapping: %+v", cfg.Mapping)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestEnvAndFlagSlices(t *testing.T) {
	fs := parse(t)
	cfg, err := Load(fs, env(map[string]string{"CLOSESINK_BROKERS": "a:1, b:2"}))
	if err != nil || len(cfg.Brokers) != 2 || cfg.Brokers[1] != "b:2" {
		t.Fatalf("env slice: %v %v", cfg.Brokers, err)
	}
	fs = parse(t, "--brokers", "c:3")
	cfg, err = Load(fs, env(map[string]string{"CLOSESINK_BROKERS": "a:1,b:2"}))
	if err != nil || len(cfg.Brokers) != 1 || cfg.Brokers[0] != "c:3" {
		t.Fatalf("flag slice must replace env: %v %v", cfg.Brokers, err)
	}
}

func TestAPIKeyFileWinsAndIsTrimmed(t *testing.T) {
	kf := writeFile(t, "key", "api_fromfile\n")
	cfg, err := Load(parse(t, "--api-key-file", kf), env(map[string]string{"CLOSE_API_KEY": "api_env"}))
	if err != nil || cfg.APIKey != "api_fromfile" {
		t.Fatalf("key=%q err=%v", cfg.APIKey, err)
	}
	_, err = Load(parse(t, "--api-key-file", filepath.Join(t.TempDir(), "missing")), env(nil))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "api-key-file") {
		t.Fatalf("missing key file: %v", err)
	}
}

func TestBadInputsNameTheSetting(t *testing.T) {
	base := map[string]string{"CLOSESINK_BROKERS": "k:9092", "CLOSESINK_TOPIC": "t", "CLOSE_API_KEY": "api_x"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range base {
			m[a] = b
		}
		m[k] = v
		return m
	}
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no brokers", with("CLOSESINK_BROKERS", ""), "brokers"},
		{"bad broker", with("CLOSESINK_BROKERS", "nohost"), "brokers"},
		{"no topic", with("CLOSESINK_TOPIC", ""), "topic"},
		{"no key", with("CLOSE_API_KEY", ""), "CLOSE_API_KEY"},
		{"zero rate", with("CLOSESINK_RATE", "0"), "rate"},
		{"bad rate", with("CLOSESINK_RATE", "fast"), "CLOSESINK_RATE"},
		{"bad duration", with("CLOSESINK_MAX_RETRY_DURATION", "soon"), "CLOSESINK_MAX_RETRY_DURATION"},
		{"bad url", with("CLOSESINK_CLOSE_URL", "ftp://x"), "close-url"},
		{"bad status", with("CLOSESINK_LEAD_STATUS_ID", "Website Lead"), "lead-status-id"},
		{"dlq equals topic", with("CLOSESINK_DLQ_TOPIC", "t"), "dlq-topic"},
		{"bad log format", with("CLOSESINK_LOG_FORMAT", "xml"), "log-format"},
		{"instance id with a space", with("CLOSESINK_INSTANCE_ID", "pod 0"), "instance-id"},
		{"negative dedupe window", with("CLOSESINK_DEDUPE_WINDOW", "-1"), "dedupe-window"},
		{"bad mode", with("CLOSESINK_MODE", "merge"), "mode"},
		{"bad on-match", with("CLOSESINK_ON_MATCH", "ignore"), "on-match"},
		{"identify updates need upsert", with("CLOSESINK_UPDATE_ON_IDENTIFY", "true"), "update-on-identify needs --mode upsert"},
		{"request outlasts shutdown", with("CLOSESINK_REQUEST_TIMEOUT", "30s"), "request-timeout (30s) must be shorter than shutdown-timeout"},
		{"pprof without an address", with("CLOSESINK_PPROF", "true"), "pprof needs metrics-addr"},
		{"shutdown outlasts session", with("CLOSESINK_SHUTDOWN_TIMEOUT", "40s"), "must be shorter than session-timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(parse(t), env(tc.env))
			if err == nil {
				err = cfg.Validate()
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want mention of %q", err, tc.want)
			}
		})
	}
}

func TestYAMLRefusesTheAPIKeyWithAHint(t *testing.T) {
	file := writeFile(t, "c.yaml", "api_key: api_secret123\n")
	_, err := Load(parse(t, "--config", file), env(nil))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "CLOSE_API_KEY") || strings.Contains(err.Error(), "api_secret123") {
		t.Fatalf("err = %v", err)
	}
}

func TestYAMLUnknownKeyIsAnError(t *testing.T) {
	file := writeFile(t, "c.yaml", "topik: x\n")
	_, err := Load(parse(t, "--config", file), env(nil))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "topik") {
		t.Fatalf("err = %v", err)
	}
}

func TestRedactedHidesSecrets(t *testing.T) {
	c := Defaults()
	c.APIKey = "api_supersecret"
	c.Kafka.SASLPassword = "hunter2"
	out := fmt.Sprint(c.Redacted())
	if strings.Contains(out, "supersecret") || strings.Contains(out, "hunter2") || !strings.Contains(out, "api_key:(set)") {
		t.Fatalf("redacted view: %s", out)
	}
}

// The shipped example must load and validate (with the secret from env), so
// it never drifts from the settings the code accepts.
func TestExampleConfigLoads(t *testing.T) {
	cfg, err := Load(parse(t, "--config", "../../closesink.example.yaml"), env(map[string]string{"CLOSE_API_KEY": "api_x"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Topic != "leads" || cfg.DLQTopic != "leads.dlq" || len(cfg.Mapping.Events) != 3 {
		t.Fatalf("example config: %+v", cfg)
	}
}

// SASL PLAIN without TLS would send the Kafka password in the clear: it is
// refused unless the operator says the network is trusted.
func TestPlainSASLNeedsTLSOrConsent(t *testing.T) {
	env := env(map[string]string{"CLOSESINK_BROKERS": "k:9092", "CLOSESINK_TOPIC": "t", "CLOSE_API_KEY": "api_x", EnvSASLPassword: "pw"})
	cfg, err := Load(parse(t), env)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Kafka.SASLMechanism, cfg.Kafka.SASLUsername = "PLAIN", "u"
	if err := cfg.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "--kafka-allow-plaintext-sasl") {
		t.Fatalf("PLAIN without TLS: err = %v", err)
	}
	withTLS := cfg
	withTLS.Kafka.TLS = true
	if err := withTLS.Validate(); err != nil {
		t.Fatalf("PLAIN with TLS: %v", err)
	}
	cfg, err = Load(parse(t, "--kafka-allow-plaintext-sasl"), env)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Kafka.SASLMechanism, cfg.Kafka.SASLUsername = "plain", "u"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("PLAIN without TLS, allowed: %v", err)
	}
}

func TestWarningsForPlainHTTPOffThisMachine(t *testing.T) {
	for url, warn := range map[string]bool{
		"https://api.close.com": false, "http://127.0.0.1:8080": false, "http://localhost:1": false,
		"http://[::1]:80": false, "http://close-emulator:8080": true, "http://10.0.0.5": true,
	} {
		c := Defaults()
		c.CloseURL = url
		if got := len(c.Warnings()) > 0; got != warn {
			t.Errorf("%s: warning %v, want %v (%v)", url, got, warn, c.Warnings())
		}
	}
}
