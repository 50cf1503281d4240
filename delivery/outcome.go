package delivery

import (
	"net/http"
	"strconv"
	"time"
)

// Class is how one HTTP attempt is treated.
type Class int

const (
	// ClassSuccess: Close created the lead.
	ClassSuccess Class = iota
	// ClassPermanent: retrying the same request cannot succeed.
	ClassPermanent
	// ClassRetry: a transient failure; try again after a wait.
	ClassRetry
)

func (c Class) String() string {
	switch c {
	case ClassSuccess:
		return "success"
	case ClassPermanent:
		return "permanent"
	case ClassRetry:
		return "retry"
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// Classify maps one attempt's result to a Class (docs/design.md §4). err is the
// transport error (connection refused or reset, timeout, TLS failure); when
// it is non-nil statusCode is ignored and the attempt is retried, because
// the lead is still safe in Kafka and a broken network or proxy is usually
// temporary. Redirects (3xx) are permanent: closesink never follows them and
// a misconfigured base URL will not fix itself. Status codes outside
// 100..599 are retried. Classify is pure and safe for concurrent use.
func Classify(statusCode int, err error) Class {
	if err != nil {
		return ClassRetry
	}
	switch {
	case statusCode >= 200 && statusCode < 300:
		return ClassSuccess
	case statusCode == http.StatusRequestTimeout,
		statusCode == http.StatusTooEarly,
		statusCode == http.StatusTooManyRequests:
		return ClassRetry
	case statusCode == http.StatusNotImplemented:
		return ClassPermanent
	case statusCode >= 500 && statusCode < 600:
		return ClassRetry
	case statusCode >= 100 && statusCode < 500:
		return ClassPermanent
	}
	return ClassRetry
}

// Status is the result of one Deliver call.
type Status int

const (
	// Delivered: Close answered 2xx.
	Delivered Status = iota
	// Permanent: Close answered with a status that retrying cannot change.
	Permanent
	// RetriesExhausted: transient failures outlasted MaxRetryDuration.
	RetriesExhausted
	// Interrupted: the context was cancelled (or the client aborted) before
	// the outcome was known. It is not final: the record must be delivered
	// again later.
	Interrupted
	// Superseded: a Create's beforeRetry found that it need not be sent
	// again (the person exists in Close after all). Final.
	Superseded
)

func (s Status) String() string {
	switch s {
	case Delivered:
		return "delivered"
	case Permanent:
		return "permanent"
	case RetriesExhausted:
		return "retries_exhausted"
	case Interrupted:
		return "interrupted"
	case Superseded:
		return "superseded"
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// Outcome is what became of one lead.
type Outcome struct {
	Status     Status
	HTTPStatus int           // last HTTP status seen, 0 if no response arrived
	Message    string        // short reason (Close's error text or the transport error), at most 1 KiB, never the key
	Attempts   int           // HTTP attempts made
	LeadID     string        // created lead id, on Delivered when the body had one
	ContactID  string        // first created contact id, on Delivered when the body had one
	Elapsed    time.Duration // from the Deliver call until it returned
}

// Final reports whether the outcome may be acted upon (committed or
// dead-lettered): every status except Interrupted.
func (o Outcome) Final() bool { return o.Status != Interrupted }
