// Package natscluster carries a signaling tier over NATS: each "callstat
// serve --nats" process is a node, and the nodes reach each other's
// parties through NATS subjects (signaling.Cluster). The subjects, the
// messages on them and what fails how are in docs/scale-out.md; keep the
// two in step.
//
//   - An id registered on a node is claimed in a JetStream key-value
//     bucket (atomic create: one holder at a time, as on one server) under
//     a lease the node renews, and the node subscribes to the id's
//     subject. A call to an id nobody holds finds no subscriber: NATS
//     answers "no responders" at once, and the caller hears 404.
//   - Messages of a call whose parties are on two nodes go to the other
//     node's subject, in order.
//   - Nodes publish heartbeats; a node that misses them for NodeTimeout is
//     gone, and the calls with its parties end with 480.
package natscluster

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/callstat/callstat/pkg/signaling"
)

// Version is the version of the subjects and messages (docs/scale-out.md).
const Version = 1

// Subjects and names. Every subject starts with Prefix.
const (
	Prefix = "callstat.sig.v1"
	// UserSubject + "." + Key(id): offers ("incoming") for the id, as
	// requests; the holding node answers trying, end or error.
	UserSubject = Prefix + ".user"
	// NodeSubject + "." + node id: the messages of calls the node carries
	// (ringing, answer, candidate, end), and liveness pings.
	NodeSubject = Prefix + ".node"
	// HeartbeatSubject + "." + node id: the node's heartbeats.
	HeartbeatSubject = Prefix + ".hb"
	// Bucket is the JetStream key-value bucket of registrations.
	Bucket = "callstat_sig_v1_registrations"
	// HeaderNode names the sending node on every message.
	HeaderNode = "Callstat-Node"
	// HeaderPing marks a liveness request on a node's subject.
	HeaderPing = "Callstat-Ping"
)

// Defaults.
const (
	DefaultNodeTimeout = 4 * time.Second
	DefaultLease       = 30 * time.Second
	pingTimeout        = time.Second
	opTimeout          = 3 * time.Second
	offerQueue         = 4096
)

