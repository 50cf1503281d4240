package service

import "errors"

// ErrSetup is matched (errors.Is) by every error that only a change of setup
// fixes: a bad option, a missing topic, a Close API key Close rejects, a
// metrics address in use. closesink exits 2 on them, 1 on everything else.
var ErrSetup = errors.New("setup error")

// setupError marks err as a setup error without changing its message.
type setupError struct{ err error }

func (e setupError) Error() string        { return e.err.Error() }
func (e setupError) Unwrap() error        { return e.err }
func (e setupError) Is(target error) bool { return target == ErrSetup }

func setup(err error) error {
	if err == nil {
		return nil
	}
	return setupError{err}
}
