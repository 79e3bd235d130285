package rtpstats

import "time"

// ntpEpochOffset is the number of seconds from 1900 to 1970.
const ntpEpochOffset = 2208988800

// toNTP converts t to a 64-bit NTP timestamp (32.32 fixed point seconds
// since 1900).
func toNTP(t time.Time) uint64 {
	secs := uint64(t.Unix()) + ntpEpochOffset                    //nolint:gosec // dates after 1970
	frac := (uint64(t.Nanosecond()) << 32) / uint64(time.Second) //nolint:gosec // 0 <= ns < 1e9
	return secs<<32 | frac
}

// fromNTP converts a 64-bit NTP timestamp to a time.
func fromNTP(ntp uint64) time.Time {
	secs := int64(ntp>>32) - ntpEpochOffset                        //nolint:gosec // 32 bits
	nanos := int64((ntp & 0xffffffff) * uint64(time.Second) >> 32) //nolint:gosec // below 1e9
	return time.Unix(secs, nanos)
}

// middle32 is the part of an NTP timestamp that LSR echoes.
func middle32(ntp uint64) uint32 { return uint32(ntp >> 16) } //nolint:gosec // truncation intended

// toCompact expresses d in units of 1/65536 s, as DLSR carries it.
func toCompact(d time.Duration) uint32 {
	if d < 0 {
		return 0
	}
	return uint32(d * 65536 / time.Second) //nolint:gosec // less than a day
}

func fromCompact(v uint32) time.Duration {
	return time.Duration(uint64(v) * uint64(time.Second) / 65536) //nolint:gosec // fits
}
