// callstat's browser softphone. Plain JavaScript, no dependencies.
//
// - Signaling: docs/protocol.md, over this page's own origin (/ws).
// - Call states: the SDK's names, as docs/call-states.md lists them.
// - Stats: the last five calls' getStats() samples, one per second from the
//   call's start to its end, in the stats file structure of
//   docs/stats-file.md: [[callId, [sdkEntry, stat, ..., sdkEntry, ...]], ...].

const PROTOCOL_VERSION = 1;
const MAX_FRAME_BYTES = 64 * 1024;
const SDK = "callstat-web";
const SDK_ENTRY_TYPE = "callstat_web_sdk_info";
const VERSION = document.querySelector('meta[name="callstat-version"]')?.content || "unknown";
const STATS_INTERVAL_MS = 1000; // the seed's period
const MAX_STATS_LENGTH = 5; // calls kept, the seed's ring
const ANSWER_TIMEOUT_MS = 60_000; // as callstat call --answer-timeout
const CONNECT_TIMEOUT_MS = 30_000; // ICE+DTLS after the answer, as callstat
const MAX_LOG_LINES = 1000;

const State = Object.freeze({
  INITIATING: "Initiating",
  INITIATED: "Initiated",
  RINGING: "Ringing",
  CANCELLED: "Cancelled",
  CONNECTED: "Connected",
  ENDED: "Ended",
});

// The transitions callstat's state machine allows (pkg/call/state.go).
const TRANSITIONS = {
  outgoing: {
    [State.INITIATING]: [State.INITIATED, State.ENDED],
    [State.INITIATED]: [State.RINGING, State.CONNECTED, State.ENDED],
    [State.RINGING]: [State.CONNECTED, State.ENDED],
    [State.CONNECTED]: [State.ENDED],
  },
  incoming: {
    [State.INITIATED]: [State.RINGING, State.CONNECTED, State.CANCELLED, State.ENDED],
    [State.RINGING]: [State.CONNECTED, State.CANCELLED, State.ENDED],
    [State.CONNECTED]: [State.ENDED],
  },
};

const isFinal = (s) => s === State.ENDED || s === State.CANCELLED;

// A UUID v4. crypto.randomUUID exists only in secure contexts; the page may
// be opened over plain http on another host.
function uuidv4() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// The SDK instance id, made once per page load like the seed SDK's sdkId.
const SDK_ID = uuidv4();

const $ = (id) => document.getElementById(id);

// ---- message log ----------------------------------------------------------

function log(message, level = "info") {
  const line = document.createElement("div");
  line.textContent = `${new Date().toISOString().slice(11, 23)} ${message}`;
  if (level === "error") line.className = "error";
  const box = $("messages");
  box.append(line);
  while (box.childElementCount > MAX_LOG_LINES) box.firstElementChild.remove();
  box.scrollTop = box.scrollHeight;
  (level === "error" ? console.error : console.log)("callstat:", message);
}

const logError = (message) => log(`Error: ${message}`, "error");

function errorText(err) {
  if (err instanceof Error || err instanceof DOMException) return err.message || err.name;
  return String(err);
}

// ---- the stats ring -------------------------------------------------------

// The last MAX_STATS_LENGTH calls, oldest first. A call enters when it
// starts, so a call that never produced a sample is [callId, []].
const ring = {
  calls: [],
  start(callId) {
    if (this.calls.length >= MAX_STATS_LENGTH) {
      log("Removing all call statistics associated with oldest call.");
      this.calls.shift();
    }
    const entry = [callId, []];
    this.calls.push(entry);
    return entry;
  },
  // append adds a sample to its call's entry, unless the entry has left the
  // ring (the seed re-added evicted calls).
  append(entry, objects) {
    if (!this.calls.includes(entry)) return false;
    for (const o of objects) entry[1].push(o);
    return true;
  },
};

// The stats file name: <unix-ms>_sdk<version>_call_stats.json, with the
// version made safe as callstat does (pkg/stats/file.go).
function statsFileName(nowMs, version) {
  let v = version.replace(/[^A-Za-z0-9.+-]/g, "-");
  if (v === "") v = "unknown";
  return `${nowMs}_sdk${v}_call_stats.json`;
}

