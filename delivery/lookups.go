package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// The read-only look-ups of `closesink check`: one GET each, no retries, no
// rate limiter (a check makes a handful of requests), bounded by
// RequestTimeout per page. Errors never contain the key.

// Look-up paths of the Close API.
const (
	LeadStatusesPath     = "/api/v1/status/lead/"
	LeadCustomFieldsPath = "/api/v1/custom_field/lead/"
)

// LeadStatus is one lead status of the organization.
type LeadStatus struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// CustomField is one lead custom field of the organization.
type CustomField struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

// LookupError is a look-up Close answered with a non-2xx status (Status) or
// did not answer (Status 0). A 401 or 403 also matches ErrKeyRejected.
type LookupError struct {
	What   string
	Status int
	Msg    string
}

func (e *LookupError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("listing %s: Close did not answer: %s", e.What, e.Msg)
	}
	return fmt.Sprintf("listing %s: HTTP %d: %s", e.What, e.Status, e.Msg)
}

// Is makes a 401 or 403 match ErrKeyRejected.
func (e *LookupError) Is(target error) bool {
	return target == ErrKeyRejected && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden)
}

// lookupPageSize is the _limit of every page.
const lookupPageSize = 100

// maxLookupPages bounds a listing (a server that always says has_more must
// not keep the check running): 100 pages of 100.
const maxLookupPages = 100

// LeadStatuses lists the organization's lead statuses (GET
// /api/v1/status/lead/, every page).
func (c *Client) LeadStatuses(ctx context.Context) ([]LeadStatus, error) {
	return listAll[LeadStatus](ctx, c, "lead statuses", LeadStatusesPath)
}

// LeadCustomFields lists the organization's lead custom fields (GET
// /api/v1/custom_field/lead/, paged with _skip and _limit).
func (c *Client) LeadCustomFields(ctx context.Context) ([]CustomField, error) {
	return listAll[CustomField](ctx, c, "lead custom fields", LeadCustomFieldsPath)
}

// listAll reads every page of a Close list endpoint: {"data": [...],
// "has_more": bool}.
func listAll[T any](ctx context.Context, c *Client, what, path string) ([]T, error) {
	var all []T
	for page := 0; page < maxLookupPages; page++ {
		var body struct {
			Data    []T  `json:"data"`
			HasMore bool `json:"has_more"`
		}
		q := url.Values{"_skip": {strconv.Itoa(len(all))}, "_limit": {strconv.Itoa(lookupPageSize)}}
		if err := c.getJSON(ctx, what, c.baseURL+path+"?"+q.Encode(), &body); err != nil {
			return nil, err
		}
		all = append(all, body.Data...)
		if !body.HasMore || len(body.Data) == 0 {
			return all, nil
		}
	}
	return nil, &LookupError{What: what, Msg: fmt.Sprintf("more than %d pages", maxLookupPages)}
}

// getJSON makes one authenticated GET and decodes a 2xx body into v.
func (c *Client) getJSON(ctx context.Context, what, u string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	req, err := c.newRequest(ctx, http.MethodGet, u, nil)
	if err != nil {
		return &LookupError{What: what, Msg: c.scrub(err.Error())}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return &LookupError{What: what, Msg: c.scrub(err.Error())}
	}
	defer func() {
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
		_ = resp.Body.Close()
	}()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return &LookupError{What: what, Status: resp.StatusCode, Msg: c.scrub(errorText(resp.StatusCode, body))}
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(v); err != nil {
		return &LookupError{What: what, Status: resp.StatusCode, Msg: c.scrub("unreadable answer: " + err.Error())}
	}
	return nil
}
