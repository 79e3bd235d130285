package call

import (
	"context"
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/callstat/callstat/pkg/stats"
)

// CollectStats samples the call for the stats collector: the call state and
// every RTCStats object of its PeerConnection, plus the sender-side objects
// pion's GetStats leaves out (outbound-rtp, remote-inbound-rtp), built from
// the stats interceptor. It fails once the connection is closed, which ends
// collection as the seed's getStats failure does.
func (c *Call) CollectStats() (stats.Report, error) {
	c.mu.Lock()
	state, closed := c.state, c.tornDown
	c.mu.Unlock()
	if closed || c.pc == nil {
		return stats.Report{}, fmt.Errorf("%w: call %s has no open peer connection", ErrInvalidState, c.id)
	}
	objs, err := stats.FromPion(c.pc.GetStats())
	if err != nil {
		return stats.Report{}, err
	}
	objs = append(objs, c.senderStats()...)
	objs = c.addAudioStats(objs)
	stats.SortObjects(objs)
	return stats.Report{State: state.String(), Objects: objs}, nil
}

// senderStats builds outbound-rtp and remote-inbound-rtp for the audio
// sender from the stats interceptor's counters.
func (c *Call) senderStats() []stats.Object {
	if c.getter == nil || c.sender == nil {
		return nil
	}
	params := c.sender.GetParameters()
	if len(params.Encodings) == 0 {
		return nil
	}
	ssrc := uint32(params.Encodings[0].SSRC)
	st := c.getter.Get(ssrc)
	if st == nil {
		return nil
	}
	ts := float64(time.Now().UnixNano()) / 1e6
	outID := fmt.Sprintf("outbound-rtp-%d", ssrc)
	remoteID := fmt.Sprintf("remote-inbound-rtp-%d", ssrc)
	out := stats.Object{
		"id":              outID,
		"type":            string(webrtc.StatsTypeOutboundRTP),
		"timestamp":       ts,
		"ssrc":            ssrc,
		"kind":            "audio",
		"packetsSent":     st.OutboundRTPStreamStats.PacketsSent,
		"bytesSent":       st.OutboundRTPStreamStats.BytesSent,
		"headerBytesSent": st.HeaderBytesSent,
		"nackCount":       st.OutboundRTPStreamStats.NACKCount,
	}
	objs := []stats.Object{out}
	ri := st.RemoteInboundRTPStreamStats
	if ri.PacketsReceived > 0 || ri.PacketsLost != 0 || ri.RoundTripTimeMeasurements > 0 {
		out["remoteId"] = remoteID
		objs = append(objs, stats.Object{
			"id":                        remoteID,
			"type":                      string(webrtc.StatsTypeRemoteInboundRTP),
			"timestamp":                 ts,
			"ssrc":                      ssrc,
			"kind":                      "audio",
			"localId":                   outID,
			"packetsReceived":           ri.PacketsReceived,
			"packetsLost":               ri.PacketsLost,
			"fractionLost":              ri.FractionLost,
			"jitter":                    ri.Jitter,
			"roundTripTime":             ri.RoundTripTime.Seconds(),
			"totalRoundTripTime":        ri.TotalRoundTripTime.Seconds(),
			"roundTripTimeMeasurements": ri.RoundTripTimeMeasurements,
		})
	}
	return objs
}

// CollectStatsHooks returns hooks that start collecting a call's stats when
// it starts (placed or received) and stop, with a last sample, when it ends.
func CollectStatsHooks(col *stats.Collector) Hooks {
	return Hooks{
		CallStarted: func(c *Call) {
			col.Start(c, stats.CallRecord{
				CallID:      c.ID(),
				Participant: c.Local(),
				Direction:   string(c.Direction()),
				Peer:        c.Remote(),
				StartedAt:   c.StartedAt(),
			})
		},
		CallEnding: func(c *Call) {
			end := stats.EndRecord{
				CallID:      c.ID(),
				Participant: c.Local(),
				ConnectedAt: c.ConnectedAt(),
				EndedAt:     c.EndedAt(),
				State:       c.State().String(),
				StatusCode:  c.Transition().StatusCode,
				Reason:      c.Transition().ReasonText,
			}
			if err := c.Err(); err != nil {
				end.Error = err.Error()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := col.Stop(ctx, end, true); err != nil {
				c.log.Error("could not store the call's last stats", "err", err)
			}
		},
	}
}

// mediaSourceAudioID is the id of the media-source object addAudioStats
// makes when the report has none.
const mediaSourceAudioID = "media-source-audio"

// addAudioStats fills the audio fields pion cannot know: in the inbound-rtp
// of the far end's stream, what the decoder measured (pion reports them as
// zeros); in the local audio's media-source (made if the report has none),
// what the source measured since this call attached it.
func (c *Call) addAudioStats(objs []stats.Object) []stats.Object {
	c.mu.Lock()
	recv, ssrc := c.recv, c.recvSSRC
	c.mu.Unlock()
	if recv != nil {
		in := recv.Stats()
		for _, o := range objs {
			if o["type"] != string(webrtc.StatsTypeInboundRTP) || o["kind"] != "audio" || !sameSSRC(o["ssrc"], ssrc) {
				continue
			}
			o["audioLevel"] = in.AudioLevel
			o["totalAudioEnergy"] = in.TotalAudioEnergy
			o["totalSamplesDuration"] = in.TotalSamplesDuration
			o["totalSamplesReceived"] = in.TotalSamplesReceived
			o["concealedSamples"] = in.ConcealedSamples
			o["silentConcealedSamples"] = in.SilentConcealedSamples
			o["concealmentEvents"] = in.ConcealmentEvents
		}
	}
	if c.sender == nil {
		return objs
	}
	src := c.p.cfg.Source.Stats().Since(c.srcBase)
	var ms stats.Object
	for _, o := range objs {
		if o["type"] == string(webrtc.StatsTypeMediaSource) && o["kind"] == "audio" {
			ms = o
		}
	}
	if ms == nil {
		ms = stats.Object{
			"id":              mediaSourceAudioID,
			"type":            string(webrtc.StatsTypeMediaSource),
			"timestamp":       float64(time.Now().UnixNano()) / 1e6,
			"kind":            "audio",
			"trackIdentifier": c.p.cfg.Source.Track().ID(),
		}
		objs = append(objs, ms)
	}
	ms["audioLevel"] = src.AudioLevel
	ms["totalAudioEnergy"] = src.TotalAudioEnergy
	ms["totalSamplesDuration"] = src.TotalSamplesDuration
	return objs
}

// sameSSRC compares an object's ssrc (a JSON number once converted) with
// ssrc.
func sameSSRC(v any, ssrc uint32) bool {
	switch n := v.(type) {
	case float64:
		return n == float64(ssrc)
	case uint32:
		return n == ssrc
	}
	return false
}
