package runreport

// Kinds of failure, one per exit code (README's exit code table): the
// report's exitReason and each failure's kind.
const (
	KindOK                = "ok"                 // 0
	KindError             = "error"              // 1: anything else
	KindUsage             = "usage"              // 2
	KindServerUnreachable = "server_unreachable" // 3
	KindCalleeNotFound    = "callee_not_found"   // 4
	KindRejected          = "rejected"           // 5: declined, busy, unanswered
	KindMediaFailure      = "media_failure"      // 6
	KindInterrupted       = "interrupted"        // 7
	KindPeerLost          = "peer_lost"          // 8
	KindAuth              = "auth"               // 9: tokens refused or not obtained
	KindUserMedia         = "user_media"         // 10: the audio source
	KindStore             = "store"              // 11: stats lost
	KindNoData            = "no_data"            // 12
	KindAssertion         = "assertion"          // 13: a gate breached
)

// IsError reports whether a failure of this kind is the test's own
// setup failing (this machine's store, audio source, flags, or something
// unexpected) rather than the service under test: JUnit calls that an
// error, the rest failures.
func IsError(kind string) bool {
	switch kind {
	case KindError, KindUsage, KindUserMedia, KindStore:
		return true
	}
	return false
}
