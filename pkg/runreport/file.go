package runreport

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// CheckPath tells early whether a report can be written at path: its
// directory exists and is writable, and path is not a directory. The
// command checks it before anything is dialled, so that a typo does not
// cost a whole run's report.
func CheckPath(path string) error {
	if path == "" {
		return fmt.Errorf("%w: empty file name", ErrPath)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%w: %s is a directory; give a file name such as %s", ErrPath, path, filepath.Join(path, "report.json"))
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return fmt.Errorf("%w: directory %s does not exist", ErrPath, dir)
	}
	// The file is written through a temporary file beside it: that must
	// be possible.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPath, err)
	}
	return errors.Join(tmp.Close(), os.Remove(tmp.Name()))
}

// WriteFile writes path whole or not at all: fill writes a temporary file
// in the same directory, which then replaces path. A reader never sees a
// half-written report, and an earlier one stays until the new one is
// complete.
func WriteFile(path string, fill func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		_ = tmp.Close()
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriter(tmp)
	if err := fill(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	// CreateTemp makes the file 0600; a report is for everyone who reads
	// the job's artifacts.
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
