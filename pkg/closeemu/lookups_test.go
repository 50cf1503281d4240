package closeemu

import (
	"encoding/json"
	"fmt"
	"testing"
)

type lookupPage struct {
	Data    []map[string]string `json:"data"`
	HasMore bool                `json:"has_more"`
}

func getPage(t *testing.T, r response) lookupPage {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var p lookupPage
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return p
}

// GET /api/v1/status/lead/ lists the configured statuses in order, the
// default first, with their labels (the default's is "Potential").
func TestLeadStatusList(t *testing.T) {
	_, ts := start(t, Config{Statuses: []string{"stat_default", "stat_web"}, StatusLabels: map[string]string{"stat_web": "Website Lead"}})
	p := getPage(t, call(t, ts, "GET", "/api/v1/status/lead/", testKey, ""))
	if len(p.Data) != 2 || p.HasMore || p.Data[0]["id"] != "stat_default" || p.Data[0]["label"] != DefaultStatusLabel ||
		p.Data[1]["id"] != "stat_web" || p.Data[1]["label"] != "Website Lead" {
		t.Fatalf("statuses: %+v", p)
	}
	// No statuses configured: the generated default is the one listed.
	_, ts2 := start(t, Config{})
	if p := getPage(t, call(t, ts2, "GET", "/api/v1/status/lead", testKey, "")); len(p.Data) != 1 || p.Data[0]["label"] != DefaultStatusLabel {
		t.Fatalf("default status: %+v", p)
	}
	if r := call(t, ts, "GET", "/api/v1/status/lead/", "wrong", ""); r.status != 401 {
		t.Fatalf("bad key: %d", r.status)
	}
	if r := call(t, ts, "POST", "/api/v1/status/lead/", testKey, "{}"); r.status != 405 {
		t.Fatalf("POST: %d", r.status)
	}
}

// GET /api/v1/custom_field/lead/ lists Config.CustomFields, paged with
// _skip and _limit; has_more says whether a page follows.
func TestLeadCustomFieldList(t *testing.T) {
	var fields []CustomField
	for i := range 5 {
		fields = append(fields, CustomField{ID: fmt.Sprintf("cf_%d", i), Name: fmt.Sprintf("Field %d", i), Type: "number"})
	}
	_, ts := start(t, Config{CustomFields: fields})
	var got []string
	for skip := 0; ; skip += 2 {
		p := getPage(t, call(t, ts, "GET", fmt.Sprintf("/api/v1/custom_field/lead/?_skip=%d&_limit=2", skip), testKey, ""))
		for _, f := range p.Data {
			if f["type"] != "number" || f["name"] == "" {
				t.Fatalf("field %v", f)
			}
			got = append(got, f["id"])
		}
		if wantMore := skip+2 < 5; p.HasMore != wantMore {
			t.Fatalf("skip %d: has_more %t", skip, p.HasMore)
		}
		if !p.HasMore {
			break
		}
	}
	if fmt.Sprint(got) != "[cf_0 cf_1 cf_2 cf_3 cf_4]" {
		t.Fatalf("fields %v", got)
	}
	if r := call(t, ts, "GET", "/api/v1/custom_field/lead/?_limit=x", testKey, ""); r.status != 400 {
		t.Fatalf("bad _limit: %d", r.status)
	}
	_, empty := start(t, Config{})
	if p := getPage(t, call(t, empty, "GET", "/api/v1/custom_field/lead/", testKey, "")); p.Data == nil || len(p.Data) != 0 || p.HasMore {
		t.Fatalf("no fields: %+v", p)
	}
}
