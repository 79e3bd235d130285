package call

import (
	"fmt"

	"github.com/pion/webrtc/v4"

	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/stats"
)

// setInboundAudio writes what the playout path measured of a received
// stream into its inbound-rtp object, and returns the media-playout
// object the stream refers to by playoutId (nil without decoding, when
// only the counts from the packets are known).
func setInboundAudio(o stats.Object, in audio.ReceiveStats) stats.Object {
	o["totalSamplesReceived"] = in.TotalSamplesReceived
	o["concealedSamples"] = in.ConcealedSamples
	o["concealmentEvents"] = in.ConcealmentEvents
	if !in.Decoded { // counted from the packets: the audio itself was not played
		return nil
	}
	o["audioLevel"] = in.AudioLevel
	o["totalAudioEnergy"] = in.TotalAudioEnergy
	o["totalSamplesDuration"] = in.TotalSamplesDuration
	o["silentConcealedSamples"] = in.SilentConcealedSamples
	o["insertedSamplesForDeceleration"] = in.InsertedSamplesForDeceleration
	o["removedSamplesForAcceleration"] = in.RemovedSamplesForAcceleration
	o["jitterBufferDelay"] = in.JitterBufferDelay
	o["jitterBufferTargetDelay"] = in.JitterBufferTargetDelay
	o["jitterBufferMinimumDelay"] = in.JitterBufferMinimumDelay
	o["jitterBufferEmittedCount"] = in.JitterBufferEmittedCount
	o["totalProcessingDelay"] = in.TotalProcessingDelay
	o["packetsDiscarded"] = in.PacketsDiscarded
	o["fecPacketsReceived"] = in.FECPacketsReceived
	o["fecPacketsDiscarded"] = in.FECPacketsDiscarded
	id := fmt.Sprintf("media-playout-%v", o["ssrc"])
	o["playoutId"] = id
	p := in.Playout
	return stats.Object{
		"id":                         id,
		"type":                       string(webrtc.StatsTypeMediaPlayout),
		"timestamp":                  o["timestamp"], // one timestamp for the whole report
		"kind":                       "audio",
		"synthesizedSamplesDuration": p.SynthesizedSamplesDuration,
		"synthesizedSamplesEvents":   p.SynthesizedSamplesEvents,
		"totalSamplesDuration":       p.TotalSamplesDuration,
		"totalPlayoutDelay":          p.TotalPlayoutDelay,
		"totalSamplesCount":          p.TotalSamplesCount,
	}
}
