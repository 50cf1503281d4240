package delivery

import (
	"context"
	"errors"
	"net"
	"net/url"
	"syscall"
	"testing"
)

func TestClassify(t *testing.T) {
	connRefused := &url.Error{Op: "Post", URL: "http://x/api/v1/lead/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	timeout := &url.Error{Op: "Post", URL: "http://x/api/v1/lead/", Err: context.DeadlineExceeded}
	tests := []struct {
		status int
		err    error
		want   Class
	}{
		{200, nil, ClassSuccess},
		{201, nil, ClassSuccess},
		{204, nil, ClassSuccess},
		{299, nil, ClassSuccess},
		// docs/design.md §4 permanent rows
		{400, nil, ClassPermanent},
		{401, nil, ClassPermanent},
		{402, nil, ClassPermanent},
		{403, nil, ClassPermanent},
		{404, nil, ClassPermanent},
		{405, nil, ClassPermanent},
		{409, nil, ClassPermanent},
		{410, nil, ClassPermanent},
		{413, nil, ClassPermanent},
		{415, nil, ClassPermanent},
		{422, nil, ClassPermanent},
		// "other 4xx"
		{406, nil, ClassPermanent},
		{418, nil, ClassPermanent},
		{451, nil, ClassPermanent},
		{499, nil, ClassPermanent},
		// retryable 4xx
		{408, nil, ClassRetry},
		{425, nil, ClassRetry},
		{429, nil, ClassRetry},
		// 5xx
		{500, nil, ClassRetry},
		{501, nil, ClassPermanent},
		{502, nil, ClassRetry},
		{503, nil, ClassRetry},
		{504, nil, ClassRetry},
		{599, nil, ClassRetry},
		// never followed redirects and informational answers
		{301, nil, ClassPermanent},
		{302, nil, ClassPermanent},
		{307, nil, ClassPermanent},
		{100, nil, ClassPermanent},
		// transport errors win over any status
		{0, connRefused, ClassRetry},
		{0, timeout, ClassRetry},
		{0, errors.New("EOF"), ClassRetry},
		{200, errors.New("read reset"), ClassRetry},
		// nonsense codes: retried (the lead stays safe in Kafka)
		{0, nil, ClassRetry},
		{600, nil, ClassRetry},
		{-1, nil, ClassRetry},
	}
	for _, tt := range tests {
		if got := Classify(tt.status, tt.err); got != tt.want {
			t.Errorf("Classify(%d, %v) = %v, want %v", tt.status, tt.err, got, tt.want)
		}
	}
}

func TestStatusAndClassStrings(t *testing.T) {
	for s, want := range map[Status]string{
		Delivered: "delivered", Permanent: "permanent", RetriesExhausted: "retries_exhausted",
		Interrupted: "interrupted", Status(9): "status(9)",
	} {
		if s.String() != want {
			t.Errorf("Status(%d).String() = %q, want %q", int(s), s.String(), want)
		}
	}
	for c, want := range map[Class]string{ClassSuccess: "success", ClassPermanent: "permanent", ClassRetry: "retry", Class(7): "class(7)"} {
		if c.String() != want {
			t.Errorf("Class(%d).String() = %q, want %q", int(c), c.String(), want)
		}
	}
	for s, final := range map[Status]bool{Delivered: true, Permanent: true, RetriesExhausted: true, Interrupted: false} {
		if got := (Outcome{Status: s}).Final(); got != final {
			t.Errorf("Outcome{%v}.Final() = %v, want %v", s, got, final)
		}
	}
}
