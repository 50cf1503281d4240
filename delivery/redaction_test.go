package delivery

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The key must never surface, even when a server echoes the request back.
func TestKeyNeverInOutcomesOrAttempts(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte(testKey + ":"))
	echo := func(w http.ResponseWriter, r *http.Request) string {
		user, _, _ := r.BasicAuth()
		return fmt.Sprintf(`{"error": "bad key %s (header %s)"}`, user, r.Header.Get("Authorization"))
	}
	for _, status := range []int{401, 503, 200} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			srv := newScriptServer(t, nil)
			srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(status)
				_, _ = w.Write([]byte(echo(w, r)))
			})
			var log attemptLog
			c := newTestClient(t, srv.URL, newAutoClock(), func(c *Config) {
				c.MaxRetryDuration = 3 * time.Second
				c.OnAttempt = log.add
			})
			o := c.Sender(0).Deliver(context.Background(), testLead())
			texts := []string{o.Message, fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", c), fmt.Sprintf("%+v", c.Sender(0)), fmt.Sprint(c)}
			for _, a := range log.all() {
				texts = append(texts, a.Message, fmt.Sprintf("%+v", a))
			}
			for _, s := range texts {
				if strings.Contains(s, testKey) || strings.Contains(s, b64) {
					t.Errorf("key leaked: %q", s)
				}
			}
			if status != 200 && !strings.Contains(o.Message, "bad key [redacted]") {
				t.Errorf("message %q", o.Message)
			}
		})
	}
}

func TestKeyNeverInTransportErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	var log attemptLog
	c := newTestClient(t, "http://"+addr, newAutoClock(), func(c *Config) {
		c.MaxRetryDuration = time.Second
		c.OnAttempt = log.add
	})
	o := c.Sender(0).Deliver(context.Background(), testLead())
	if o.Message == "" || strings.Contains(o.Message, testKey) || strings.Contains(o.Message, "@") {
		t.Errorf("message %q", o.Message)
	}
	// url.Error text includes the URL: the key must not be in it.
	if !strings.Contains(o.Message, addr) {
		t.Errorf("message %q does not name the endpoint", o.Message)
	}
}
