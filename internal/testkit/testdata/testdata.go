// Package testdata finds the module's shared test fixtures (testdata/ at
// the module root) from any package's tests, so that a fixture path does
// not depend on how deep the package sits and survives a package moving.
package testdata

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

var (
	rootOnce sync.Once
	root     string
	rootErr  error
)

// Root is the module root: the nearest directory at or above the working
// directory (a test runs in its package's directory) that holds go.mod.
func Root(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() { root, rootErr = findRoot() })
	if rootErr != nil {
		t.Fatalf("testdata: %v", rootErr)
	}
	return root
}

// Path joins elem to the module's testdata directory:
// Path(t, "signaling", "call.json") is <root>/testdata/signaling/call.json.
func Path(t testing.TB, elem ...string) string {
	t.Helper()
	return filepath.Join(append([]string{Root(t), "testdata"}, elem...)...)
}

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
