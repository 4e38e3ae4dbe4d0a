// The console's WebSocket: /ws with the session cookie, reconnecting with back-off.
//
// Push only, no polling: the socket also works in a background tab, where timers are throttled
// but messages still arrive. After a reconnect the server sends a snapshot (the open pops), then
// the live stream; a "resync" message means pushes were lost, so the socket is reopened to get a
// fresh snapshot.

const MIN_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;

export class LiveSocket {
  /** `onMessage(msg)` gets every JSON message; `onState(state)`: connecting|live|offline. */
  constructor(onMessage, onState) {
    this.onMessage = onMessage;
    this.onState = onState;
    this.delay = MIN_DELAY_MS;
    this.ws = null;
    this.timer = null;
    this.stopped = false;
    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && !this.ws) this.reconnectNow();
    });
  }

  connect() {
    if (this.stopped) return;
    this.onState("connecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws`);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.delay = MIN_DELAY_MS;
      this.onState("live");
    });
    ws.addEventListener("message", (event) => {
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      if (msg.type === "resync") {
        ws.close(4000, "resync");
        return;
      }
      this.onMessage(msg);
    });
    ws.addEventListener("close", () => {
      if (this.ws === ws) this.ws = null;
      this.scheduleReconnect();
    });
  }

  scheduleReconnect() {
    if (this.stopped || this.timer) return;
    this.onState("offline");
    // Full jitter, so that consoles do not all come back at the same moment after a restart.
    const wait = Math.round(this.delay / 2 + Math.random() * (this.delay / 2));
    this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, wait);
  }

  reconnectNow() {
    if (this.ws) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.connect();
  }
}