function downloadCallStats() {
  const blob = new Blob([JSON.stringify(ring.calls)], { type: "application/json" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = statsFileName(Date.now(), VERSION);
  document.body.append(a);
  a.click();
  a.remove();
  // Revoking at once can cancel the download in some browsers.
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
  const samples = ring.calls.reduce((n, c) => n + c[1].filter((o) => o.type === SDK_ENTRY_TYPE).length, 0);
  log(`Downloaded ${a.download}: ${ring.calls.length} call(s), ${samples} sample(s).`);
}

// ---- signaling ------------------------------------------------------------

class Signaling {
  constructor() {
    this.ws = null;
    this.ready = null; // a promise, resolved once "welcome" arrived
    this.queue = Promise.resolve(); // messages are handled one at a time, in order
    this.pending = new Map(); // rid -> {resolve, reject}
    this.nextRid = 1;
    this.onmessage = async () => {};
    this.onclose = () => {};
  }

  url() {
    return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  }

  connect() {
    if (this.ready) return this.ready;
    const url = this.url();
    this.ready = new Promise((resolve, reject) => {
      let welcomed = false;
      const ws = new WebSocket(url);
      this.ws = ws;
      ws.onmessage = (e) => {
        if (typeof e.data !== "string") return; // binary frames are ignored
        let m;
        try {
          m = JSON.parse(e.data);
        } catch {
          logError("the signaling server sent a frame that is not JSON");
          return;
        }
        if (!welcomed) {
          if (m.type !== "welcome") {
            reject(new Error(`${url} is not a callstat signaling server (first message: ${m.type})`));
            ws.close();
            return;
          }
          welcomed = true;
          setSignalingStatus(`connected to ${m.server || "server"}, session ${m.session || "?"}`);
          resolve();
          return;
        }
        this.queue = this.queue.then(() => this.dispatch(m)).catch((err) => logError(errorText(err)));
      };
      ws.onclose = (e) => {
        if (this.ws === ws) {
          this.ws = null;
          this.ready = null;
        }
        for (const p of this.pending.values()) p.reject(new Error("signaling connection lost"));
        this.pending.clear();
        setSignalingStatus(`not connected (closed with code ${e.code})`);
        if (!welcomed) {
          reject(new Error(`cannot reach the signaling server at ${url}`));
          return;
        }
        this.queue = this.queue.then(() => this.onclose(e)).catch((err) => logError(errorText(err)));
      };
    });
    return this.ready;
  }

  send(m) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) throw new Error("the signaling connection is not open");
    const text = JSON.stringify({ v: PROTOCOL_VERSION, ...m });
    // The server closes a connection that sends a larger frame.
    const size = new TextEncoder().encode(text).length;
    if (size > MAX_FRAME_BYTES) throw new Error(`${m.type} message of ${size} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`);
    this.ws.send(text);
  }

  // request sends m with a fresh rid and resolves with the server's
  // "registered", or rejects with its "error".
  request(m) {
    const rid = String(this.nextRid++);
    return new Promise((resolve, reject) => {
      this.pending.set(rid, { resolve, reject });
      try {
        this.send({ ...m, rid });
      } catch (err) {
        this.pending.delete(rid);
        reject(err);
      }
    });
  }

  async dispatch(m) {
    if (m.rid && this.pending.has(m.rid) && (m.type === "registered" || m.type === "error")) {
      const p = this.pending.get(m.rid);
      this.pending.delete(m.rid);
      if (m.type === "error") p.reject(new Error(`${m.message || "refused"} (${m.code})`));
      else p.resolve(m);
      return;
    }
    await this.onmessage(m);
  }
}

function setSignalingStatus(text) {
  $("signaling-status").textContent = `Signaling: ${text}`;
}

// ---- stats collection -----------------------------------------------------

// StatsCollector samples one call's PeerConnection every STATS_INTERVAL_MS
// from the call's start until stop(), which takes one final sample. Each call
// has its own collector and timer; samples are taken one after another on a
// promise chain, so a late getStats() result can never land after the final
// sample or in another call.
class StatsCollector {
  constructor(call) {
    this.call = call;
    this.entry = ring.start(call.id);
    this.chain = Promise.resolve();
    this.timer = null;
    this.stopped = false;
    this.failed = false;
    this.startedAt = performance.now();
    this.ticks = 0;
    this.previous = null; // the last sample's figures, for rates
    log("Starting call stats collection.");
    this.schedule();
  }

