//go:build !unix

package cmdutil

// ProcessUsage is unknown here.
func ProcessUsage() Usage { return Usage{PeakRSSBytes: -1} }
