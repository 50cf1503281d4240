package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/closesink/closesink"

// rank places every package of the module in a layer. A package may import
// only packages of a lower rank: drivers → pipeline → stages → contracts,
// and the wiring above them all. A new package must be given a rank here,
// which is the moment to decide where it belongs.
var rank = map[string]int{
	// contracts and test support that import nothing of ours
	"pkg/closeapi":       0,
	"pkg/kafkatest":      0,
	"internal/version":   0,
	"internal/childproc": 0,
	// the stages
	"transform":    1,
	"delivery":     1,
	"pkg/closeemu": 1,
	// one record → one outcome
	"pipeline": 2,
	// the DLQ's contract and writer, and what reads the pipeline's names
	"deadletter":       3,
	"results":          3, // the results topic's writer, beside the DLQ's
	"internal/metrics": 3,
	"internal/samples": 3,
	// the drivers
	"consumer":          4,
	"deadletter/replay": 4,
	// the settings, which take every default from the package that owns it
	"internal/config": 5,
	// the one wiring, then the command line
	"internal/service": 6,
	"cmd/closesink":    7,
	// packages that hold tests only
	"internal/archtest": 8,
	"deploy":            8,
	"internal/e2e":      8,
	// tools: `make bench` (a main package that drives the service)
	"internal/benchrun": 8,
}

// ours lists, for each package of the module, the module's packages it
// imports (non-test files), from `go list`.
func ours(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	pkgs := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module+"/")
		pkgs[pkg] = nil
		for _, imp := range fields[1:] {
			if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
				pkgs[pkg] = append(pkgs[pkg], rel)
			}
		}
	}
	if len(pkgs) < len(rank)/2 {
		t.Fatalf("go list found only %d packages: %v", len(pkgs), pkgs)
	}
	return pkgs
}

func TestImportsPointDown(t *testing.T) {
	for pkg, imports := range ours(t) {
		r, ok := rank[pkg]
		if !ok {
			t.Errorf("package %s has no rank in archtest: decide its layer", pkg)
			continue
		}
		for _, imp := range imports {
			if ri, ok := rank[imp]; ok && ri >= r {
				t.Errorf("%s (rank %d) imports %s (rank %d): imports must point down", pkg, r, imp, ri)
			}
		}
	}
}

// The consumer driver is a franz-go group client and nothing of ours; the
// stages know no Kafka.
func TestLeafRules(t *testing.T) {
	pkgs := ours(t)
	if imps := pkgs["consumer"]; len(imps) != 0 {
		t.Errorf("consumer imports %v; it must import nothing of ours", imps)
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+"/transform", module+"/delivery").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/twmb/franz-go") {
			t.Errorf("transform or delivery depends on %s: the stages must know no Kafka", dep)
		}
	}
}
