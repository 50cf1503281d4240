package closeemu

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/closesink/closesink/pkg/closeapi"
)

func TestAuth(t *testing.T) {
	_, ts := start(t, Config{APIKeys: []string{testKey, "api_other"}})
	tests := []struct {
		name       string
		setAuth    func(*http.Request)
		wantStatus int
	}{
		{"key as username, empty password", func(r *http.Request) { r.SetBasicAuth(testKey, "") }, 200},
		{"second key", func(r *http.Request) { r.SetBasicAuth("api_other", "") }, 200},
		{"missing", func(*http.Request) {}, 401},
		{"wrong key", func(r *http.Request) { r.SetBasicAuth("api_wrong", "") }, 401},
		{"key as password", func(r *http.Request) { r.SetBasicAuth("", testKey) }, 401},
		{"bearer instead of basic", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testKey) }, 401},
		{"garbage basic", func(r *http.Request) { r.Header.Set("Authorization", "Basic !!!") }, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/api/v1/me/", nil)
			tt.setAuth(req)
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == 401 {
				var body closeapi.ErrorBody
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
					t.Fatal(err)
				}
				if body.Error != "Unauthorized" {
					t.Fatalf(`error = %v, want "Unauthorized"`, body.Error)
				}
			}
		})
	}
}

func TestAuthRevokeAndAddAtRuntime(t *testing.T) {
	s, ts := start(t, Config{})
	if r := postLead(t, ts, minimalLead); r.status != 200 {
		t.Fatalf("before revoke: status %d", r.status)
	}
	s.RevokeKey(testKey)
	if r := postLead(t, ts, minimalLead); r.status != 401 {
		t.Fatalf("after revoke: status %d, want 401", r.status)
	}
	if n := len(s.Leads()); n != 1 {
		t.Fatalf("a 401 must not create a lead; have %d leads", n)
	}
	s.AddKey(testKey)
	if r := postLead(t, ts, minimalLead); r.status != 200 {
		t.Fatalf("after re-adding: status %d", r.status)
	}
}

func TestNoKeysRejectsEverything(t *testing.T) {
	s := New(Config{})
	ts := httptest.NewServer(s)
	defer ts.Close()
	if r := call(t, ts, "GET", "/api/v1/me/", "anything", ""); r.status != 401 {
		t.Fatalf("status %d, want 401", r.status)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"zero value", Config{}, ""},
		{"typical", Config{APIKeys: []string{"api_x"}, Statuses: []string{"stat_a"}, RateLimit: 20, RateBurst: 5}, ""},
		{"empty key", Config{APIKeys: []string{""}}, "APIKeys[0] is empty"},
		{"key with colon", Config{APIKeys: []string{"api_secret:x"}}, "APIKeys[0] contains ':'"},
		{"blank status", Config{Statuses: []string{" "}}, "Statuses[0] is empty"},
		{"negative rate", Config{RateLimit: -1}, "RateLimit"},
		{"negative burst", Config{RateBurst: -1}, "RateBurst"},
		{"negative body cap", Config{MaxBodyBytes: -1}, "MaxBodyBytes"},
		{"negative max leads", Config{MaxLeads: -1}, "MaxLeads"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error = %v, want one containing %q wrapping ErrInvalidConfig", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error leaks the key: %v", err)
			}
		})
	}
}

func TestFaultsValidate(t *testing.T) {
	tests := []struct {
		name string
		f    Faults
		ok   bool
	}{
		{"zero", Faults{}, true},
		{"typical", Faults{ErrorRate: 0.5, ErrorStatus: 502, Script: []int{0, 503, 429}, DropConnRate: 0.1, StatusForEmail: map[string]int{"a@b.co": 400}}, true},
		{"rate above 1", Faults{ErrorRate: 1.5}, false},
		{"negative drop rate", Faults{DropConnRate: -0.1}, false},
		{"1xx error status", Faults{ErrorStatus: 100}, false},
		{"script status 600", Faults{Script: []int{600}}, false},
		{"email status 0", Faults{StatusForEmail: map[string]int{"a@b.co": 0}}, false},
		{"negative latency", Faults{Latency: -1}, false},
		{"after-create typical", Faults{LatencyAfterCreate: time.Second, LatencyAfterCreateRate: 0.2, DropAfterCreateRate: 0.1, ErrorAfterCreateRate: 1}, true},
		{"negative latency after create", Faults{LatencyAfterCreate: -1}, false},
		{"latency-after-create rate above 1", Faults{LatencyAfterCreateRate: 1.01}, false},
		{"drop-after-create rate NaN", Faults{DropAfterCreateRate: math.NaN()}, false},
		{"negative error-after-create rate", Faults{ErrorAfterCreateRate: -0.5}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), "a@b.co") {
				t.Fatalf("error leaks an email: %v", err)
			}
		})
	}
}