// Key is the subject token and bucket key of an id: ids may hold any
// character and be long, keys may not.
func Key(id string) string {
	sum := sha256.Sum256([]byte(id))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Registration is the value of an id's key in Bucket.
type Registration struct {
	V       int       `json:"v"`
	User    string    `json:"user"`
	Node    string    `json:"node"`
	Session string    `json:"session"`
	At      time.Time `json:"at"`
}

// Heartbeat is what a node publishes on its heartbeat subject.
type Heartbeat struct {
	V        int    `json:"v"`
	Node     string `json:"node"`
	Software string `json:"software"`
	// IntervalMs is how often the node sends one.
	IntervalMs int64 `json:"intervalMs"`
}

// Config configures a node.
type Config struct {
	Conn   *nats.Conn
	Logger *slog.Logger
	// Software is announced in heartbeats, e.g. "callstat/1.2.0".
	Software string
	// NodeTimeout: a node silent this long is gone (its calls end with
	// 480). Heartbeats go out every NodeTimeout/4.
	NodeTimeout time.Duration
	// Lease is how long a registration outlives its node's last renewal;
	// renewals go out every Lease/3.
	Lease time.Duration
	// Replicas of the registrations bucket when this node creates it
	// (default 1; 3 for a three-server NATS cluster).
	Replicas int
}

// Stats count what a node did and what it ignored.
type Stats struct {
	Offers, Incoming, Relayed, Received int64
	// Ignored counts messages on the node's subjects that did not parse or
	// were not for it: dropped, never fatal.
	Ignored int64
	// NodesGone counts nodes declared gone.
	NodesGone int64
}

// Node is one signaling server's place in the tier. It implements
// signaling.Cluster.
type Node struct {
	id      string
	cfg     Config
	nc      *nats.Conn
	log     *slog.Logger
	kv      atomic.Pointer[jetstream.KeyValue]
	js      jetstream.JetStream
	handler atomic.Pointer[signaling.ClusterHandler]
	started time.Time

	mu   sync.Mutex
	regs map[string]*reg      // by user
	seen map[string]time.Time // other nodes' last sign of life

	offers  chan *nats.Msg
	subs    []*nats.Subscription
	kick    chan struct{} // renew the registrations now (after a reconnect)
	resetHB atomic.Bool   // forget silence: this node was the one cut off
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	offersN, incomingN, relayedN, receivedN, ignoredN, goneN atomic.Int64
}

// reg is a registration this node holds.
type reg struct {
	key     string
	rev     uint64
	session string
	sub     *nats.Subscription
}

var _ signaling.Cluster = (*Node)(nil)

// Join makes a node on cfg.Conn: it creates the registrations bucket if
// missing, subscribes to its subjects and starts its heartbeats. Close
// leaves.
func Join(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Conn == nil {
		return nil, errors.New("natscluster: no NATS connection")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.NodeTimeout <= 0 {
		cfg.NodeTimeout = DefaultNodeTimeout
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	cfg.Lease = max(cfg.Lease, cfg.NodeTimeout)
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	id := strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	n := &Node{
		id: id, cfg: cfg, nc: cfg.Conn, log: cfg.Logger.With("node", id), started: time.Now(),
		regs: map[string]*reg{}, seen: map[string]time.Time{},
		offers: make(chan *nats.Msg, offerQueue), kick: make(chan struct{}, 1),
	}
	js, err := jetstream.New(n.nc)
	if err != nil {
		return nil, fmt.Errorf("natscluster: JetStream: %w", err)
	}
	n.js = js
	if err := n.ensureBucket(ctx); err != nil {
		return nil, err
	}
	for _, s := range []struct {
		subject string
		fn      nats.MsgHandler
	}{
		{NodeSubject + "." + id, n.onNode},
		{HeartbeatSubject + ".*", n.onHeartbeat},
	} {
		sub, err := n.nc.Subscribe(s.subject, s.fn)
		if err != nil {
			n.unsubscribe()
			return nil, fmt.Errorf("natscluster: subscribing to %s: %w", s.subject, err)
		}
		n.subs = append(n.subs, sub)
	}
	fctx, fcancel := context.WithTimeout(ctx, opTimeout)
	err = n.nc.FlushWithContext(fctx)
	fcancel()
	if err != nil {
		n.unsubscribe()
		return nil, fmt.Errorf("natscluster: %w: %w", signaling.ErrClusterDown, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.wg.Add(3)
	go n.heartbeats(runCtx)
	go n.renewals(runCtx)
	go n.serveOffers(runCtx)
	n.log.Info("joined the signaling cluster", "nodeTimeout", cfg.NodeTimeout.String(), "lease", cfg.Lease.String())
	return n, nil
}

// ID is the node's id, fresh for each process.
func (n *Node) ID() string { return n.id }

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	return Stats{Offers: n.offersN.Load(), Incoming: n.incomingN.Load(), Relayed: n.relayedN.Load(),
		Received: n.receivedN.Load(), Ignored: n.ignoredN.Load(), NodesGone: n.goneN.Load()}
}

// Reconnected is called when the NATS connection is back: the node
// renews its registrations at once (a restarted NATS lost them) and
// forgets the other nodes' silence, which was its own.
func (n *Node) Reconnected() {
	n.resetHB.Store(true)
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

func (n *Node) ensureBucket(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	kv, err := n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "callstat signaling tier: which node holds each registered id (docs/scale-out.md)",
		History:     1,
		TTL:         n.cfg.Lease,
		Storage:     jetstream.MemoryStorage,
		Replicas:    n.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("natscluster: the registrations bucket %s: %w (the NATS server needs JetStream: nats-server -js)", Bucket, err)
	}
	n.kv.Store(&kv)
	return nil
}

// Bind implements signaling.Cluster.
func (n *Node) Bind(h signaling.ClusterHandler) { n.handler.Store(&h) }

func (n *Node) h() signaling.ClusterHandler {
	if p := n.handler.Load(); p != nil {
		return *p
	}
	return nil
}

// Healthy implements signaling.Cluster.
func (n *Node) Healthy() error {
	if !n.nc.IsConnected() {
		return fmt.Errorf("%w: NATS connection %s", signaling.ErrClusterDown, n.nc.Status())
	}
	return nil
}

func (n *Node) value(user, session string) []byte {
	b, _ := json.Marshal(Registration{V: Version, User: user, Node: n.id, Session: session, At: time.Now().UTC()})
	return b
}

// Claim implements signaling.Cluster.
func (n *Node) Claim(ctx context.Context, user, session string) error {
	if err := n.Healthy(); err != nil {
		return err
	}
	kv := *n.kv.Load()
	key := Key(user)
	rev, err := kv.Create(ctx, key, n.value(user, session))
	if errors.Is(err, jetstream.ErrKeyExists) {
		rev, err = n.takeOver(ctx, kv, key, user, session)
	} else if err != nil && isBucketGone(err) {
		if err = n.ensureBucket(ctx); err == nil {
			return n.Claim(ctx, user, session)
		}
	}
	if err != nil {
		if errors.Is(err, signaling.ErrClaimed) {
			return err
		}
		return fmt.Errorf("%w: %w", signaling.ErrClusterDown, err)
	}
	// A restarted NATS forgets the bucket, not the subscriptions: the live
	// holder of an id whose key it has not put back yet still answers on
	// the id's subject.
	if n.held(ctx, key) {
		_ = kv.Delete(ctx, key, jetstream.LastRevision(rev))
		return signaling.ErrClaimed
	}
	sub, err := n.nc.ChanSubscribe(UserSubject+"."+key, n.offers)
	if err == nil {
		err = n.nc.FlushWithContext(ctx)
	}
	if err != nil {
		if sub != nil {
			_ = sub.Unsubscribe()
		}
		_ = kv.Delete(ctx, key, jetstream.LastRevision(rev))
		return fmt.Errorf("%w: %w", signaling.ErrClusterDown, err)
	}
	n.mu.Lock()
	if old := n.regs[user]; old != nil && old.sub != nil {
		_ = old.sub.Unsubscribe()
	}
	n.regs[user] = &reg{key: key, rev: rev, session: session, sub: sub}
	n.mu.Unlock()
	return nil
}

// takeOver claims a key that exists: it is free if the node named in it is
// this one or no longer on NATS (a node that was killed: its subscription
// went with its connection); otherwise the id is taken.
func (n *Node) takeOver(ctx context.Context, kv jetstream.KeyValue, key, user, session string) (uint64, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return kv.Create(ctx, key, n.value(user, session))
	}
	if err != nil {
		return 0, err
	}
	var r Registration
	if json.Unmarshal(e.Value(), &r) == nil && r.Node != n.id && n.alive(ctx, r.Node) {
		return 0, signaling.ErrClaimed
	}
	rev, err := kv.Update(ctx, key, n.value(user, session), e.Revision())
	if err != nil {
		return 0, fmt.Errorf("%w: %w", signaling.ErrClaimed, err) // someone was quicker
	}
	n.log.Info("registration taken over from a node that is gone", "user", user, "from", r.Node)
	return rev, nil
}

// held asks whether a node subscribes to the id of key: no responders,
// no holder; an answer, or none in time, a holder.
func (n *Node) held(ctx context.Context, key string) bool {
	msg := nats.NewMsg(UserSubject + "." + key)
	msg.Header.Set(HeaderNode, n.id)
	msg.Header.Set(HeaderPing, "1")
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	_, err := n.nc.RequestMsgWithContext(ctx, msg)
	return !errors.Is(err, nats.ErrNoResponders)
}

// alive asks node whether it is there. No responders: it is not (NATS
// knows at once). No answer in time: it may be, and the id stays its.
func (n *Node) alive(ctx context.Context, node string) bool {
	if node == "" {
		return false
	}
	msg := nats.NewMsg(NodeSubject + "." + node)
	msg.Header.Set(HeaderNode, n.id)
	msg.Header.Set(HeaderPing, "1")
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	_, err := n.nc.RequestMsgWithContext(ctx, msg)
	return !errors.Is(err, nats.ErrNoResponders)
}

func isBucketGone(err error) bool {
	return errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || strings.Contains(err.Error(), "stream not found")
}

// Release implements signaling.Cluster.
func (n *Node) Release(user string) {
	n.mu.Lock()
	r := n.regs[user]
	delete(n.regs, user)
	n.mu.Unlock()
	if r == nil {
		return
	}
	n.drop(r)
}

func (n *Node) drop(r *reg) {
	if r.sub != nil {
		_ = r.sub.Unsubscribe()
	}
	if !n.nc.IsConnected() {
		return // the lease ends it
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_ = (*n.kv.Load()).Delete(ctx, r.key, jetstream.LastRevision(r.rev))
}

// Offer implements signaling.Cluster.
func (n *Node) Offer(ctx context.Context, m signaling.Message) (string, signaling.Message, error) {
	if err := n.Healthy(); err != nil {
		return "", signaling.Message{}, err
	}
	data, err := signaling.Encode(m)
	if err != nil {
		return "", signaling.Message{}, err
	}
	n.offersN.Add(1)
	msg := nats.NewMsg(UserSubject + "." + Key(m.To))
	msg.Header.Set(HeaderNode, n.id)
	msg.Data = data
	resp, err := n.nc.RequestMsgWithContext(ctx, msg)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return "", signaling.Message{}, signaling.ErrNoRoute
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return "", signaling.Message{}, fmt.Errorf("%w: %w", signaling.ErrNodeTimeout, err)
	case err != nil:
		return "", signaling.Message{}, fmt.Errorf("%w: %w", signaling.ErrClusterDown, err)
	}
	node := resp.Header.Get(HeaderNode)
	reply, err := signaling.Decode(resp.Data)
	if err != nil || node == "" {
		n.ignoredN.Add(1)
		return "", signaling.Message{}, fmt.Errorf("%w: the callee's node answered %q", signaling.ErrNodeTimeout, clip(resp.Data))
	}
	n.touch(node)
	return node, reply, nil
}

// Relay implements signaling.Cluster. While NATS is reconnecting the
// message waits in the client's buffer and goes once it is back.
func (n *Node) Relay(node string, m signaling.Message) error {
	data, err := signaling.Encode(m)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(NodeSubject + "." + node)
	msg.Header.Set(HeaderNode, n.id)
	msg.Data = data
	n.relayedN.Add(1)
	return n.nc.PublishMsg(msg)
}

// serveOffers answers the offers for the ids this node holds, in order.
func (n *Node) serveOffers(ctx context.Context) {
	defer n.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-n.offers:
			n.onOffer(msg)
		}
	}
}

func (n *Node) onOffer(msg *nats.Msg) {
	node := msg.Header.Get(HeaderNode)
	if msg.Header.Get(HeaderPing) != "" && msg.Reply != "" {
		_ = msg.Respond(nil) // held here
		return
	}
	m, err := signaling.Decode(msg.Data)
	h := n.h()
	if err != nil || m.Type != signaling.TypeIncoming || node == "" || msg.Reply == "" || h == nil {
		n.ignoredN.Add(1)
		n.log.Debug("ignored a message on a user subject", "subject", msg.Subject, "err", err)
		if msg.Reply != "" {
			n.respond(msg, signaling.Message{Type: signaling.TypeError, Code: signaling.ErrCodeBadMessage, Message: "not an incoming call"})
		}
		return
	}
	n.incomingN.Add(1)
	n.touch(node)
	n.respond(msg, h.Incoming(node, m))
}

func (n *Node) respond(req *nats.Msg, m signaling.Message) {
	data, err := signaling.Encode(m)
	if err != nil {
		return
	}
	resp := nats.NewMsg(req.Reply)
	resp.Header.Set(HeaderNode, n.id)
	resp.Data = data
	_ = n.nc.PublishMsg(resp)
}

// relayable are the types a node passes on for a call.
func relayable(t signaling.Type) bool {
	switch t {
	case signaling.TypeRinging, signaling.TypeAnswer, signaling.TypeCandidate, signaling.TypeEnd:
		return true
	case signaling.TypeWelcome, signaling.TypeRegister, signaling.TypeRegistered, signaling.TypeCall,
		signaling.TypeTrying, signaling.TypeIncoming, signaling.TypeReject, signaling.TypeError:
		return false
	default: // a relayed type added since (the parties' own messages)
		return true
	}
}

func (n *Node) onNode(msg *nats.Msg) {
	node := msg.Header.Get(HeaderNode)
	if msg.Header.Get(HeaderPing) != "" && msg.Reply != "" {
		_ = msg.Respond(nil)
		return
	}
	m, err := signaling.Decode(msg.Data)
	h := n.h()
	if err != nil || node == "" || !relayable(m.Type) || h == nil {
		n.ignoredN.Add(1)
		n.log.Debug("ignored a message on the node's subject", "from", node, "err", err)
		return
	}
	n.receivedN.Add(1)
	n.touch(node)
	h.Relayed(node, m)
}

// touch notes a sign of life from node.
func (n *Node) touch(node string) {
	if node == n.id {
		return
	}
	n.mu.Lock()
	n.seen[node] = time.Now()
	n.mu.Unlock()
}

func (n *Node) onHeartbeat(msg *nats.Msg) {
	var hb Heartbeat
	if err := json.Unmarshal(msg.Data, &hb); err != nil || hb.V != Version || hb.Node == "" ||
		msg.Subject != HeartbeatSubject+"."+hb.Node {
		n.ignoredN.Add(1)
		return
	}
	n.touch(hb.Node)
}

// heartbeats sends this node's and ends the calls of nodes that stopped
// sending theirs.
func (n *Node) heartbeats(ctx context.Context) {
	defer n.wg.Done()
	every := n.cfg.NodeTimeout / 4
	hb, _ := json.Marshal(Heartbeat{V: Version, Node: n.id, Software: n.cfg.Software, IntervalMs: every.Milliseconds()})
	subject := HeartbeatSubject + "." + n.id
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if n.nc.IsConnected() {
			_ = n.nc.Publish(subject, hb)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n.checkNodes()
	}
}

// checkNodes declares gone the nodes silent for NodeTimeout. Cut off from
// NATS, this node judges nobody; back, it starts their clocks again.
func (n *Node) checkNodes() {
	if !n.nc.IsConnected() {
		return
	}
	now := time.Now()
	var gone []string
	n.mu.Lock()
	reset := n.resetHB.Swap(false)
	for node, at := range n.seen {
		switch {
		case reset:
			// The others reconnect too, some later than this node: one
			// more timeout of grace before anybody's silence counts.
			n.seen[node] = now.Add(n.cfg.NodeTimeout)
		case now.Sub(at) > n.cfg.NodeTimeout:
			delete(n.seen, node)
			gone = append(gone, node)
		}
	}
	n.mu.Unlock()
	h := n.h()
	for _, node := range gone {
		n.goneN.Add(1)
		n.log.Warn("signaling node gone: ending its calls", "gone", node, "silentFor", n.cfg.NodeTimeout.String())
		if h != nil {
			h.NodeGone(node)
		}
	}
}

// renewals keep the registrations' leases.
func (n *Node) renewals(ctx context.Context) {
	defer n.wg.Done()
	tick := time.NewTicker(n.cfg.Lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-n.kick:
		}
		n.renew(ctx)
	}
}

