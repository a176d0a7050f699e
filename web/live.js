// GramOthi Live: what the teacher and student pages share. Plain script, no build step.
// The protocol is in api/signaling.md and api/rest.md.
'use strict';
const GL = (() => {
  const API = '/api/v1/streaming';
  const classId = decodeURIComponent(location.pathname.split('/')[2] || '');
  const params = new URLSearchParams(location.search);
  const $ = (sel) => document.querySelector(sel);

  // Builds an element; strings become text nodes, never markup.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  // The token: from the link's fragment, #token= (a fragment never reaches the server or a
  // proxy's log; it is then taken out of the address bar, so it is not shared by accident),
  // else the one kept for this class in this tab, else the paste box. A token in the query
  // (?token=) is not used: it would have been sent to the server in the URL.
  const tokenKey = 'gl-token:' + classId;
  const fragment = new URLSearchParams(location.hash.slice(1));
  let token = fragment.get('token') || sessionStorage.getItem(tokenKey) || '';
  if (fragment.has('token')) {
    sessionStorage.setItem(tokenKey, token);
    history.replaceState(null, '', location.pathname + location.search);
  }
  function setToken(t) {
    token = t.trim();
    sessionStorage.setItem(tokenKey, token);
  }
  // The class socket, with the token among its subprotocols ("gramothi.bearer.<jwt>") unless
  // `plain`: the server takes it with the upgrade, a round trip sooner than an `authenticate`
  // message (api/signaling.md, Authentication). A token that is no valid protocol name (a
  // pasted one with spaces, say) goes the message way.
  function classSocket(url, token, plain) {
    if (!plain) {
      try {
        return new WebSocket(url, ['gramothi', 'gramothi.bearer.' + token]);
      } catch (_) {
        /* not a protocol token */
      }
    }
    return new WebSocket(url);
  }
  function forgetToken() {
    token = '';
    sessionStorage.removeItem(tokenKey);
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message || code || 'HTTP ' + status);
      this.status = status;
      this.code = code;
    }
  }
  // `path` under /api/v1/streaming, or an absolute /api/... path.
  async function api(method, path, body) {
    const headers = {Authorization: 'Bearer ' + token};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(path.startsWith('/api/') ? path : API + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store'});
    let json = null;
    try {
      json = await r.json();
    } catch (_) {
      json = null;
    }
    if (!r.ok) throw new ApiError(r.status, json && json.code, json && json.message);
    return json;
  }

  // STUN/TURN servers for RTCPeerConnection: those `authenticated` brought, else fetched, and
  // fetched again before the credentials expire.
  let ice = null;
  function takeIce(r) {
    ice = {servers: r.ice_servers || [], until: Date.now() + Math.max(60, (r.ttl_seconds || 600) - 120) * 1000};
  }
  async function iceServers() {
    if (ice && Date.now() < ice.until) return ice.servers;
    try {
      takeIce(await api('GET', '/ice-servers'));
    } catch (_) {
      ice = {servers: [], until: Date.now() + 30000};
    }
    return ice.servers;
  }
  // ?relay=1 sends all media through TURN (for networks that block direct UDP, and tests).
  const rtcConfig = async () => ({
    iceServers: await iceServers(),
    iceTransportPolicy: params.get('relay') === '1' ? 'relay' : 'all'});

  let config = null;
  // `pace`: the profile whose link the answer must leave room on (api/rest.md, /config).
  async function publicConfig(pace) {
    if (!config) config = await (await fetch('/config' + (pace ? '?pace=' + encodeURIComponent(pace) : ''))).json();
    return config;
  }

  // The class socket. Reconnects by itself (1, 2, 4 … 15 s with jitter, at once when the
  // browser says it is online again), and notices a dead link by a ping that gets no answer.
  // `on[type](msg)` gets every server message; on.state(s) gets open/reconnecting/offline/
  // ended/denied (with the close reason, e.g. token_expired or too_many_sockets).
  class Socket {
    constructor(on) {
      this.on = on;
      this.delay = 1000;
      this.ws = null;
      this.stopped = false;
      this.bytes = 0;
      window.addEventListener('online', () => this.reconnectNow());
      window.addEventListener('offline', () => this.ws && this.ws.close());
      if (token) this.connect();
    }
    connect() {
      clearTimeout(this.retryTimer);
      clearInterval(this.pinger);
      if (this.stopped) return;
      const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + API +
                  '/ws/' + encodeURIComponent(classId);
      // The socket the page opened before its scripts arrived (class.html), once, if it is for
      // this token and still open: it has sent (or will send) `authenticate` itself.
      const early = window.GLEarly;
      window.GLEarly = null;
      const adopt = early && !early.closed && early.token === token && early.ws.readyState <= 1;
      if (early && !adopt) early.ws.close();
      // An early socket that never opened may have met a proxy that drops subprotocols.
      if (early && !adopt && early.closed && !early.opened) this.plain = true;
      const ws = adopt ? early.ws : classSocket(url, token, this.plain);
      // The early socket, whose held `listen` (sent when it opens) the page takes over once.
      this.early = adopt ? early : null;
      this.ws = ws;
      this.authed = false;
      // (The early socket's own handler sends `authenticate` unless the server took the token
      // with the upgrade, as below.)
      let opened = ws.readyState === 1;
      const onopen = adopt ? ws.onopen : () => ws.protocol !== 'gramothi' && ws.send(JSON.stringify({type: 'authenticate', token}));
      ws.onopen = (e) => {
        opened = true;
        if (onopen) onopen(e);
      };
      ws.onmessage = (e) => {
        if (ws !== this.ws) return;
        this.bytes += e.data.length;
        this.lastHeard = Date.now();
        let m;
        try {
          m = JSON.parse(e.data);
        } catch (_) {
          return;
        }
        if (m.type === 'pong') this.pings.shift();
        // The server chose the subprotocol but found no token with the upgrade (a proxy
        // that kept the one and dropped the other): the message way, once.
        if (m.type === 'error' && m.code === 'not_authenticated' && !this.authed &&
            ws.protocol === 'gramothi' && !ws.glAuthSent) {
          ws.glAuthSent = true;
          ws.send(JSON.stringify({type: 'authenticate', token}));
          if (this.early) this.early.held = false;  // its listen was refused with this error
          return;
        }
        if (m.type === 'authenticated') {
          if (performance.mark) performance.mark('gl-authenticated');
          if (m.ice) takeIce(m.ice);
          this.authed = true;
          this.delay = 1000;
          this.on.state && this.on.state('open');
        }
        const f = this.on[m.type];
        if (f) f(m);
      };
      ws.onclose = (e) => {
        if (ws !== this.ws) return;
        this.ws = null;
        this.authed = false;
        // A socket that never opened may be behind a proxy that drops subprotocols (the browser
        // then fails the handshake): each such failure switches between the two ways, and the
        // way that opens stays.
        if (!opened) this.plain = !this.plain;
        clearInterval(this.pinger);
        // 4401: the token was refused or expired; 4409: this user opened the class in too many
        // tabs, and reconnecting would only close another of them.
        if (e.code === 4401 || e.code === 4409 || (e.code === 4404 && e.reason !== 'class_not_found')) {
          this.stopped = true;
          return this.on.state && this.on.state('denied', e.reason);
        }
        let state = navigator.onLine === false ? 'offline' : 'reconnecting';
        if (e.code === 4404) {
          // No such class yet: the teacher may be about to create it.
          this.delay = 5000;
          state = 'missing';
        }
        if (e.code === 1000 && e.reason === 'class ended') {
          // The class may start again later; look now and then without hammering.
          this.delay = 15000;
          state = 'ended';
        }
        this.on.state && this.on.state(state);
        const wait = this.delay * (0.75 + Math.random() / 2);
        this.delay = Math.min(this.delay * 2, 15000);
        this.retryTimer = setTimeout(() => this.connect(), wait);
      };
      // A link that died without a FIN keeps the socket "open" for minutes: ping every 10 s
      // and give up on it when nothing came back for 20 s. But while the page hears the class
      // (on.alive(): audio still arriving), the link is alive and only this TCP connection is
      // slow (a saturated 2G link backs TCP off for a minute): closing it would end the audio
      // for nothing, so wait up to 2 minutes.
      // How far behind the socket is: the time since anything came, or since the oldest ping
      // still unanswered was sent (a connection backed off by TCP may still bring a message now
      // and then, each minutes old: pongs come in order, one per ping).
      this.lastHeard = Date.now();
      this.pings = [];
      this.pinger = setInterval(() => {
        if (ws.readyState !== 1) return;
        const now = Date.now();
        const behind = Math.max(now - this.lastHeard, this.pings.length ? now - this.pings[0] : 0);
        if (behind > 120000 || (behind > 20000 && !(this.on.alive && this.on.alive()))) return this.abandon(ws);
        // Quiet: one ping a minute, enough for the server's idle check and the check above.
        if (this.on.quiet && this.on.quiet() && now - (this.pingedAt || 0) < 60000) return;
        this.pingedAt = now;
        ws.send('{"type":"ping"}');
        if (this.pings.length < 100) this.pings.push(now);
      }, 10000);
      // What the early socket heard, in order, once the page's script has finished (its
      // handlers may name what it defines after this); no newer message can come first: a
      // message is a task, and this a microtask.
      if (adopt) Promise.resolve().then(() => early.heard.forEach((e) => ws.onmessage && ws.onmessage(e)));
    }
    // Whether the early socket asked for a held listener session (class.html); true once.
    takeEarlyHeld() {
      const early = this.early;
      this.early = null;
      return !!(early && early.held);
    }
    // Gives up on a socket that stalled: its closing handshake would wait behind the same stalled
    // TCP connection (for up to two minutes), so the page goes on at once as if it had closed.
    // It is closed only later: the link's way up often works (the way down is what backed off),
    // and a close frame arriving now would end the audio session with the socket before the next
    // socket takes that session over (resume; the server then closes this one itself).
    abandon(ws) {
      const closed = ws.onclose;
      ws.onclose = null;
      ws.onmessage = null;
      setTimeout(() => ws.close(), 30000);
      if (closed) closed({code: 1006, reason: 'stalled'});
    }
    // Also the way to try again after a new token was pasted.
    reconnectNow() {
      this.stopped = false;
      this.delay = 1000;
      if (this.ws && this.ws.readyState === 1 && Date.now() - this.lastHeard < 15000) return;
      if (this.ws) {
        const old = this.ws;
        this.ws = null;
        old.close();
        this.on.state && this.on.state('reconnecting');
      }
      this.connect();
    }
    send(obj) {
      if (!this.ws || this.ws.readyState !== 1) return false;
      this.ws.send(JSON.stringify(obj));
      return true;
    }
  }

  // ---- slides ----
  // Shows a slide's text at once and its image once it has loaded and decoded, then swaps, so
  // moving never shows an empty or white frame. Decoded images are kept by URL (a deck is a
  // few MB at most), so going back costs neither bytes nor time. On a slow link a download
  // still under way when the teacher moves on is dropped: it would only delay the new slide
  // and the audio. On the slowest profiles a slide comes with a tiny preview (preview_url, about
  // a kilobyte): it is fetched first, alone, and shown with the text until the image arrives.
  class SlideView {
    constructor(box) {
      this.box = box;
      this.img = box.querySelector('img');
      this.text = box.querySelector('.text');
      this.cache = new Map();
      this.loading = new Map();  // url -> its Image, while it downloads
      this.ready = new Set();    // urls decoded
      this.url = '';
    }
    load(url, low) {
      let p = this.cache.get(url);
      if (!p) {
        const im = new Image();
        if (low) im.fetchPriority = 'low';
        im.src = url;
        im.at = Date.now();
        this.loading.set(url, im);
        p = im.decode().then(() => {
          this.ready.add(url);
          return im;
        }, () => {
          if (this.cache.get(url) === p) this.cache.delete(url);
          return null;
        }).finally(() => {
          if (this.loading.get(url) === im) this.loading.delete(url);
          if (!this.loading.size && this.onIdle) this.onIdle();
        });
        this.cache.set(url, p);
      }
      return p;
    }
    // Images on their way, started within 30 s (a download stuck longer is no reason to hold
    // the audio's climb for good): the server tries no higher profile meanwhile.
    busy() {
      for (const im of this.loading.values()) if (Date.now() - im.at < 30000) return true;
      return false;
    }
    // The next slide's image, unless held (hold: the page downloads something else first;
    // release() then fetches the last one asked for).
    prefetch(url) {
      if (this.hold) this.held = url;
      else this.load(url, true);
    }
    release() {
      this.hold = false;
      if (this.held) this.prefetch(this.held);
      this.held = '';
    }
    // Cancels the downloads of every image but those in `keep`.
    drop(keep) {
      for (const [url, im] of this.loading) {
        if (keep.includes(url)) continue;
        this.loading.delete(url);
        this.cache.delete(url);
        im.src = '';
      }
    }
    // The decoded image itself goes on screen: no second decode, no blank frame.
    put(im, state) {
      im.alt = this.img.alt;
      if (im !== this.img) this.img.replaceWith(im);
      this.img = im;
      this.box.classList.toggle('loading', state !== 'image');
      this.box.dataset.state = state;
    }
    // slide: {file_url, preview_url, text, order_no, next_file_url}.
    show(slide) {
      const url = slide.file_url || '';
      const preview = (url && !this.ready.has(url) && slide.preview_url) || '';
      this.url = url;
      this.box.dataset.order = slide.order_no || '';
      const num = this.box.querySelector('.num');
      if (num) num.textContent = slide.order_no || '';
      this.text.textContent = slide.text || (slide.order_no ? 'Slide ' + slide.order_no : '');
      this.box.classList.add('loading');
      this.box.dataset.state = 'text';
      this.drop([url, preview]);
      if (!url) return;
      const image = () => this.load(url).then((im) => {
        if (this.url !== url || !im) return;
        this.put(im, 'image');
        if (slide.next_file_url) setTimeout(() => this.prefetch(slide.next_file_url), 300);
      });
      if (!preview) {
        image();
        return;
      }
      // The preview alone first: the server paces each download at what the link leaves beside
      // the audio, so two at once would take twice that.
      this.load(preview).then((im) => {
        if (this.url !== url) return;
        if (im && !this.ready.has(url)) this.put(im, 'preview');
        image();
      });
    }
  }

  // The paste box for when the link carried no token.
  function askToken(box, then) {
    box.hidden = false;
    box.querySelector('form').onsubmit = (e) => {
      e.preventDefault();
      const v = box.querySelector('textarea').value.trim();
      if (!v) return;
      setToken(v);
      box.hidden = true;
      then();
    };
  }

  // One status line at the top; `kind` is ok, warn or bad.
  function status(text, kind) {
    const s = $('#status');
    s.textContent = text;
    s.className = kind || '';
  }

  return {API, classId, params, $, el, api, ApiError, rtcConfig, publicConfig, Socket, SlideView,
          askToken, status, token: () => token, forgetToken};
})();
