package childproc

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLogLine(t *testing.T) {
	log := "not json\n{\"msg\":\"other\"}\n{\"msg\":\"serving metrics\",\"addr\":\"127.0.0.1:9\"}\n{\"msg\":\"serving metrics\",\"addr\":\"late\"}\n"
	if m := LogLine(strings.NewReader(log), "serving metrics"); m == nil || m["addr"] != "127.0.0.1:9" {
		t.Fatalf("first matching line: %v", m)
	}
	if m := LogLine(strings.NewReader(log), "absent"); m != nil {
		t.Fatalf("absent msg: %v", m)
	}
}

func TestScrapeAndSum(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("# HELP x\nx_total{outcome=\"dropped\",reason=\"a\"} 2\nx_total{outcome=\"dropped\",reason=\"b\"} 3\n" +
			"x_total{outcome=\"delivered\",reason=\"\"} 5\nx_totally 7\ny 1.5\n"))
	}))
	defer srv.Close()
	m, err := Scrape(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Sum("x_total", `outcome="dropped"`); got != 5 {
		t.Fatalf("dropped = %v, want 5", got)
	}
	if got := m.Sum("x_total"); got != 10 {
		t.Fatalf("all x_total = %v, want 10 (not x_totally)", got)
	}
	if got := m.Sum("y"); got != 1.5 {
		t.Fatalf("y = %v", got)
	}
}
