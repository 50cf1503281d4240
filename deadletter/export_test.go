package deadletter

import "time"

// SetScanIdleCheck shortens Scan's idle check for a test; the returned func
// restores it.
func SetScanIdleCheck(d time.Duration) func() {
	old := scanIdleCheck
	scanIdleCheck = d
	return func() { scanIdleCheck = old }
}
