package delivery

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/closesink/closesink/pkg/closeemu"
)

// BenchmarkClientVsBareHTTP compares the requests/second the client
// sustains against the in-process emulator (limiter off) with a bare
// net/http loop posting the same pre-marshalled bodies: the bare loop is the
// ceiling, the ratio closesink_client/bare_net_http is the client's cost.
//
//	go test -run '^$' -bench ClientVsBare -benchtime 3s -count 5 ./delivery/
func BenchmarkClientVsBareHTTP(b *testing.B) {
	_, srv := newEmulator(b, closeemu.Config{MaxLeads: 1000})
	bodies := make([][]byte, 64)
	for i := range bodies {
		body, err := json.Marshal(leadFor(i))
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = body
	}
	const goroutinesPerProc = 2

	b.Run("bare_net_http", func(b *testing.B) {
		hc := &http.Client{Transport: newTransport()}
		defer hc.CloseIdleConnections()
		url := srv.URL + "/api/v1/lead/"
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(testKey+":"))
		var n atomic.Int64
		b.SetParallelism(goroutinesPerProc)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(bodies[n.Add(1)%64]))
				if err != nil {
					b.Error(err)
					return
				}
				req.Header.Set("Authorization", auth)
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})

	b.Run("closesink_client", func(b *testing.B) {
		c, err := New(Config{BaseURL: srv.URL, APIKey: testKey})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Abort()
		var n, partition atomic.Int64
		b.SetParallelism(goroutinesPerProc)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			s := c.Sender(int32(partition.Add(1)))
			ctx := context.Background()
			for pb.Next() {
				if o := s.DeliverBody(ctx, bodies[n.Add(1)%64]); o.Status != Delivered {
					b.Errorf("outcome %+v", o)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})
}
