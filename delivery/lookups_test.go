package delivery

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/closesink/closesink/pkg/closeemu"
)

// The look-ups read every page of Close's lists: 250 custom fields come
// back in order across three pages of 100.
func TestLookupsReadEveryPage(t *testing.T) {
	var fields []closeemu.CustomField
	for i := range 250 {
		fields = append(fields, closeemu.CustomField{ID: fmt.Sprintf("cf_%03d", i), Name: "f", Type: "text"})
	}
	emu := closeemu.New(closeemu.Config{APIKeys: []string{testKey}, Statuses: []string{"stat_a", "stat_b"},
		StatusLabels: map[string]string{"stat_b": "Website Lead"}, CustomFields: fields})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	c, err := New(Config{BaseURL: srv.URL, APIKey: Secret(testKey)})
	if err != nil {
		t.Fatal(err)
	}
	sts, err := c.LeadStatuses(context.Background())
	if err != nil || len(sts) != 2 || sts[1] != (LeadStatus{ID: "stat_b", Label: "Website Lead"}) {
		t.Fatalf("statuses %+v, %v", sts, err)
	}
	cfs, err := c.LeadCustomFields(context.Background())
	if err != nil || len(cfs) != 250 || cfs[0].ID != "cf_000" || cfs[249].ID != "cf_249" || cfs[100].Type != "text" {
		t.Fatalf("%d custom fields, %v", len(cfs), err)
	}
}

// A rejected key matches ErrKeyRejected; no error text carries the key,
// even when the server echoes it back.
func TestLookupErrorsNeverHoldTheKey(t *testing.T) {
	const key = "api_SecretSecretSecret01"
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":"bad key %s (%s)"}`, key, r.Header.Get("Authorization"))
	}))
	defer echo.Close()
	c, err := New(Config{BaseURL: echo.URL, APIKey: Secret(key)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.LeadStatuses(context.Background())
	b64 := base64.StdEncoding.EncodeToString([]byte(key + ":"))
	if !errors.Is(err, ErrKeyRejected) || strings.Contains(err.Error(), key) || strings.Contains(err.Error(), b64) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err %v", err)
	}
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("{not json")) }))
	defer broken.Close()
	c2, _ := New(Config{BaseURL: broken.URL, APIKey: Secret(key)})
	if _, err := c2.LeadCustomFields(context.Background()); err == nil || errors.Is(err, ErrKeyRejected) {
		t.Fatalf("unreadable body: %v", err)
	}
}
