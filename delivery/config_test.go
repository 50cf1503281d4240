package delivery

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	valid := Config{APIKey: testKey}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string // "" = valid
	}{
		{"zero values but key", func(*Config) {}, ""},
		{"http base with path", func(c *Config) { c.BaseURL = "http://127.0.0.1:8080/close/" }, ""},
		{"no key", func(c *Config) { c.APIKey = "" }, "api key is empty"},
		{"key with colon", func(c *Config) { c.APIKey = "api_secret:x" }, "must not contain ':'"},
		{"key with newline", func(c *Config) { c.APIKey = "api_secret\n" }, "whitespace"},
		{"ftp scheme", func(c *Config) { c.BaseURL = "ftp://api.close.com" }, "not http or https"},
		{"no scheme", func(c *Config) { c.BaseURL = "api.close.com" }, "not http or https"},
		{"no host", func(c *Config) { c.BaseURL = "https://" }, "no host"},
		{"user info", func(c *Config) { c.BaseURL = "https://api_secretkey:@api.close.com" }, "user info"},
		{"query", func(c *Config) { c.BaseURL = "https://api.close.com/?a=b" }, "query"},
		{"bad url", func(c *Config) { c.BaseURL = "https://api_secretkey@[::1" }, "does not parse"},
		{"negative timeout", func(c *Config) { c.RequestTimeout = -time.Second }, "request timeout"},
		{"negative rate", func(c *Config) { c.Rate = -1 }, "rate"},
		{"NaN rate", func(c *Config) { c.Rate = math.NaN() }, "rate"},
		{"negative burst", func(c *Config) { c.Burst = -1 }, "burst"},
		{"negative retry budget", func(c *Config) { c.MaxRetryDuration = -1 }, "max retry duration"},
		{"negative backoff", func(c *Config) { c.BackoffBase = -1 }, "backoff"},
		{"max below base", func(c *Config) { c.BackoffBase = time.Second; c.BackoffMax = time.Millisecond }, "below backoff base"},
		{"negative 429 wait", func(c *Config) { c.DefaultRateLimitWait = -1 }, "rate limit wait"},
		{"user agent injection", func(c *Config) { c.UserAgent = "x\r\nX-Evil: 1" }, "line breaks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.mod(&cfg)
			err := cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error does not wrap ErrInvalidConfig: %v", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error leaks the key: %v", err)
			}
			if _, nerr := New(cfg); nerr == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{APIKey: testKey}.withDefaults()
	if c.BaseURL != DefaultBaseURL || c.UserAgent != "closesink/dev" || c.RequestTimeout != 15*time.Second ||
		c.BackoffBase != 500*time.Millisecond || c.BackoffMax != 30*time.Second || c.DefaultRateLimitWait != 2*time.Second {
		t.Errorf("defaults: %+v", c)
	}
	if c.MaxRetryDuration != 0 {
		t.Errorf("MaxRetryDuration default = %v, want 0 (forever; the caller sets 10m)", c.MaxRetryDuration)
	}
	if _, ok := c.Clock.(RealClock); !ok {
		t.Errorf("Clock default = %T", c.Clock)
	}
	if got := (Config{Version: "1.4.0"}).withDefaults().UserAgent; got != "closesink/1.4.0" {
		t.Errorf("UserAgent from Version = %q", got)
	}
	if got := (Config{BackoffMax: 100 * time.Millisecond}).withDefaults(); got.BackoffBase != 100*time.Millisecond {
		t.Errorf("base not lowered to a small max: %v", got.BackoffBase)
	}
	if u, _ := leadURL("http://h:1/close/"); u != "http://h:1/close/api/v1/lead/" {
		t.Errorf("leadURL = %q", u)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret(testKey)
	cfg := Config{BaseURL: "http://x", APIKey: s}
	var outputs []string
	for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%X", "%d", "%10s", "%T"} {
		outputs = append(outputs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, &cfg))
	}
	outputs = append(outputs, s.String(), s.GoString(), fmt.Sprint(s), fmt.Sprintln(cfg))
	j, err := json.Marshal(struct{ Key Secret }{s})
	if err != nil {
		t.Fatal(err)
	}
	txt, _ := s.MarshalText()
	var logBuf strings.Builder
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("cfg", "key", s, "config", cfg.APIKey)
	outputs = append(outputs, string(j), string(txt), logBuf.String())
	for _, out := range outputs {
		if strings.Contains(out, testKey) || strings.Contains(out, "3fVxQk7R") {
			t.Errorf("secret leaked: %q", out)
		}
	}
	if !strings.Contains(string(j), redacted) || s.Reveal() != testKey {
		t.Errorf("json %s, Reveal %q", j, s.Reveal())
	}
}

func TestNewHTTPClientNeverFollowsRedirects(t *testing.T) {
	user := &http.Client{Timeout: time.Second}
	c, err := New(Config{APIKey: testKey, HTTPClient: user})
	if err != nil {
		t.Fatal(err)
	}
	if c.hc == user || user.CheckRedirect != nil {
		t.Error("the caller's client was modified instead of copied")
	}
	if c.hc.CheckRedirect == nil || c.hc.Timeout != time.Second {
		t.Errorf("copy lost settings or redirect policy")
	}
	d, _ := New(Config{APIKey: testKey})
	tr, ok := d.hc.Transport.(*http.Transport)
	if !ok || tr.MaxIdleConnsPerHost != DefaultMaxIdleConnsPerHost {
		t.Errorf("default transport: %T %+v", d.hc.Transport, tr)
	}
}
