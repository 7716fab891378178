package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain removes the ckanup binary that the process tests build once for
// the whole run (ckanupBinary), which no single test's TempDir can hold.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}
