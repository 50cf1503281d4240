// Package jsoncompare measures, in one benchmark run, the JSON libraries
// considered for closesink's transform and delivery paths against the
// hand-written scanners they would replace. It is a separate module so that
// the candidates not chosen never enter the service's go.mod. It has no
// non-test code; see README.md.
package jsoncompare
