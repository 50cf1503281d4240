package validate

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/closesink/closesink/internal/config"
)

// The binary the image runs accepts what the StatefulSet gives it: the
// "run" subcommand, each flag in args, and a flag behind each CLOSESINK_*
// env variable, as `closesink run --help` lists them.
func TestRunHelpHasManifestFlagsAndEnv(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	w := must(t, workload)
	bin := filepath.Join(t.TempDir(), "closesink")
	build := exec.Command("go", "build", "-C", "../..", "-o", bin, "./cmd/closesink")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/closesink: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "run", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("closesink run --help: %v\n%s", err, out)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if !flags["instance-id"] || !flags["metrics-addr"] || !flags["config"] {
		t.Fatalf("closesink run --help lists no --instance-id, --metrics-addr or --config:\n%s", out)
	}
	for _, a := range w.Container.Args[1:] {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			name, _, _ = strings.Cut(name, "=")
			if !flags[name] {
				t.Errorf("arg --%s: not a flag of closesink run", name)
			}
		}
	}
	for _, e := range w.Container.Env {
		name, ok := strings.CutPrefix(e.Name, "CLOSESINK_")
		if !ok || e.Name == config.EnvSASLPassword {
			continue
		}
		flag := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
		if !flags[flag] {
			t.Errorf("env %s: closesink run --help has no --%s", e.Name, flag)
		}
	}
}
