package delivery

import "net/http"

// NewTransport returns the keep-alive transport a Client uses when
// Config.HTTPClient is nil, for a caller that wraps it (the service wraps it
// with its tracing) and passes the result as Config.HTTPClient.
func NewTransport() http.RoundTripper { return newTransport() }
