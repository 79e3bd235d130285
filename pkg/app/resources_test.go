package app

import (
	"os"
	"runtime"
	"testing"
)

func TestProcessResources(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc") // CI is Linux
	}
	before := ProcessResources()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	during := ProcessResources()
	_ = f.Close()
	if during.OpenFDs != before.OpenFDs+1 {
		t.Errorf("open fds %d -> %d with one more file open", before.OpenFDs, during.OpenFDs)
	}
	if during.Goroutines < 1 || during.RSSBytes < 1<<20 {
		t.Errorf("resources %+v", during)
	}
	if attrs := during.LogAttrs(); len(attrs) != 6 || attrs[0] != "goroutines" {
		t.Errorf("LogAttrs() = %v", attrs)
	}
}