  // schedule arms the next tick on the call's own phase. A late tick is not
  // made up with a burst: missed ticks are skipped.
  schedule() {
    const now = performance.now();
    this.ticks = Math.max(this.ticks + 1, Math.floor((now - this.startedAt) / STATS_INTERVAL_MS) + 1);
    const delay = Math.max(0, this.startedAt + this.ticks * STATS_INTERVAL_MS - now);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.chain = this.chain.then(() => this.take(false));
    }, delay);
  }

  async take(final) {
    if (this.failed || (this.stopped && !final)) return;
    const pc = this.call.pc;
    if (!pc) {
      if (!final) this.schedule();
      return;
    }
    let report;
    try {
      report = await pc.getStats();
    } catch (err) {
      this.failed = true;
      clearTimeout(this.timer);
      this.timer = null;
      logError(`Stats collection failed. Error message: ${errorText(err)}`);
      return;
    }
    // Ended while getStats ran: the final sample, next on the chain, takes
    // this one's place.
    if (this.stopped && !final) return;
    const objects = Array.from(report.values());
    const entry = {
      id: `callstat-web-sdk-info_${SDK_ID}`,
      type: SDK_ENTRY_TYPE,
      sdk: SDK,
      version: VERSION,
      callId: this.call.id,
      platform: navigator.userAgent,
      timestamp: objects.length > 0 && typeof objects[0].timestamp === "number" ? objects[0].timestamp : Date.now(),
      state: this.call.state,
    };
    ring.append(this.entry, [entry, ...objects]);
    this.previous = showLiveStats(objects, this.previous);
    if (!final) this.schedule();
  }

  // stop ends collection with a final sample; the returned promise settles
  // once it is stored, so the caller may close the PeerConnection then.
  stop() {
    if (!this.stopped) {
      this.stopped = true;
      clearTimeout(this.timer);
      this.timer = null;
      log("Stopping call stats collection.");
      this.chain = this.chain.then(() => this.take(true));
    }
    return this.chain;
  }
}

// showLiveStats fills the panel from one sample and returns the figures the
// next sample needs for rates.
function showLiveStats(objects, previous) {
  const byType = (t) => objects.filter((o) => o.type === t && (o.kind === undefined || o.kind === "audio"));
  const inbound = byType("inbound-rtp")[0];
  const outbound = byType("outbound-rtp")[0];
  const remoteIn = byType("remote-inbound-rtp")[0];
  const transport = objects.find((o) => o.type === "transport");
  let pair = transport && objects.find((o) => o.id === transport.selectedCandidatePairId);
  pair ??= objects.find((o) => o.type === "candidate-pair" && o.nominated && o.state === "succeeded");

  const ms = (s) => `${(s * 1000).toFixed(1)} ms`;
  const rtt = pair?.currentRoundTripTime ?? remoteIn?.roundTripTime;
  $("stat-rtt").textContent = rtt === undefined ? "-" : ms(rtt);
  $("stat-jitter").textContent = inbound?.jitter === undefined ? "-" : ms(inbound.jitter);
  if (inbound && inbound.packetsReceived !== undefined) {
    const lost = Math.max(0, inbound.packetsLost ?? 0);
    const total = inbound.packetsReceived + lost;
    const pct = total > 0 ? (100 * lost) / total : 0;
    $("stat-loss").textContent = `${pct.toFixed(2)} % (${lost} of ${total} packets)`;
  } else {
    $("stat-loss").textContent = "-";
  }
  const now = {
    t: (inbound ?? outbound)?.timestamp,
    sent: outbound?.bytesSent,
    received: inbound?.bytesReceived,
  };
  const rate = (a, b) => {
    if (previous === null || a === undefined || b === undefined || now.t === undefined || now.t <= previous.t) return "-";
    return `${(((a - b) * 8) / (now.t - previous.t)).toFixed(1)} kbit/s`; // bytes/ms*8 = kbit/s
  };
  $("stat-bitrate").textContent = `${rate(now.sent, previous?.sent)} / ${rate(now.received, previous?.received)}`;
  $("stat-audio-level").textContent = inbound?.audioLevel === undefined ? "-" : inbound.audioLevel.toFixed(4);
  return now;
}

