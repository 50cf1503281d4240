package kafkatest

import "testing"

// TestTestcontainersBackend runs the round trip on a broker in Docker. Where
// no Docker engine runs (as in CI), it is skipped with the reason, never
// failed.
func TestTestcontainersBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a container")
	}
	t.Parallel()
	roundTrip(t, StartTestcontainers(t))
}
