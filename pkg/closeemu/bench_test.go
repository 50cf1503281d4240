package closeemu

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkCreateLeadLoopback measures the emulator's POST /lead/ throughput
// over loopback with keep-alive: the ceiling any client can reach against it.
func BenchmarkCreateLeadLoopback(b *testing.B) {
	s := New(Config{APIKeys: []string{testKey}, MaxLeads: 1000})
	ts := httptest.NewServer(s)
	defer ts.Close()
	body := []byte(`{"name":"Acme Inc","custom.cf_a":"x","contacts":[{"name":"Jane Doe","emails":[{"email":"jane.doe@acme.com"}],"phones":[{"phone":"+447700900123"}]}]}`)
	client := ts.Client()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/v1/lead/", bytes.NewReader(body))
			req.SetBasicAuth(testKey, "")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
