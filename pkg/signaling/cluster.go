package signaling

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Cluster joins a Server to the other nodes of a signaling tier, so that a
// caller on one node reaches a callee on another (package
// signaling/natscluster carries it over NATS; docs/scale-out.md). A Server
// without one is alone: every id and every call is its own, as before.
//
// The Server keeps its own connections, ids and calls as it always does,
// and asks the cluster only about what is not its own: an id another node
// may hold, a callee it does not have, the far half of a call whose other
// party is elsewhere.
type Cluster interface {
	// Bind tells the cluster where what arrives for this node goes.
	// NewServer calls it once, before the server serves anything.
	Bind(h ClusterHandler)
	// Claim takes user for the connection session across the cluster.
	// ErrClaimed: another node's live connection holds it.
	Claim(ctx context.Context, user, session string) error
	// Release gives user up: the connection that held it is gone.
	Release(user string)
	// Offer sends an "incoming" to the node that holds m.To, and returns
	// that node and its answer: "trying" (the callee has the offer), "end"
	// (with the status why not) or "error". ErrNoRoute: no node holds the
	// id; ErrClusterDown, ErrNodeTimeout: it could not be asked.
	Offer(ctx context.Context, m Message) (node string, reply Message, err error)
	// Relay passes m, a message of call m.CallID, to node, which holds the
	// call's other party. Messages to one node arrive in the order sent.
	Relay(node string, m Message) error
	// Healthy is nil while this node reaches the rest of the cluster.
	Healthy() error
}

// ClusterHandler is the server as its cluster sees it. Its methods do not
// block on the network.
type ClusterHandler interface {
	// Incoming delivers another node's "incoming" to the callee registered
	// here and returns the answer for that node (see Cluster.Offer).
	Incoming(node string, m Message) Message
	// Relayed delivers a message of a call whose other party is on node.
	Relayed(node string, m Message)
	// NodeGone ends every call whose other party was on node (status 480).
	NodeGone(node string)
	// Revoked drops a registration that another node now holds (after this
	// node lost touch with the cluster for longer than its lease): the
	// connection that held it is closed, so that its client registers
	// again.
	Revoked(user string)
}

// ErrCodeClusterUnavailable answers a "register" that a node of a
// signaling tier could not check with the other nodes (their NATS is
// unreachable): try again later.
const ErrCodeClusterUnavailable = "cluster_unavailable"

// offerTimeout bounds the wait for the callee's node to take an offer.
const offerTimeout = 5 * time.Second

// closeGoingAway is WebSocket's close code 1001.
const closeGoingAway = 1001

// remoteRoute is what a route keeps of a party on another node.
type remoteRoute struct {
	// remote is the node of the party that is not here ("" while offering).
	remote string
	// offering: the caller is here and the offer is on its way to the
	// callee's node; messages both ways wait in outbox and early.
	offering bool
	outbox   []Message
	early    []Message
}

// clusterHandler is the server behind its ClusterHandler face.
type clusterHandler struct{ s *Server }

// claim takes m.User across the cluster for p, which holds it here
// already; on failure p no longer holds it and has been told why.
func (s *Server) claim(p *peer, m Message) bool {
	ctx, cancel := context.WithTimeout(p.ctx, offerTimeout)
	err := s.cfg.Cluster.Claim(ctx, m.User, p.id)
	cancel()
	if err == nil {
		return true
	}
	s.mu.Lock()
	if s.users[m.User] == p {
		delete(s.users, m.User)
		delete(p.users, m.User)
		if s.addrRegs[p.host]--; s.addrRegs[p.host] <= 0 {
			delete(s.addrRegs, p.host)
		}
	}
	s.mu.Unlock()
	if errors.Is(err, ErrClaimed) {
		sendError(p, m, ErrCodeAlreadyRegistered,
			fmt.Sprintf("%s is already registered by another connection", clip(m.User)))
		return false
	}
	p.log.Warn("registration failed: the cluster cannot be reached", "user", m.User, "err", err)
	sendError(p, m, ErrCodeClusterUnavailable, fmt.Sprintf("registering %s: %v; try again", clip(m.User), err))
	return false
}

