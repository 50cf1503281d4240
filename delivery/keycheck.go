package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ErrKeyRejected is wrapped by CheckKey's error when Close refuses the key
// itself (401: wrong or revoked; 403: not allowed for this organization).
// Every lead would be dead-lettered with that status, so closesink refuses to
// start instead.
var ErrKeyRejected = errors.New("Close rejected the API key")

// CheckKey asks Close whether the key works, with GET /api/v1/me/ (Close's
// cheap key check), bounded by RequestTimeout. It returns nil on 2xx, an
// error wrapping ErrKeyRejected on 401 or 403, and another error when Close
// could not answer (network, 5xx, 429): that says nothing about the key, and
// the caller should go on and let delivery retry. Blocks; safe for
// concurrent use. The error never contains the key.
func (c *Client) CheckKey(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	meURL := strings.TrimSuffix(c.leadURL, "lead/") + "me/"
	req, err := c.newRequest(ctx, http.MethodGet, meURL, nil)
	if err != nil {
		return fmt.Errorf("checking the Close API key: %s", c.scrub(err.Error()))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("checking the Close API key: Close did not answer: %s", c.scrub(err.Error()))
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w (HTTP %d: %s)", ErrKeyRejected, resp.StatusCode, c.scrub(errorText(resp.StatusCode, body)))
	default:
		return fmt.Errorf("checking the Close API key: HTTP %d: %s", resp.StatusCode, c.scrub(errorText(resp.StatusCode, body)))
	}
}
