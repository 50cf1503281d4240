// Package version holds the build version, set at link time:
// -ldflags "-X github.com/closesink/closesink/internal/version.Version=v1.2.3".
package version

// Version of this build; "dev" when not set by the linker.
var Version = "dev"
