package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/closesink/closesink/transform"
)

// Kind is the final outcome of one record (docs/design.md §2). Its String
// is the one spelling of each outcome: the metrics' "outcome" label, the
// demo's report and the samples file all use it.
type Kind int

// The outcomes.
const (
	Delivered Kind = iota + 1
	Dropped
	DeadLettered
)

func (k Kind) String() string {
	switch k {
	case Delivered:
		return "delivered"
	case Dropped:
		return "dropped"
	case DeadLettered:
		return "dead_lettered"
	}
	return "unknown"
}

// Outcome is what became of one record.
type Outcome struct {
	Kind       Kind
	DropReason transform.DropReason // Dropped
	Class      Class                // DeadLettered
	HTTPStatus int
	Message    string
	Attempts   int
	LeadID     string // Delivered
	ContactID  string // Delivered, when Close said
	Action     Action // Delivered: created, updated, unchanged or skipped
}

// ErrNotFinal is returned (wrapped) when a record's outcome is not final:
// delivery was interrupted or the dead-letter write did not complete before
// ctx ended. The record must not be committed.
var ErrNotFinal = errors.New("pipeline: outcome not final")

// Class says why a record was dead-lettered; it is the value of the DLQ's
// closesink.error.class header.
type Class string

// The dead-letter classes.
const (
	ClassPermanent        Class = "permanent"
	ClassRetriesExhausted Class = "retries_exhausted"
	ClassInvalidEvent     Class = "invalid_event"
)

// ParseClass accepts one of the three class names.
func ParseClass(s string) (Class, error) {
	switch c := Class(strings.TrimSpace(s)); c {
	case ClassPermanent, ClassRetriesExhausted, ClassInvalidEvent:
		return c, nil
	}
	return "", fmt.Errorf("unknown error class %q (want permanent, retries_exhausted or invalid_event)", s)
}

// Failure describes the final failure of one record: what the dead-letter
// writer records in the DLQ headers.
type Failure struct {
	Class      Class
	HTTPStatus int // 0 when there was no HTTP response
	Message    string
	Attempts   int
	FailedAt   time.Time
}
