// Package archtest holds no code: its tests check the shape of the project
// (docs/design.md §1): which package may import which, and that the service
// is wired in one place.
package archtest
