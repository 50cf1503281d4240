package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// The parts of the service are built in one place (internal/service), so
// run, replay, the demo and the system tests share one wiring: each
// constructor below is called from exactly one non-test file.
func TestEachPartIsBuiltInOneFile(t *testing.T) {
	constructors := []string{"consumer.New", "delivery.New", "deadletter.NewWriter", "results.NewWriter", "pipeline.New", "transform.New"}
	callers := map[string][]string{}
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "testdata" || d.Name() == "bench") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok {
				name := x.Name + "." + sel.Sel.Name
				callers[name] = appendOnce(callers[name], path)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range constructors {
		files := callers[c]
		if len(files) != 1 || !strings.Contains(filepath.ToSlash(files[0]), "internal/service/") {
			t.Errorf("%s is called from %v; want exactly one file, in internal/service", c, files)
		}
	}
}

func appendOnce(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
