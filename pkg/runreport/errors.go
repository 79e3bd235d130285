package runreport

import "errors"

var (
	// ErrFormat means a report could not be read: not JSON, another
	// schema, or a newer version.
	ErrFormat = errors.New("not a callstat run report")
	// ErrPath means a report cannot be written where asked: the directory
	// is missing, or the path is a directory.
	ErrPath = errors.New("cannot write the report there")
)