function clearLiveStats() {
  for (const id of ["stat-rtt", "stat-jitter", "stat-loss", "stat-bitrate", "stat-audio-level", "media-state"]) {
    $(id).textContent = "-";
  }
}

// ---- calls ----------------------------------------------------------------

class Call {
  constructor({ id, direction, local, remote, offer }) {
    this.id = id;
    this.direction = direction; // "outgoing" | "incoming"
    this.local = local;
    this.remote = remote;
    this.offer = offer; // incoming: the caller's SDP
    this.state = direction === "outgoing" ? State.INITIATING : State.INITIATED;
    this.pc = null;
    this.mic = null;
    this.answered = false; // outgoing: answer applied; incoming: answer sent
    this.answering = false; // incoming: Answer pressed, answer not sent yet
    this.pendingCandidates = [];
    this.timers = new Set();
    clearLiveStats();
    this.stats = new StatsCollector(this);
  }

  get final() {
    return isFinal(this.state);
  }

  after(ms, fn) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  send(m) {
    phone.signaling.send({ callId: this.id, ...m });
  }

  // trySend sends m and only logs a failure: used when the call ends anyway.
  trySend(m) {
    try {
      this.send(m);
    } catch (err) {
      log(`Could not tell the far end (${m.type}): ${errorText(err)}`);
    }
  }

  // setState moves the call and logs the change, as call:stateChange does.
  setState(to, transition = {}, error = null) {
    const from = this.state;
    if (!(TRANSITIONS[this.direction][from] || []).includes(to)) {
      console.debug("callstat: ignored state change", from, "->", to);
      return false;
    }
    this.state = to;
    if (error) logError(error);
    const why = [transition.statusCode, transition.reasonText].filter((x) => x !== undefined && x !== "").join(" ");
    log(`Call state changed from ${from} to ${to}${why ? ` (${why})` : ""}`);
    ui.update();
    if (isFinal(to)) this.finish();
    return true;
  }

