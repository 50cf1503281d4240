package delivery

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/closesink/closesink/pkg/closeemu"
)

func TestCheckKey(t *testing.T) {
	emu := closeemu.New(closeemu.Config{APIKeys: []string{testKey}})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	newClient := func(key string) *Client {
		c, err := New(Config{BaseURL: srv.URL, APIKey: Secret(key)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if err := newClient(testKey).CheckKey(context.Background()); err != nil {
		t.Fatalf("good key: %v", err)
	}
	const bad = "api_WrongWrongWrongWrong"
	err := newClient(bad).CheckKey(context.Background())
	if !errors.Is(err, ErrKeyRejected) || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), bad) {
		t.Fatalf("wrong key: %v", err)
	}
	emu.RevokeKey(testKey)
	if err := newClient(testKey).CheckKey(context.Background()); !errors.Is(err, ErrKeyRejected) {
		t.Fatalf("revoked key: %v", err)
	}
}

func TestCheckKeyOutageSaysNothingAboutTheKey(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/api/v1/me/" || r.Method != http.MethodGet {
				t.Errorf("request %s %s", r.Method, r.URL.Path)
			}
			w.WriteHeader(status)
		}))
		c, err := New(Config{BaseURL: srv.URL, APIKey: Secret(testKey)})
		if err != nil {
			t.Fatal(err)
		}
		err = c.CheckKey(context.Background())
		if err == nil || errors.Is(err, ErrKeyRejected) || strings.Contains(err.Error(), testKey) {
			t.Fatalf("HTTP %d: %v", status, err)
		}
		srv.Close()
	}
	c, err := New(Config{BaseURL: "http://127.0.0.1:1", APIKey: Secret(testKey)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckKey(context.Background()); err == nil || errors.Is(err, ErrKeyRejected) {
		t.Fatalf("unreachable: %v", err)
	}
}
