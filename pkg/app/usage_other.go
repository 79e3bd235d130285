//go:build !unix

package app

// ProcessUsage is unknown here.
func ProcessUsage() Usage { return Usage{PeakRSSBytes: -1} }