  createPeerConnection() {
    // No ICE servers: callstat and the page run on one host or one network.
    const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: "max-bundle", rtcpMuxPolicy: "require" });
    this.pc = pc;
    pc.onicecandidate = (e) => {
      if (this.final) return;
      // A null candidate means gathering is done: send end of candidates.
      const candidate = e.candidate ? e.candidate.toJSON() : { candidate: "" };
      try {
        this.send({ type: "candidate", candidate });
      } catch (err) {
        log(`Could not send an ICE candidate: ${errorText(err)}`);
      }
    };
    pc.ontrack = (e) => {
      const audio = $("remote-audio");
      audio.srcObject = e.streams[0] ?? new MediaStream([e.track]);
      audio.play().catch((err) => log(`Remote audio does not play yet (${errorText(err)}); click the page to allow it.`));
    };
    pc.oniceconnectionstatechange = () => {
      $("media-state").textContent = pc.iceConnectionState;
    };
    pc.onconnectionstatechange = () => {
      if (this.final) return;
      switch (pc.connectionState) {
        case "connected":
          if (this.answered) this.setState(State.CONNECTED, { statusCode: 200, reasonText: "media connected" });
          break;
        case "disconnected":
          log("Media connection interrupted; waiting for it to recover.");
          break;
        case "failed":
          this.fail("media connection failed (ICE/DTLS)", 500, true);
          break;
      }
    };
    return pc;
  }

  // addMicrophone opens the microphone and sends it; false if the call
  // ended meanwhile (the microphone is closed again then).
  async addMicrophone() {
    const mic = await openMicrophone();
    if (this.final) {
      for (const track of mic.getTracks()) track.stop();
      return false;
    }
    this.mic = mic;
    for (const track of mic.getAudioTracks()) this.pc.addTrack(track, mic);
    return true;
  }

  async addRemoteCandidate(c) {
    if (!this.pc.remoteDescription) {
      this.pendingCandidates.push(c);
      return;
    }
    try {
      await this.pc.addIceCandidate(c);
    } catch (err) {
      console.debug("callstat: remote candidate refused", c, err);
    }
  }

  async flushCandidates() {
    const pending = this.pendingCandidates;
    this.pendingCandidates = [];
    for (const c of pending) await this.addRemoteCandidate(c);
  }

  armConnectTimeout() {
    this.after(CONNECT_TIMEOUT_MS, () => {
      if (!this.final && this.state !== State.CONNECTED) {
        this.fail(`no media connection within ${CONNECT_TIMEOUT_MS / 1000}s of the answer`, 500, true);
      }
    });
  }

  // fail ends the call with an error; notify tells the far end.
  fail(reason, status, notify) {
    if (this.final) return;
    if (notify) this.trySend({ type: "end", status, reason });
    this.setState(State.ENDED, { statusCode: status, reasonText: reason }, reason);
  }

  // hangup ends the call from this side, whatever its state.
  hangup() {
    if (this.final) return;
    if (this.direction === "incoming" && !this.answered) {
      this.reject(603, "declined");
      return;
    }
    const connected = this.state === State.CONNECTED || this.direction === "incoming";
    const status = connected ? 200 : 487;
    const reason = connected ? "hung up in the browser" : "cancelled in the browser";
    log(`Ending call with ${this.remote}.`);
    this.trySend({ type: "end", status, reason });
    this.setState(State.ENDED, { statusCode: status, reasonText: reason });
  }

  reject(status, reason) {
    if (this.final) return;
    this.trySend({ type: "reject", status, reason });
    this.setState(State.ENDED, { statusCode: status, reasonText: `rejected locally: ${reason}` });
  }

  // remoteEnd handles an "end" from the far end or the server.
  remoteEnd(status, reason) {
    reason ||= statusText(status);
    const t = { statusCode: status, reasonText: reason };
    if (this.direction === "incoming" && !this.answered) {
      this.setState(State.CANCELLED, t);
      return;
    }
    // A normal end (200) or the caller's own cancel is no error; anything
    // else ended the call against the user's will.
    const error = status === 200 ? null : endError(this, status, reason);
    this.setState(State.ENDED, t, error);
  }

  // finish runs once, when the call becomes final: the last sample is taken
  // from the still-open PeerConnection, then everything is released.
  async finish() {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.stats.stop();
    if (this.pc) this.pc.close();
    if (this.mic) for (const track of this.mic.getTracks()) track.stop();
    const audio = $("remote-audio");
    audio.srcObject = null;
    ui.update();
  }
}

function statusText(status) {
  return (
    {
      200: "call ended normally",
      404: "callee not found",
      408: "no answer",
      480: "peer unavailable",
      486: "busy",
      487: "cancelled",
      500: "media failure",
      503: "server shutting down",
      603: "declined",
    }[status] || `status ${status}`
  );
}

// endError words an abnormal end for the message log.
function endError(call, status, reason) {
  switch (status) {
    case 404:
      return `${reason} (404: nobody is registered as ${call.remote})`;
    case 486:
    case 603:
      return `call rejected by ${call.remote}: ${reason} (${status})`;
    case 480:
      return `${call.remote} is unreachable: ${reason} (480)`;
    case 503:
      return `the signaling server is shutting down (503)`;
    default:
      return `call ended: ${reason} (${status})`;
  }
}

async function openMicrophone() {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error(
      "this page cannot use the microphone here: browsers allow it only in a secure context " +
        "(open the page as http://127.0.0.1:<port>/ or http://localhost:<port>/, or serve it over https)",
    );
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
  } catch (err) {
    throw new Error(`cannot open the microphone: ${errorText(err)}`);
  }
}

// How a registered page reconnects when the signaling connection is lost:
// the page's address may set them, e.g. /?reconnectDelay=500&reconnectAttempts=3.
const reconnect = (() => {
  const q = new URLSearchParams(location.search);
  const num = (name, def, min) => {
    const v = Number(q.get(name) ?? def);
    return Number.isFinite(v) && v >= min ? v : def;
  };
  return { delayMs: num("reconnectDelay", 1000, 10), attempts: Math.floor(num("reconnectAttempts", 5, 0)) };
})();

// ---- the phone: page-wide state and the UI actions -------------------------