// offer places call m, whose callee is not here: the cluster finds its
// node. It runs beside p's reader: what p sends for the call meanwhile
// waits in r.outbox, what the callee's node sends in r.early.
func (s *Server) offer(p *peer, r *route, m Message, incoming Message) {
	ctx, cancel := context.WithTimeout(p.ctx, offerTimeout)
	node, reply, err := s.cfg.Cluster.Offer(ctx, incoming)
	cancel()
	if err == nil && reply.Type == TypeTrying {
		s.mu.Lock()
		r.remote, r.offering = node, false
		outbox, early := r.outbox, r.early
		r.outbox, r.early = nil, nil
		live := s.calls[r.id] == r // not ended (by the caller, or a shutdown) meanwhile
		// Sent under the lock, so that nothing overtakes what waited: the
		// sends only queue.
		var ended *Message
		if live {
			_ = p.send(Message{Type: TypeTrying, CallID: r.id})
			for _, e := range early {
				if e.Type == TypeEnd {
					ended = &e
					break
				}
				s.deliverRelayed(r, e)
			}
		}
		for _, o := range outbox {
			_ = s.cfg.Cluster.Relay(node, o)
		}
		s.mu.Unlock()
		p.log.Info("call routed", "call", r.id, "from", r.from, "to", r.to, "node", node)
		if ended != nil {
			s.finishRoute(r, nil, false, ended.Status, ended.Reason)
		}
		return
	}
	// Not routed: the route goes, and the caller hears why.
	s.mu.Lock()
	if s.calls[r.id] == r {
		delete(s.calls, r.id)
	}
	r.offering = false
	p.lastActive = time.Now()
	s.mu.Unlock()
	switch {
	case err == nil && reply.Type == TypeError:
		sendError(p, m, reply.Code, reply.Message)
	case err == nil: // "end"
		_ = p.send(Message{Type: TypeEnd, CallID: r.id, Status: reply.Status, Reason: reply.Reason})
	case errors.Is(err, ErrNoRoute):
		p.log.Info("call to unknown callee", "call", r.id, "from", r.from, "to", r.to)
		_ = p.send(Message{Type: TypeEnd, CallID: r.id, Status: StatusCalleeNotFound,
			Reason: fmt.Sprintf("callee %s is not registered", clip(r.to))})
	case errors.Is(err, ErrClusterDown):
		p.log.Warn("call not routed: cluster unreachable", "call", r.id, "to", r.to, "err", err)
		_ = p.send(Message{Type: TypeEnd, CallID: r.id, Status: StatusServerShutdown,
			Reason: "signaling cluster unreachable"})
	default:
		p.log.Warn("call not routed: the callee's node did not answer", "call", r.id, "to", r.to, "err", err)
		_ = p.send(Message{Type: TypeEnd, CallID: r.id, Status: StatusPeerUnavailable,
			Reason: "the callee's signaling node did not answer"})
	}
}