func (n *Node) renew(ctx context.Context) {
	if !n.nc.IsConnected() {
		return
	}
	n.mu.Lock()
	users := make(map[string]*reg, len(n.regs))
	for u, r := range n.regs {
		users[u] = r
	}
	n.mu.Unlock()
	for user, r := range users {
		if ctx.Err() != nil {
			return
		}
		rev, err := n.renewOne(ctx, user, r, true)
		n.mu.Lock()
		cur := n.regs[user]
		if cur == r {
			if err == nil {
				r.rev = rev
			} else if errors.Is(err, signaling.ErrClaimed) {
				delete(n.regs, user)
			}
		}
		n.mu.Unlock()
		if cur != r {
			continue
		}
		if errors.Is(err, signaling.ErrClaimed) {
			if r.sub != nil {
				_ = r.sub.Unsubscribe()
			}
			if h := n.h(); h != nil {
				h.Revoked(user)
			}
		} else if err != nil {
			n.log.Warn("registration lease not renewed", "user", user, "err", err)
		}
	}
}

// renewOne renews one lease; ErrClaimed: another node holds the id now.
func (n *Node) renewOne(ctx context.Context, user string, r *reg, again bool) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout+2*pingTimeout)
	defer cancel()
	kv := *n.kv.Load()
	val := n.value(user, r.session)
	rev, err := kv.Update(ctx, r.key, val, r.rev)
	if err == nil {
		return rev, nil
	}
	if isBucketGone(err) {
		if err := n.ensureBucket(ctx); err != nil {
			return 0, err
		}
		kv = *n.kv.Load()
	}
	// Lost (a restarted NATS) or changed: look at what is there.
	e, gerr := kv.Get(ctx, r.key)
	switch {
	case errors.Is(gerr, jetstream.ErrKeyNotFound), errors.Is(gerr, jetstream.ErrKeyDeleted):
		return kv.Create(ctx, r.key, val)
	case gerr != nil:
		return 0, gerr
	}
	var cur Registration
	if json.Unmarshal(e.Value(), &cur) == nil && cur.Node == n.id && cur.Session == r.session {
		return kv.Update(ctx, r.key, val, e.Revision())
	}
	if !again {
		return 0, signaling.ErrClaimed
	}
	// Another node's key, while this node still holds the id: that node
	// may be in the middle of a claim it is about to give up (it finds
	// this node's subscription). Look again after that.
	t := time.NewTimer(2 * pingTimeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-t.C:
	}
	return n.renewOne(ctx, user, r, false)
}

// Close leaves the cluster: heartbeats stop, the registrations still held
// are released. The NATS connection stays open (its owner closes it).
func (n *Node) Close() error {
	n.cancel()
	n.wg.Wait()
	n.mu.Lock()
	regs := n.regs
	n.regs = map[string]*reg{}
	n.mu.Unlock()
	for _, r := range regs {
		n.drop(r)
	}
	n.unsubscribe()
	if n.nc.IsConnected() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		_ = n.nc.FlushWithContext(ctx)
	}
	n.log.Info("left the signaling cluster", "ignored", n.ignoredN.Load())
	return nil
}

func (n *Node) unsubscribe() {
	for _, s := range n.subs {
		_ = s.Unsubscribe()
	}
	n.subs = nil
}

func clip(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}
