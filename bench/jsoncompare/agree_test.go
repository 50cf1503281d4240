package jsoncompare

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/closesink/closesink/transform"
)

// validityCases probe where a library's idea of valid JSON could differ
// from json.Valid, which the transform must match exactly.
var validityCases = []string{
	`{}`, ` {} `, `{"a":1,}`, `{"a":1 "b":2}`, `{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":+1}`,
	`{"a":tru}`, `{"a":"\x"}`, `{"a":"\u12G4"}`, "{\"a\":\"\x01\"}", "{\"a\":\"\xff\"}",
	`{"a":"\ud800"}`, `{} {}`, `{}x`, "\xef\xbb\xbf{}", `{"a":1,"a":2}`, `{"a":[1,]}`,
	`{"a":` + strings.Repeat("[", 400) + strings.Repeat("]", 400) + `}`,
	`{"a":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	`{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
}

// TestValidity logs every case where a candidate accepts or refuses a
// record differently from json.Valid (these are findings, not failures).
func TestValidity(t *testing.T) {
	for _, c := range candidates {
		for _, in := range validityCases {
			_, ok := c.drop([]byte(in))
			if want := json.Valid([]byte(in)); ok != want {
				name := in
				if len(name) > 30 {
					name = fmt.Sprintf("%s... (%d bytes)", name[:12], len(name))
				}
				t.Logf("%-13s %q: valid=%v, json.Valid=%v", c.name, name, ok, want)
			}
		}
	}
}

// TestFixtures logs where a candidate's verdict (invalid / mapped /
// not mapped) differs from the transform's on its golden fixtures.
func TestFixtures(t *testing.T) {
	tr, err := transform.New(transform.Config{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("..", "..", "transform", "testdata", "events", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		r := tr.Transform(data)
		// A mapped event can still be invalid later (context.traits, email);
		// the drop path only decides envelope validity and mapping.
		wantOK := r.Kind != transform.KindInvalid || mappedLabel(r.Event) && !envelopeShapeErr(r.Err)
		wantMapped := r.Kind != transform.KindDropped || r.Drop != transform.DropNotMapped
		for _, c := range candidates {
			mapped, ok := c.drop(data)
			if ok != wantOK || ok && mapped != wantMapped {
				t.Logf("%-13s %s: mapped=%v ok=%v, transform says %v %v %q", c.name, filepath.Base(path), mapped, ok, r.Kind, r.Drop, r.Event)
			}
		}
	}
}

func envelopeShapeErr(err error) bool {
	for _, p := range []string{": traits is", ": properties is", ": context is"} {
		if strings.Contains(err.Error(), p) {
			return true
		}
	}
	return false
}

func mappedLabel(event string) bool {
	for _, e := range transform.DefaultEvents {
		if e == event {
			return true
		}
	}
	return false
}

// TestCreatedIDsAgree checks every candidate finds the same ids as the
// hand-written scanner in Close's response.
func TestCreatedIDsAgree(t *testing.T) {
	wantL, wantC := createdIDs(benchCreated)
	for _, c := range candidates {
		if l, ct := c.created(benchCreated); l != wantL || ct != wantC {
			t.Errorf("%s: (%q, %q), want (%q, %q)", c.name, l, ct, wantL, wantC)
		}
	}
}
