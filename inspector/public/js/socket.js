// The viewer's WebSocket: connects to /ws on the page's own host, reconnects
// with exponential backoff (jittered, capped) when the server goes away, and
// reports its status so the header can say what is going on.

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;

export class InspectorSocket {
  /**
   * onMessage(msg) gets every parsed server message; onStatus({state, attempt, retryAt, error})
   * is called with state 'connecting' | 'open' | 'closed'.
   */
  constructor({ url, onMessage, onStatus, onOpen }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.onOpen = onOpen ?? (() => {});
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.badFrames = 0;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ws?.close();
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  /** Try now instead of waiting out the backoff (the status pill is clickable). */
  retryNow() {
    if (this.ws && this.ws.readyState !== WebSocket.CLOSED) return;
    clearTimeout(this.timer);
    this.open();
  }

  open() {
    clearTimeout(this.timer);
    this.onStatus({ state: 'connecting', attempt: this.attempt });
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.scheduleRetry(String(err));
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.onStatus({ state: 'open', attempt: 0 });
      this.onOpen();
    };
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        this.badFrames++;
        return;
      }
      this.onMessage(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) {
        this.onStatus({ state: 'closed', attempt: this.attempt, error: 'stopped' });
        return;
      }
      this.scheduleRetry(ev.reason || (ev.code === 1006 ? 'connection lost' : `closed (${ev.code})`));
    };
    ws.onerror = () => {
      // onclose follows and schedules the retry.
    };
  }

  scheduleRetry(error) {
    const base = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.attempt++;
    const retryAt = Date.now() + delay;
    this.onStatus({ state: 'closed', attempt: this.attempt, retryAt, error });
    this.timer = setTimeout(() => this.open(), delay);
  }
}
