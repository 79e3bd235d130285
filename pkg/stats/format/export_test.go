package format

// ReadInternals lets the external tests read a dump back.
var ReadInternals = readInternals
