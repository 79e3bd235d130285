package app

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callstat/callstat/pkg/stats/store"
)

// A store that does not exist is "nothing stored", with the caller's
// hint, and is not created; an empty one has no summaries.
func TestReadingAStore(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	_, err := OpenStoreToRead(context.Background(), missing, "set --store")
	if !errors.Is(err, store.ErrNoParticipant) || !strings.HasSuffix(err.Error(), "no store at "+missing+" (set --store)") {
		t.Errorf("missing store: %v", err)
	}
	if _, err := Dump(context.Background(), DumpConfig{StorePath: missing, Dir: dir}); !errors.Is(err, store.ErrNoParticipant) {
		t.Errorf("Dump of a missing store: %v", err)
	}
	empty := filepath.Join(dir, "empty.db")
	st, err := store.Open(context.Background(), empty)
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	if _, err := Summaries(context.Background(), empty, "", ""); !errors.Is(err, store.ErrNoParticipant) || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("Summaries of an empty store: %v", err)
	}
}