const phone = {
  signaling: new Signaling(),
  call: null, // the call shown in the panel; one at a time
  placing: false, // Make Call is preparing a call (token, microphone)
  registered: new Set(),
  tokens: new Map(), // id -> the token it registered with ("" for none), to register again
  reregistering: false,

  busy() {
    return this.call !== null && !this.call.final;
  },

  async makeCall() {
    if (this.busy() || this.placing) {
      logError("a call is already in progress: end it first.");
      return;
    }
    this.placing = true;
    ui.update();
    try {
      await this.placeCall();
    } finally {
      this.placing = false;
      ui.update();
    }
  },

  async placeCall() {
    const tokenBased = $("token-call").checked;
    let caller = $("caller").value.trim();
    let callee = $("callee").value.trim();
    let credentials;
    if (tokenBased) {
      const params = await fetchCallParameters($("token-url").value.trim());
      if (!params) return;
      ({ caller, callee } = params);
      credentials = {
        realm: params.realm,
        accountToken: params.accountToken,
        fromToken: params.fromToken,
        toToken: params.toToken,
      };
      log(`Making a token-based anonymous call to ${callee}`);
    } else {
      if (!caller) {
        logError("Please provide the primary contact for the caller.");
        return;
      }
      if (!callee) {
        logError("Please provide the primary contact for the callee.");
        return;
      }
      log(`Making a regular anonymous call to ${callee}`);
    }
    let mic;
    try {
      await this.signaling.connect();
      mic = await openMicrophone();
    } catch (err) {
      logError(errorText(err));
      return;
    }
    if (this.busy()) {
      // An incoming call was taken while the microphone opened.
      for (const t of mic.getTracks()) t.stop();
      logError("a call is already in progress: end it first.");
      return;
    }
    const call = new Call({ id: uuidv4(), direction: "outgoing", local: caller, remote: callee });
    call.mic = mic;
    this.call = call;
    ui.update();
    try {
      const pc = call.createPeerConnection();
      for (const track of mic.getAudioTracks()) pc.addTrack(track, mic);
      await pc.setLocalDescription(await pc.createOffer());
      if (call.final) return;
      const m = { type: "call", from: caller, to: callee, sdp: pc.localDescription.sdp };
      if (credentials) m.credentials = credentials;
      call.send(m);
    } catch (err) {
      call.fail(`could not place the call: ${errorText(err)}`, 500, false);
      return;
    }
    log("Call successfully started. Waiting for response.");
    call.after(ANSWER_TIMEOUT_MS, () => {
      if (!call.final && !call.answered) call.fail(`no answer within ${ANSWER_TIMEOUT_MS / 1000}s`, 408, true);
    });
  },

  endCall() {
    if (!this.busy()) {
      logError("there is no call to end.");
      return;
    }
    this.call.hangup();
  },

  async register() {
    const user = $("register-as").value.trim();
    if (!user) {
      logError("Please provide the id to register as.");
      return;
    }
    const token = $("register-token").value.trim();
    try {
      await this.signaling.connect();
      await this.signaling.request(token ? { type: "register", user, token } : { type: "register", user });
    } catch (err) {
      logError(`could not register as ${user}: ${errorText(err)}`);
      return;
    }
    this.registered.add(user);
    this.tokens.set(user, token);
    log(`Registered as ${user}: calls to ${user} now reach this page.`);
    ui.update();
  },

  // reregister reconnects after the signaling connection was lost and
  // registers every id again, as callstat answer does: the first attempt
  // after reconnect.delayMs, the delay doubled after each failed one (at
  // most a minute), reconnect.attempts attempts in all.
  async reregister(users) {
    if (this.reregistering) return;
    this.reregistering = true;
    try {
      let delay = reconnect.delayMs;
      for (let attempt = 1; attempt <= reconnect.attempts; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 60000);
        log(`Reconnecting to the signaling server (attempt ${attempt} of ${reconnect.attempts}).`);
        try {
          await this.signaling.connect();
        } catch (err) {
          logError(`reconnection attempt ${attempt} failed: ${errorText(err)}`);
          continue;
        }
        for (const user of users) {
          const token = this.tokens.get(user) || "";
          try {
            await this.signaling.request(token ? { type: "register", user, token } : { type: "register", user });
          } catch (err) {
            logError(`could not register as ${user} again: ${errorText(err)}`);
            continue;
          }
          this.registered.add(user);
          log(`Registered as ${user} again: calls to ${user} reach this page.`);
        }
        ui.update();
        return;
      }
      logError(`gave up reconnecting after ${reconnect.attempts} attempts: no longer registered as ${users.join(", ")}; register again.`);
    } finally {
      this.reregistering = false;
    }
  },

  async answer() {
    const call = this.call;
    if (!call || call.direction !== "incoming" || call.answered || call.answering || call.final) {
      logError("there is no incoming call to answer.");
      return;
    }
    call.answering = true; // no second answer, whatever happens next
    ui.update();
    try {
      if (!(await call.addMicrophone())) return;
      await call.pc.setLocalDescription(await call.pc.createAnswer());
      if (call.final) return;
      call.send({ type: "answer", sdp: call.pc.localDescription.sdp });
      call.answered = true;
    } catch (err) {
      call.fail(`could not answer: ${errorText(err)}`, 500, true);
      return;
    }
    log(`Answered the call from ${call.remote}.`);
    call.armConnectTimeout();
    // Candidates may already have connected ICE: the call is up as soon as
    // the answer is out.
    if (call.pc.connectionState === "connected") {
      call.setState(State.CONNECTED, { statusCode: 200, reasonText: "media connected" });
    }
  },

  reject() {
    const call = this.call;
    if (!call || call.direction !== "incoming" || call.answered || call.answering || call.final) {
      logError("there is no incoming call to reject.");
      return;
    }
    call.reject(603, "declined");
  },

  // onMessage handles every server message but the replies to requests.
  async onMessage(m) {
    if (m.type === "incoming") {
      await this.onIncoming(m);
      return;
    }
    const call = this.call;
    const mine = call !== null && m.callId === call.id && !call.final;
    switch (m.type) {
      case "trying":
        if (mine && call.direction === "outgoing") {
          call.setState(State.INITIATED, { reasonText: "call routed by the signaling server" });
        }
        break;
      case "ringing":
        if (mine && call.direction === "outgoing") {
          call.setState(State.RINGING, { statusCode: 180, reasonText: "callee is ringing" });
        }
        break;
      case "answer":
        if (!mine || call.direction !== "outgoing" || call.answered) break;
        try {
          await call.pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
        } catch (err) {
          call.fail(`unusable answer: ${errorText(err)}`, 500, true);
          break;
        }
        call.answered = true;
        await call.flushCandidates();
        call.armConnectTimeout();
        if (call.pc.connectionState === "connected") {
          call.setState(State.CONNECTED, { statusCode: 200, reasonText: "media connected" });
        }
        break;
      case "candidate":
        if (mine && call.pc && m.candidate) await call.addRemoteCandidate(m.candidate);
        break;
      case "end":
        if (mine) call.remoteEnd(m.status, m.reason);
        break;
      case "error":
        if (mine && call.state !== State.CONNECTED) {
          call.fail(`${m.message || "refused"} (${m.code})`, undefined, false);
        } else if (m.code !== "unknown_call") {
          // unknown_call is the server forgetting a call that is over.
          logError(`signaling: ${m.message || "refused"} (${m.code})`);
        }
        break;
      default:
        console.debug("callstat: ignored message", m);
    }
  },

  async onIncoming(m) {
    if (this.busy()) {
      log(`Rejected a call from ${m.from}: a call is already in progress.`);
      try {
        this.signaling.send({ type: "reject", callId: m.callId, status: 486, reason: "busy here" });
      } catch (err) {
        logError(errorText(err));
      }
      return;
    }
    log(`Received incoming call from ${m.from} to ${m.to}`);
    const call = new Call({ id: m.callId, direction: "incoming", local: m.to, remote: m.from, offer: m.sdp });
    this.call = call;
    ui.update();
    try {
      call.createPeerConnection();
      await call.pc.setRemoteDescription({ type: "offer", sdp: m.sdp });
    } catch (err) {
      call.trySend({ type: "reject", status: 500, reason: `unusable offer: ${errorText(err)}` });
      call.setState(State.ENDED, { statusCode: 500, reasonText: `unusable offer: ${errorText(err)}` }, errorText(err));
      return;
    }
    try {
      call.send({ type: "ringing" });
    } catch (err) {
      call.fail(errorText(err), undefined, false);
      return;
    }
    call.setState(State.RINGING, { reasonText: `incoming call from ${m.from}` });
    if ($("auto-answer").checked) {
      log("Auto-answering.");
      // Not awaited: the microphone may wait for the user's permission,
      // and the caller's messages (a cancel) must not wait behind it.
      action(() => this.answer())();
    }
  },

  onSignalingClosed() {
    if (this.registered.size > 0) {
      const users = [...this.registered];
      this.registered.clear();
      if (reconnect.attempts > 0) {
        logError(`signaling connection lost: registering as ${users.join(", ")} again once the server is back.`);
        action(() => this.reregister(users))();
      } else {
        logError(`signaling connection lost: no longer registered as ${users.join(", ")}; register again.`);
      }
    } else {
      log("Signaling connection closed.");
    }
    if (this.busy()) this.call.fail("signaling connection lost", 480, false);
    ui.update();
  },
};

