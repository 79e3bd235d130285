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
