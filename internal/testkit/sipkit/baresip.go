package sipkit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Baresip is a running baresip (Debian's baresip-core 1.0): a SIP user
// agent that is not pion, on SIP/UDP with plain RTP, driven through its
// ctrl_tcp module (JSON commands and events in netstrings). It sends a
// sine tone (ausine) and its sndfile module writes what it sends and hears
// to WAV files.
type Baresip struct {
	// AOR is its address of record.
	AOR string
	// Dumps is the directory of its sndfile recordings:
	// dump-<peer>-<time>-enc.wav (sent) and …-dec.wav (heard).
	Dumps string

	p    *proc
	ctrl net.Conn
	done chan struct{} // the control reader has returned

	mu     sync.Mutex
	events []BaresipEvent
	taken  []bool
	notify chan struct{} // closed and replaced when something arrives
	resps  map[string]baresipResponse
	token  int
}

// BaresipEvent is one event of baresip's ctrl_tcp module.
type BaresipEvent struct {
	Type      string `json:"type"`
	Class     string `json:"class"`
	AOR       string `json:"accountaor"`
	Direction string `json:"direction"`
	PeerURI   string `json:"peeruri"`
	ID        string `json:"id"`
	Param     string `json:"param"`
}

type baresipResponse struct {
	OK   bool   `json:"ok"`
	Data string `json:"data"`
}

// BaresipOptions choose how baresip runs.
type BaresipOptions struct {
	// Registrar is the SIP/UDP address it registers with and sends
	// everything to (Kamailio's UDPAddr).
	Registrar string
	// User and Password are its account at Domain.
	User, Password string
	// ToneHz is the frequency of the tone it sends.
	ToneHz int
	// AutoAnswer answers incoming calls at once.
	AutoAnswer bool
}

// StartBaresip starts baresip on loopback ports chosen here and waits
// until it has registered; the test stops it.
func StartBaresip(t testing.TB, opts BaresipOptions) *Baresip {
	t.Helper()
	bin := lookPath(t, "baresip", "baresip-core")
	dir := t.TempDir()
	dumps := filepath.Join(dir, "dumps")
	if err := os.Mkdir(dumps, 0o755); err != nil {
		t.Fatal(err)
	}
	sipPort, ctrlPort := FreePort(t, "udp"), FreePort(t, "tcp")
	rtpLow := 27000 + 2*rand.N(2500)
	answer := "manual"
	if opts.AutoAnswer {
		answer = "auto"
	}
	config := fmt.Sprintf(baresipConfig, sipPort, opts.ToneHz, rtpLow, rtpLow+99, ctrlPort, dumps)
	aor := "sip:" + opts.User + "@" + Domain
	accounts := fmt.Sprintf("<%s;transport=udp>;auth_pass=%s;outbound=\"sip:%s;transport=udp\";regint=600;answermode=%s\n",
		aor, opts.Password, opts.Registrar, answer)
	for name, body := range map[string]string{"config": config, "accounts": accounts, "contacts": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := start(t, "baresip", bin, "-f", dir)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	ctrlAddr := fmt.Sprintf("127.0.0.1:%d", ctrlPort)
	if err := p.waitTCP(ctx, ctrlAddr); err != nil {
		if strings.Contains(p.out.String(), "module") {
			t.Fatalf("%v: baresip-core lacks a module this test needs (ausine, sndfile, opus, ctrl_tcp, menu)", err)
		}
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", ctrlAddr)
	if err != nil {
		t.Fatal(err)
	}
	b := &Baresip{AOR: aor, Dumps: dumps, p: p, ctrl: conn, done: make(chan struct{}),
		notify: make(chan struct{}), resps: map[string]baresipResponse{}}
	go b.read()
	t.Cleanup(b.close)
	// It registers as it starts, maybe before our control connection:
	// ask until the registration shows.
	for {
		info, err := b.Command(ctx, "reginfo", "")
		if err != nil {
			t.Fatalf("baresip did not answer reginfo: %v", err)
		}
		if strings.Contains(info, "OK") {
			return b
		}
		select {
		case <-ctx.Done():
			t.Fatalf("baresip did not register with %s within %s:\n%s", opts.Registrar, startTimeout, info)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// baresipConfig: SIP on a loopback UDP port, media on loopback only, a
// sine tone as microphone (ausine wants 48 kHz stereo), ALSA's null device
// as speaker (no sound card), sndfile dumps, ctrl_tcp on loopback.
const baresipConfig = `poll_method		epoll
sip_listen		127.0.0.1:%d
net_interface		127.0.0.1
call_local_timeout	120
call_max_calls		4
audio_buffer		60
audio_player		alsa,null
audio_alert		alsa,null
audio_source		ausine,%d
ausrc_srate		48000
ausrc_channels		2
auplay_srate		48000
auplay_channels		2
audio_level		no
rtp_ports		%d-%d
rtcp_mux		no
rtp_stats		yes
jitter_buffer_delay	1-10
module_path		/usr/lib/baresip/modules
module			opus.so
module			g711.so
module			sndfile.so
module			ausine.so
module			alsa.so
module_tmp		uuid.so
module_tmp		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:%d
snd_path		%s
opus_bitrate		32000
`

// read takes netstrings off the control connection until it closes.
func (b *Baresip) read() {
	defer close(b.done)
	r := bufio.NewReader(b.ctrl)
	for {
		msg, err := readNetstring(r)
		if err != nil {
			return
		}
		var head struct {
			Event    bool   `json:"event"`
			Response bool   `json:"response"`
			Token    string `json:"token"`
		}
		if json.Unmarshal(msg, &head) != nil {
			continue
		}
		b.mu.Lock()
		switch {
		case head.Event:
			var ev BaresipEvent
			if json.Unmarshal(msg, &ev) == nil {
				b.events = append(b.events, ev)
				b.taken = append(b.taken, false)
			}
		case head.Response:
			var res baresipResponse
			if json.Unmarshal(msg, &res) == nil {
				b.resps[head.Token] = res
			}
		}
		close(b.notify)
		b.notify = make(chan struct{})
		b.mu.Unlock()
	}
}

func readNetstring(r *bufio.Reader) ([]byte, error) {
	head, err := r.ReadString(':')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(head, ":")))
	if err != nil || n < 0 || n > 1<<20 {
		return nil, fmt.Errorf("bad netstring length %q", head)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	if buf[n] != ',' {
		return nil, errors.New("netstring without its comma")
	}
	return buf[:n], nil
}

// wait blocks until something arrives on the control connection.
func (b *Baresip) wait(ctx context.Context) error {
	b.mu.Lock()
	ch := b.notify
	b.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-b.done:
		return errors.New("baresip's control connection closed")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Command runs a baresip command (those of its menu module: dial,
// hangup, accept, reginfo…) and returns its output.
func (b *Baresip) Command(ctx context.Context, command, params string) (string, error) {
	b.mu.Lock()
	b.token++
	token := strconv.Itoa(b.token)
	b.mu.Unlock()
	msg, err := json.Marshal(map[string]string{"command": command, "params": params, "token": token})
	if err != nil {
		return "", err
	}
	if _, err := fmt.Fprintf(b.ctrl, "%d:%s,", len(msg), msg); err != nil {
		return "", fmt.Errorf("baresip %s: %w", command, err)
	}
	for {
		b.mu.Lock()
		res, ok := b.resps[token]
		delete(b.resps, token)
		b.mu.Unlock()
		if ok {
			if !res.OK {
				return res.Data, fmt.Errorf("baresip %s %s failed: %s", command, params, res.Data)
			}
			return res.Data, nil
		}
		if err := b.wait(ctx); err != nil {
			return "", fmt.Errorf("baresip %s: %w", command, err)
		}
	}
}

// WaitEvent returns the first event of that type not returned before
// (CALL_INCOMING, CALL_ESTABLISHED, CALL_CLOSED…).
func (b *Baresip) WaitEvent(ctx context.Context, typ string) (BaresipEvent, error) {
	for {
		b.mu.Lock()
		for i, ev := range b.events {
			if ev.Type == typ && !b.taken[i] {
				b.taken[i] = true
				b.mu.Unlock()
				return ev, nil
			}
		}
		b.mu.Unlock()
		if err := b.wait(ctx); err != nil {
			return BaresipEvent{}, fmt.Errorf("waiting for baresip's %s: %w", typ, err)
		}
	}
}

// Output is what baresip printed so far.
func (b *Baresip) Output() string { return b.p.out.String() }

// DumpsOf lists its recordings of one direction ("enc": what it sent,
// "dec": what it heard).
func (b *Baresip) DumpsOf(direction string) []string {
	files, _ := filepath.Glob(filepath.Join(b.Dumps, "*-"+direction+".wav"))
	return files
}

// Stop ends baresip (its sndfile recordings are complete afterwards).
func (b *Baresip) Stop() { b.close() }

func (b *Baresip) close() {
	_ = b.ctrl.Close()
	<-b.done
	b.p.stop()
}