async function fetchCallParameters(url) {
  if (!url) {
    logError("Please provide the token URL.");
    return null;
  }
  let data;
  try {
    const resp = await fetch(url, { cache: "no-store" });
    if (!resp.ok) throw new Error(`HTTP ${resp.status} ${resp.statusText}`.trim());
    data = await resp.json();
  } catch (err) {
    logError(`could not get call parameters from ${url}: ${errorText(err)}`);
    return null;
  }
  const fields = ["realm", "accountToken", "fromToken", "toToken", "caller", "callee"];
  const missing = fields.filter((f) => typeof data?.[f] !== "string" || data[f] === "");
  if (missing.length > 0) {
    logError(`the call parameters from ${url} lack ${missing.join(", ")}`);
    return null;
  }
  log(`Got Account Token: ${data.accountToken}`);
  log(`Got From Token:    ${data.fromToken}`);
  log(`Got To Token:      ${data.toToken}`);
  log(`Got Realm:         ${data.realm}`);
  log(`Got Caller:        ${data.caller}`);
  log(`Got Callee:        ${data.callee}`);
  return data;
}

// ---- UI -------------------------------------------------------------------

const ui = {
  update() {
    const call = phone.call;
    const busy = phone.busy();
    $("make-call").disabled = busy || phone.placing;
    $("end-call").disabled = !busy;
    $("call-state").textContent = call ? call.state : "-";
    $("call-id").textContent = call ? call.id : "-";
    $("call-peer").textContent = call ? `${call.direction === "outgoing" ? "to" : "from"} ${call.remote}` : "-";
    document.body.dataset.callState = call ? call.state : "";
    const prompt = busy && call.direction === "incoming" && !call.answered && !call.answering;
    $("incoming").hidden = !prompt;
    $("incoming-text").textContent = prompt ? `Incoming call from ${call.remote}` : "";
    $("registered-as").textContent = phone.registered.size > 0 ? `registered as ${[...phone.registered].join(", ")}` : "";
    if (!busy && call === null) clearLiveStats();
  },

  toggleToken() {
    const token = $("token-call").checked;
    $("caller-section").hidden = token;
    $("callee-section").hidden = token;
    $("token-section").hidden = !token;
  },
};

// Every action reports its failures in the message log, never silently.
function action(fn) {
  return () => {
    Promise.resolve()
      .then(fn)
      .catch((err) => logError(errorText(err)));
  };
}

phone.signaling.onmessage = (m) => phone.onMessage(m);
phone.signaling.onclose = () => phone.onSignalingClosed();

$("make-call").addEventListener("click", action(() => phone.makeCall()));
$("end-call").addEventListener("click", action(() => phone.endCall()));
$("register").addEventListener("click", action(() => phone.register()));
$("answer").addEventListener("click", action(() => phone.answer()));
$("reject").addEventListener("click", action(() => phone.reject()));
$("download-stats").addEventListener("click", action(downloadCallStats));
$("token-call").addEventListener("change", ui.toggleToken);
ui.toggleToken();
ui.update();

// A read-only handle for the developer console: the ring as it would be
// downloaded, and the current call.
window.callstat = Object.freeze({
  version: VERSION,
  sdkId: SDK_ID,
  callStats: () => JSON.parse(JSON.stringify(ring.calls)),
  call: () => (phone.call ? { id: phone.call.id, direction: phone.call.direction, state: phone.call.state } : null),
});

log(`callstat softphone ${VERSION} ready. Signaling server: ${phone.signaling.url()}`);
