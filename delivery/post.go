package delivery

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

const (
	// maxSuccessBody bounds how much of a 2xx body is read for the ids;
	// Close's created-lead bodies are a few KiB.
	maxSuccessBody = 1 << 20
	// maxErrorBody bounds how much of an error body is read for the message.
	maxErrorBody = 64 << 10
	// maxDrain bounds how much of the rest is read so the connection can be
	// reused; beyond it closing the connection is cheaper than reading.
	maxDrain = 64 << 10
)

// response is the result of one HTTP exchange.
type response struct {
	status  int         // 0 when err != nil
	header  http.Header // nil when err != nil
	body    []byte      // bounded prefix of the body
	err     error       // transport error: no response arrived
	latency time.Duration
}

// bodyBuffers recycles response buffers between deliveries.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// newRequest is a request to Close with the headers every one carries.
func (c *Client) newRequest(ctx context.Context, method, url string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	req.Header = http.Header{
		"Authorization": {c.authHeader},
		"Accept":        {"application/json"},
		"User-Agent":    {c.cfg.UserAgent},
	}
	return req, nil
}

// send makes one HTTP exchange, reading the response into buf (which
// res.body then aliases); a nil body sends none. The request deliberately
// ignores the end of the caller's ctx: once on the wire it runs to its end,
// bounded by RequestTimeout, unless the client is aborted, so a graceful stop
// learns whether Close acted on it (a lead created, say) instead of sending
// it again after a restart. It keeps ctx's values (a trace span, for an
// instrumented HTTPClient's transport).
func (c *Client) send(ctx context.Context, method, url string, body []byte, buf *bytes.Buffer) response {
	reqCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.RequestTimeout)
	defer cancel()
	defer context.AfterFunc(c.abortCtx, cancel)()

	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := c.newRequest(reqCtx, method, url, rd)
	if err != nil {
		return response{err: err}
	}
	if body != nil {
		req.Header["Content-Type"] = []string{"application/json"}
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return response{err: err, latency: time.Since(start)}
	}
	limit := int64(maxErrorBody)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		limit = maxSuccessBody
	}
	// A read error here changes nothing: the status already decided the
	// outcome, and a 2xx must never be retried.
	buf.Reset()
	_, _ = buf.ReadFrom(io.LimitReader(resp.Body, limit))
	_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
	_ = resp.Body.Close()
	return response{status: resp.StatusCode, header: resp.Header, body: buf.Bytes(), latency: time.Since(start)}
}