// relayRemote passes a party's message on to the other party's node. Like
// relay, it refuses a message that would not fit in a frame.
func (s *Server) relayRemote(r *route, from *peer, orig, m Message) bool {
	if _, err := Encode(m); err != nil {
		sendError(from, orig, ErrCodeBadMessage, "not relayed: "+err.Error())
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.offering {
		r.outbox = append(r.outbox, m)
		return true
	}
	if err := s.cfg.Cluster.Relay(r.remote, m); err != nil {
		from.log.Warn("message not relayed to the other node", "type", m.Type, "call", r.id, "node", r.remote, "err", err)
	}
	return true
}

// endRemote tells the remote party's node that the call ended.
func (s *Server) endRemote(r *route, end Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.offering {
		r.outbox = append(r.outbox, end)
		return
	}
	_ = s.cfg.Cluster.Relay(r.remote, end)
}

// deliverRelayed hands a relayed message to the party that is here.
// Called with s.mu held; the sends only queue.
func (s *Server) deliverRelayed(r *route, m Message) {
	local := r.caller
	if local == nil {
		local = r.callee
	}
	if m.Type == TypeAnswer {
		r.answered = true
	}
	_ = local.send(m)
}

// Incoming implements ClusterHandler.
func (h clusterHandler) Incoming(node string, m Message) Message {
	s := h.s
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return Message{Type: TypeEnd, CallID: m.CallID, Status: StatusServerShutdown, Reason: "signaling server shutting down"}
	}
	if _, dup := s.calls[m.CallID]; dup {
		s.mu.Unlock()
		return Message{Type: TypeError, CallID: m.CallID, Code: ErrCodeDuplicateCall,
			Message: fmt.Sprintf("call id %s is already in use", clip(m.CallID))}
	}
	callee, ok := s.users[m.To]
	if !ok {
		s.mu.Unlock()
		return Message{Type: TypeEnd, CallID: m.CallID, Status: StatusCalleeNotFound,
			Reason: fmt.Sprintf("callee %s is not registered", clip(m.To))}
	}
	r := &route{id: m.CallID, from: m.From, to: m.To, callee: callee, remoteRoute: remoteRoute{remote: node}}
	s.calls[m.CallID] = r
	s.mu.Unlock()
	callee.log.Info("call routed", "call", m.CallID, "from", m.From, "to", m.To, "node", node)
	if err := callee.send(Message{Type: TypeIncoming, CallID: m.CallID, From: m.From, To: m.To, SDP: m.SDP}); err != nil {
		s.mu.Lock()
		if s.calls[m.CallID] == r {
			delete(s.calls, m.CallID)
		}
		s.mu.Unlock()
		return Message{Type: TypeEnd, CallID: m.CallID, Status: StatusPeerUnavailable, Reason: "callee connection failed"}
	}
	return Message{Type: TypeTrying, CallID: m.CallID}
}

// Relayed implements ClusterHandler. A message for a call this node does
// not carry with that node, or one the remote party may not send, is
// dropped: the sending node checked its own party already.
func (h clusterHandler) Relayed(node string, m Message) {
	s := h.s
	s.mu.Lock()
	r, ok := s.calls[m.CallID]
	if !ok || (r.remote != node && !r.offering) {
		s.mu.Unlock()
		return
	}
	remoteIsCallee := r.callee == nil
	// The answer to an update sent from here, whichever party sent it.
	if m.Type == TypeAnswer && r.updater != nil {
		r.updater = nil
		s.deliverRelayed(r, m)
		s.mu.Unlock()
		return
	}
	if !remoteIsCallee && (m.Type == TypeRinging || m.Type == TypeAnswer) {
		s.mu.Unlock()
		return
	}
	if m.Type == TypeUpdate {
		if !r.answered || r.updater != nil || r.remoteUpdater {
			s.mu.Unlock()
			return // the sending node checked its party; a crossing update loses
		}
		r.remoteUpdater = true
	}
	if r.offering {
		r.early = append(r.early, m)
		s.mu.Unlock()
		return
	}
	if m.Type != TypeEnd {
		s.deliverRelayed(r, m)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.finishRoute(r, nil, false, m.Status, m.Reason)
}

// NodeGone implements ClusterHandler.
func (h clusterHandler) NodeGone(node string) {
	s := h.s
	s.mu.Lock()
	var gone []*route
	for _, r := range s.calls {
		if r.remote == node {
			gone = append(gone, r)
		}
	}
	s.mu.Unlock()
	for _, r := range gone {
		s.finishRoute(r, nil, false, StatusPeerUnavailable, "the other party's signaling node is gone")
	}
}

// Revoked implements ClusterHandler.
func (h clusterHandler) Revoked(user string) {
	s := h.s
	s.mu.Lock()
	p, ok := s.users[user]
	if ok {
		delete(s.users, user)
		delete(p.users, user)
		if s.addrRegs[p.host]--; s.addrRegs[p.host] <= 0 {
			delete(s.addrRegs, p.host)
		}
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	p.log.Warn("registration taken over by another node; closing the connection so that its client registers again", "user", user)
	p.cancel(&closeError{code: closeGoingAway, text: "registration lost"})
}
