// The student page: /class/{class_id}. One tap to join; then audio, slides, chat, and a
// connection that mends itself.
'use strict';
(() => {
  const {$, el} = GL;
  const audio = $('#audio');
  const view = new GL.SlideView($('#slide'));
  view.hold = true;  // no prefetch before the page's second part is in (loadLater)
  const pinKey = 'gl-pin:' + GL.classId;
  const pinned = () => (localStorage.getItem(pinKey) || 'auto') !== 'auto';
  const st = {
    me: '', live: false, ended: false, teacherLive: false, want: false, conn: 'reconnecting',
    media: '', profile: '', pc: null, pending: [], session: '', stopMeter: null,
    audioBytesDone: 0, base: {audio: 0, slides: 0, other: 0}, lossPrev: null,
    holdMs: 150,  // the jitter buffer floor while RED is on (holdForRepeats)
    calls: [],  // for class-later.js, until it is here
  };
  $('#title').textContent = GL.classId;
  document.title = GL.classId + ' — GramOthi Live';

  function render() {
    const dot = $('#dot');
    dot.className = 'dot ' + st.conn;
    const join = $('#join');
    join.disabled = st.want || st.conn !== 'open';
    $('#join-row').hidden = st.want;
    $('#audio-row').hidden = !st.want;
    $('#profile-badge').textContent = st.profile;
    if (st.conn === 'denied' && st.denied === 'too_many_sockets') return GL.status('This class is open in too many tabs or devices. Close this one, or reload it to use it here.', 'bad');
    if (st.conn === 'denied' && st.denied === 'token_expired') return GL.status('Your link has expired. Ask for a new one and paste it.', 'bad');
    if (st.conn === 'denied') return GL.status('This link is not valid for this class. Ask your teacher for a new one.', 'bad');
    if (st.conn === 'offline') return GL.status('You are offline. The class comes back when your connection does.', 'bad');
    if (st.conn === 'missing') return GL.status('This class has not been set up yet. This page keeps looking.', '');
    if (st.conn === 'ended' && !st.want) return GL.status('The class has ended.', '');
    if (st.conn !== 'open') return GL.status('Reconnecting…', 'warn');
    if (!st.live) {
      if (st.want) return GL.status('You are in. You will hear your teacher as soon as the class starts.', '');
      if (st.ended) return GL.status('The class has ended.', '');
      return GL.status('The class has not started yet. Tap Join to be ready.', '');
    }
    if (!st.want) return GL.status(st.teacherLive ? 'Your teacher is speaking. Tap Join.' : 'The class is open. Tap Join.', 'ok');
    if (st.media === 'connected')
      return GL.status(st.teacherLive ? 'Listening.' : 'Connected. Waiting for your teacher’s microphone.', 'ok');
    if (st.media === 'failed' || st.media === 'disconnected') return GL.status('Audio lost. Reconnecting…', 'warn');
    GL.status('Connecting audio…', '');
  }

  // Every new session or teardown bumps the generation; work that awaited (ICE servers, SDP)
  // checks it afterwards and gives up if the page has moved on.
  let generation = 0;
  function closePc() {
    generation++;
    if (st.pc) {
      st.audioBytesDone += st.pcBytes || 0;
      st.pcBytes = 0;
      st.pc.onconnectionstatechange = null;
      st.pc.close();
    }
    st.pc = null;
    st.pending = [];
    clearTimeout(st.mendTimer);
  }
  // A listener session. Before the tap it is held (api/signaling.md, "listen"): it connects
  // while the student reads, is sent nothing, and the tap then costs one message (`play`)
  // instead of the four or five round trips of a connection, seconds on 2G.
  function listen() {
    if (!st.live) return;
    const pin = localStorage.getItem(pinKey) || 'auto';
    st.held = !st.want;
    st.media = 'new';
    // The early socket asked for the held session already (class.html), just behind its upgrade.
    const asked = st.held && sock.takeEarlyHeld();
    if (!asked) sock.send(st.held ? {type: 'listen', profile: pin, held: true} : {type: 'listen', profile: pin});
    mark(st.held ? 'listen-held' : 'listen');
    render();
  }
  // A socket opened after the last one stalled (a saturated link backs TCP off for a minute or
  // two while the audio plays): it takes the audio session over with the key its offer carried,
  // no new offer, ICE or DTLS, and the audio goes on. Not for a connection that failed.
  function resume() {
    // Connected only: a session whose answer or candidates were still on the stalled socket
    // would never connect.
    if (!st.pc || !st.mediaKey || st.pc.connectionState !== 'connected') return false;
    sock.send({type: 'resume', session: st.mediaKey});
    return true;
  }
  // The tap on a held session: the audio from now on. Before its offer came, the offer's
  // handler plays it.
  function play() {
    if (!st.held || !st.pc) return false;
    // A held connection that failed before the tap: the tap asks for a new session.
    if (['failed', 'closed'].includes(st.pc.connectionState) || ['failed', 'closed'].includes(st.media)) {
      st.held = false;
      return false;
    }
    st.held = false;
    sock.send({type: 'play'});
    mark('play');
    reportSoon(1000);  // the controller starts afresh: let it hear about the link at once
    mend(4000);
    return true;
  }
  // The audio path broke while the socket lives: ask for a new session (a new offer). Not while
  // audio still arrives on a connection that has not failed: on a saturated link (a profile
  // pinned too high) the answers to the browser's ICE consent checks are lost and it says
  // "disconnected", but the path works; a new session would end the one that plays, and its
  // offer may wait behind the socket's backed-off TCP for half a minute. Checked again later.
  function mend(after) {
    clearTimeout(st.mendTimer);
    st.mendTimer = setTimeout(() => {
      if (!(st.want && st.live && sock.authed) || (st.pc && st.pc.connectionState === 'connected')) return;
      if (st.pc && st.pc.connectionState !== 'failed' && Date.now() - (st.audioAt || 0) < 5000) return mend(after);
      listen();
    }, after);
  }

  // The steps of a join, as User Timing marks ("gl-listen", "gl-offer", …): what each round
  // trip costs on a slow link can be read off the page (performance.getEntriesByType('mark')).
  const mark = (name) => performance.mark && performance.mark('gl-' + name);

  // What the page needs only once it is ready (chat, recordings, the data meter, the quality
  // menu) comes in a second script, class-later.js (with live-extra.js), once the held session
  // has connected (at once when the class is not live, at the latest 8 s after the socket's
  // authentication) and the slide's image is in (or after 20 s more), paced to what the link
  // leaves beside the audio: on 2G its 5 KB at once would delay the page, or stall the first
  // seconds of audio. Calls into it wait for it, in order. A download that fails (a 2G link
  // drops) is tried again 5 s later.
  function later(name, ...args) {
    if (GL.later) GL.later[name](...args);
    else st.calls.push([name, args]);
  }
  function loadLater() {
    if (st.laterAsked) return;
    st.laterSince = st.laterSince || Date.now();
    if (view.url && !view.ready.has(view.url) && Date.now() - st.laterSince < 20000)
      return setTimeout(loadLater, 1000);
    st.laterAsked = true;
    const pace = st.profile ? '?pace=' + encodeURIComponent(st.profile) : '';
    document.head.append(el('link', {rel: 'stylesheet', href: '/web/chat.css' + pace}));
    for (const f of ['live-extra', 'class-later']) {
      const s = el('script', {src: '/web/' + f + '.js' + pace});
      s.async = false;
      s.onerror = () => {
        view.release();
        if (st.laterRetry) return;
        st.laterRetry = setTimeout(() => {
          st.laterRetry = 0;
          if (GL.later) return;
          st.laterAsked = false;
          loadLater();
        }, 5000);
      };
      if (f === 'class-later') s.onload = () => view.release();
      document.head.append(s);
    }
  }

  async function onOffer(sdp) {
    mark('offer');
    closePc();
    const mine = generation;
    const cfg = await GL.rtcConfig();
    if (mine !== generation || !(st.want || st.held)) return;
    const pc = new RTCPeerConnection(cfg);
    st.pc = pc;
    pc.oniceconnectionstatechange = () => pc.iceConnectionState === 'connected' && mark('ice-connected');
    pc.ontrack = (e) => {
      if (pc !== st.pc) return;
      mark('track');
      const stream = e.streams[0] || new MediaStream([e.track]);
      audio.srcObject = stream;
      if (st.want) audio.play().catch(() => GL.status('Tap anywhere to play the audio.', 'warn'));
      later('meter', stream);
    };
    pc.onicecandidate = (e) =>
      pc === st.pc &&
      sock.send(Object.assign({type: 'ice-candidate'}, e.candidate ? e.candidate.toJSON() : {candidate: null}));
    pc.onconnectionstatechange = () => {
      if (pc !== st.pc) return;
      if (pc.connectionState === 'connected') mark('connected');
      if (pc.connectionState === 'failed') mend(500);
      else if (pc.connectionState === 'disconnected') mend(4000);
    };
    try {
      await pc.setRemoteDescription({type: 'offer', sdp});
      for (const c of st.pending.splice(0)) await pc.addIceCandidate(c).catch(() => {});
      await pc.setLocalDescription(await pc.createAnswer());
      if (pc !== st.pc) return;
      holdForRepeats(pc);
      sock.send({type: 'answer', sdp: pc.localDescription.sdp});
      mark('answer');
      if (st.want) play();  // tapped while the held session's offer was on its way
    } catch (e) {
      if (pc !== st.pc) return;
      GL.status('Audio could not start: ' + e.message, 'bad');
      mend(3000);
    }
  }
  // With RED (audio/red, RFC 2198) each packet repeats the frame before it, so a lost packet is
  // rebuilt from the next one, which comes one frame (up to 60 ms) later. Chromium's jitter
  // buffer holds only about one frame on a steady link, and a repeat that arrives after its
  // frame was due is thrown away; a 150 ms floor keeps two 60 ms frames and the link's jitter.
  // Once the link has lost packets (a report interval with 1 % or more, the line from which the
  // server sends RED), has a round trip over 250 ms (a slow link, on which the page's own
  // downloads beside the audio queue up) or the queue watch sees over 100 ms, 500 ms: a queue
  // that builds up for a second or two (a slide image, the server trying the next profile)
  // delays the packets, and what the buffer holds plays on instead of gaps. A lecture is
  // one-way: half a second more delay costs the student nothing, a gap costs a word. Never
  // lowered within a session; raised only once the audio plays (the first words come as soon).
  function holdForRepeats(pc) {
    if (!pc) return;
    for (const r of pc.getReceivers()) {
      const codecs = (r.getParameters().codecs || []).map((c) => (c.mimeType || '').toLowerCase());
      if (!codecs.includes('audio/red')) continue;
      if ('jitterBufferTarget' in r) r.jitterBufferTarget = st.holdMs;
      else if ('playoutDelayHint' in r) r.playoutDelayHint = st.holdMs / 1000;
    }
  }
  function holdLonger() {
    if (st.holdMs >= 500) return;
    st.holdMs = 500;
    holdForRepeats(st.pc);
  }
  function onCandidate(m) {
    if (!m.candidate) return;
    const c = {candidate: m.candidate, sdpMLineIndex: m.sdpMLineIndex || 0};
    if (st.pc && st.pc.remoteDescription) st.pc.addIceCandidate(c).catch(() => {});
    else st.pending.push(c);
  }

  const sock = new GL.Socket({
    // Audio arrived within the last two measurements, and the link loses a tenth or more of its
    // packets or did so in the last 15 s: it is alive but saturated (a profile pinned too high),
    // or just healed, and TCP on it backs off for a minute or two; a new connection would fare
    // no better, and the old one often recovers within seconds of the link healing, so the
    // socket may stay quiet for longer. Once the link has carried the audio well for 15 s, a
    // socket 20 s behind is a TCP connection still backed off from before (its messages,
    // profile changes and slides, stuck for up to two minutes): a new one starts afresh.
    alive() {
      const healed = st.healthySince && Date.now() - st.healthySince > 15000;
      return !!st.pc && Date.now() - (st.audioAt || 0) < 12000 && !healed;
    },
    // Few pings (one a minute) while a pinned profile drowns the link and the audio shows it
    // alive: as for the reports (measure), nothing should wait for an acknowledgement when the
    // student unpins.
    quiet() {
      return pinned() && !!st.drowning && this.alive();
    },
    state(s, reason = '') {
      st.conn = s;
      st.denied = reason;
      if (s === 'denied' && /^token|auth/.test(reason)) GL.askToken($('#token-box'), () => sock.reconnectNow());
      if (s !== 'open') st.media = '';
      // While the socket reconnects the audio plays on: the next socket resumes its session.
      if (s !== 'open' && s !== 'reconnecting' && s !== 'offline') {
        st.held = false;
        closePc();
      }
      render();
    },
    authenticated(m) {
      st.me = m.user_id;
      st.live = m.class.state === 'live';
      st.ended = m.class.state === 'ended' && !!m.class.started_at;  // not a class never started
      const session = m.class.session_id || '';
      if (session !== st.session) later('loadData', session);
      GL.rtcConfig();  // the ICE servers (here already, from 'authenticated', or fetched now)
      if (st.ended) later('showRecordingsSoon', 0);
      if (!st.live) loadLater();
      else setTimeout(loadLater, 8000);
      if (!resume()) listen();
      sock.takeEarlyHeld();  // not taken over (the class was not live): it got class_not_live
      render();
    },
    'class-started'() {
      st.live = true;
      st.ended = false;
      listen();
      render();
    },
    'class-ended'() {
      st.live = false;
      st.ended = true;
      st.want = false;  // over for today: Join again for the next class
      closePc();
      later('showRecordingsSoon', 3000);  // the recording is final a moment after the class
      render();
    },
    presence(m) {
      st.teacherLive = m.teacher_live;
      render();
    },
    offer(m) {
      st.mediaKey = m.session || '';
      onOffer(m.sdp);
    },
    resumed(m) {
      st.media = m.state;
      st.profile = m.profile;
      st.held = m.held;
      mark('resumed');
      if (st.want) play();  // the tap came while the old socket was stalled
      render();
    },
    'ice-candidate': onCandidate,
    'media-state'(m) {
      st.media = m.state;
      if (m.state === 'connected') {
        loadFrames();
        loadLater();
        reportSoon(1000);
      }
      if (m.state === 'closed') {
        st.held = false;
        closePc();
        if (m.detail === 'replaced' && !st.want) return render();  // held here, listened elsewhere
        if (m.detail === 'replaced') {
          st.want = false;
          render();
          return GL.status('Your class is playing in another tab or device.', 'warn');
        }
        if (m.detail !== 'class-ended') mend(2000);
      }
      if (m.state === 'failed') mend(1000);
      render();
    },
    'profile-changed'(m) {
      st.profile = m.profile;
      reportSoon(1200);
      render();
    },
    'slide-sync'(m) {
      $('#no-slides').hidden = true;
      view.show(m.data.slide_data);
    },
    'chat-history': (m) => later('chatHistory', m.messages),
    'chat-message': (m) => later('chatAdd', m.message),
    'chat-removed': (m) => later('chatRemoved', m.message_id),
    error(m) {
      if (m.about === 'chat-message') return later('chatError', m);
      // No held session after all (listening in another tab, say): the tap asks for a session.
      if (m.about === 'listen' && st.held) {
        st.held = false;
        if (st.want) listen();
        if (m.code === 'listening_elsewhere') return;
      }
      if (m.about === 'resume') return listen();  // the session ended meanwhile: a new one
      if (m.about === 'play') {  // the held session is gone: a new one
        st.held = false;
        return listen();
      }
      if (m.code === 'class_not_live') {
        st.live = false;
        return render();
      }
      if (m.about === 'authenticate' && m.code.startsWith('token')) GL.forgetToken();
      GL.status(m.message, 'warn');
    },
  });

  $('#join').onclick = () => {
    mark('join');
    st.want = true;
    audio.play().catch(() => {});  // the tap lets audio play from now on
    // The held session plays; without one, or with one whose offer is still on its way (it
    // plays when the offer comes), a new session only when there is none at all.
    if (!play() && !st.held) listen();
    render();
  };
  $('#leave').onclick = () => {
    st.want = false;
    sock.send({type: 'stop-media'});
    closePc();
    audio.srcObject = null;
    listen();  // held again, for the next tap
    render();
  };
  document.addEventListener('click', () => audio.srcObject && audio.paused && audio.play().catch(() => {}));
  // (class-later.js sends chat; until it is here, Enter must not submit the form as a page load.)
  $('#chat-form').onsubmit = (e) => e.preventDefault();

  async function measure() {
    let rtt = null, lost = null, got = null;
    if (st.pc) {
      const stats = await st.pc.getStats().catch(() => null);
      if (stats)
        stats.forEach((s) => {
          if (s.type === 'transport') {
            if ((s.bytesReceived || 0) > (st.pcBytes || 0)) st.audioAt = Date.now();
            st.pcBytes = s.bytesReceived || 0;
          }
          if (s.type === 'candidate-pair' && s.nominated && s.currentRoundTripTime !== undefined)
            rtt = s.currentRoundTripTime * 1000;
          if (s.type === 'inbound-rtp' && s.kind === 'audio') {
            lost = s.packetsLost;
            got = s.packetsReceived;
          }
        });
    }
    // The round trip a packet sent now would see: the last measured one may be seconds old,
    // the queue watch's is a quarter second old.
    if (rtt !== null) {
      st.rttLowest = Math.min(st.rttLowest || Infinity, rtt);
      if (st.qw && st.qw.pc === st.pc) rtt = Math.max(rtt, st.rttLowest + st.qw.queue);
    }
    if (GL.later) GL.later.showData();
    // Loss since the last report that carried one, and the link as this device sees it; sent
    // as a hint. Over at least 30 packets: the early reports (reportSoon, the queue watch) come
    // between the regular ones, and one lost packet in five is no 20 % loss.
    let lossPct = null;
    if (lost === null) {
      st.lossPrev = null;
    } else if (!st.lossPrev || got < st.lossPrev.got) {
      st.lossPrev = {lost, got};
    } else {
      const dl = lost - st.lossPrev.lost, dg = got - st.lossPrev.got;
      if (dl + dg >= 30) {
        lossPct = Math.max(0, Math.min(100, (100 * dl) / (dl + dg)));
        st.lossPrev = {lost, got};
        if (lossPct >= 10) st.healthySince = 0;
        else if (!st.healthySince) st.healthySince = Date.now();
      }
    }
    if ((lossPct !== null && lossPct >= 1) || (rtt !== null && rtt > 250)) holdLonger();
    const parts = [];
    if (rtt !== null) parts.push(Math.round(rtt) + ' ms');
    if (lossPct !== null) parts.push(lossPct.toFixed(1) + '% lost');
    $('#link').textContent = parts.length ? 'Link: ' + parts.join(', ') : '';
    if (lossPct !== null) st.drowning = lossPct >= 20;
    // A student who chose a profile sends no reports: the server's controller does nothing with
    // them while a profile is pinned (the receiver reports tell it the loss), and on a link the
    // profile saturates each one would hold the socket's TCP in retransmission backoff (its
    // acknowledgements lost in the full queue), so that the unpin, when it comes, waits seconds
    // behind it.
    if (st.pc && st.media === 'connected' && !pinned()) {
      const report = {type: 'bandwidth-report'};
      if (rtt !== null) report.rtt_ms = Math.round(rtt);
      if (lossPct !== null) report.loss_pct = Math.round(lossPct);
      const c = navigator.connection;
      if (c && c.downlink) report.downlink_kbps = Math.round(c.downlink * 1000);
      report.downloading = st.downloading = view.busy();
      sock.send(report);
    }
  }
  // Every 2.5 s: the server climbs a profile only after a clean report made at the current one,
  // and receiver reports alone come about every 5 s. A report is about 80 bytes.
  setInterval(measure, 2500);
  // And one soon after the audio starts and after each profile change, a second into it: the
  // evidence the next step up waits for (on a clean link, a climb from 2g to high in ~12 s).
  function reportSoon(ms) {
    clearTimeout(st.soonTimer);
    st.soonTimer = setTimeout(measure, ms);
  }
  // The images are in: the climb the last report held back may go on now.
  view.onIdle = () => st.downloading && reportSoon(0);

  // The queue watch. The server sends one packet per Opus frame of the student's profile
  // (opus_frame_ms, from /config; no DTX). When a queue builds up in the link (a slide image,
  // or the server trying the next profile, that the link cannot carry), the packets received or
  // known lost fall behind that clock: how far behind, over the least it was in the last 30 s,
  // is the queue. Reports add it to the lowest round trip seen, and one goes at once when two
  // readings in a row say over 100 ms, so that the server stops what fills the link within about
  // half a second instead of at the next measured round trip, seconds later. Reset when the profile
  // or the connection changes, and after 2 s without packets (the teacher paused).
  const frameMs = {};
  function loadFrames() {
    if (st.framesAsked) return;
    st.framesAsked = true;
    GL.publicConfig(st.profile).then((cfg) => {
      for (const p of cfg.profiles || []) if (p.opus_frame_ms > 0) frameMs[p.name] = p.opus_frame_ms;
      later('menu', cfg.profiles || []);
    }, () => (st.framesAsked = false));
  }
  async function watchQueue() {
    const pc = st.pc, frame = frameMs[st.profile];
    if (!pc || st.media !== 'connected' || !frame) return;
    const stats = await pc.getStats().catch(() => null);
    if (!stats || pc !== st.pc) return;
    let n = null;
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') n = (s.packetsReceived || 0) + (s.packetsLost || 0);
    });
    if (n === null) return;
    // When the stats were taken (not when this code runs: a busy page is no queue in the link).
    let now = null;
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio' && s.timestamp) now = s.timestamp;
    });
    if (now === null) now = performance.now();
    let q = st.qw;
    // A new baseline when the profile or the connection changes, a second later (packets of the
    // old frame size may still be on their way), and after 2 s without packets.
    if (!q || q.pc !== pc || q.profile !== st.profile || (n === q.n && now - q.nAt > 2000) ||
        now < q.warm) {
      const warm = q && q.pc === pc && q.profile === st.profile ? q.warm : now + 1000;
      st.qw = {pc, profile: st.profile, frame, warm, t0: now, n0: n, n, nAt: now, lows: [[now, 0]], queue: 0, over: 0};
      return;
    }
    if (n !== q.n) {
      q.n = n;
      q.nAt = now;
    }
    const lag = now - q.t0 - (n - q.n0) * frame;
    // The lowest lag per second, for the last 30 s.
    const last = q.lows[q.lows.length - 1];
    if (now - last[0] < 1000) last[1] = Math.min(last[1], lag);
    else q.lows.push([now, lag]);
    while (q.lows.length > 1 && now - q.lows[0][0] > 30000) q.lows.shift();
    // Packets come whole: a lag of up to a frame is the counting, not a queue.
    q.queue = Math.max(0, lag - Math.min(...q.lows.map((x) => x[1])) - frame);
    if (q.queue > 100) holdLonger();
    // More than 3 s is no queue the watch can judge: the profile it times by is stale (its
    // profile-changed held back on a slow socket) or the link stalled. Start again.
    if (q.queue > 3000) {
      st.qw = null;
      return;
    }
    // Over 100 ms (what fails a probe) in two readings in a row, a quarter second apart; a dip
    // under it starts the count again only when it lasts 0.3 s (the readings jitter by a frame
    // or so, and a growing queue must not wait for a clean run of them).
    if (q.queue <= 100) {
      if (!q.under) q.under = now;
      if (now - q.under > 300) q.over = 0;
    } else {
      q.under = 0;
      if (!q.over) {
        q.over = now;
      } else if (now - q.over >= 200 && now - (st.urgentAt || 0) >= 1000) {
        st.urgentAt = now;
        measure();
      }
    }
  }
  setInterval(watchQueue, 250);

  if (!GL.token()) GL.askToken($('#token-box'), () => sock.reconnectNow());
  render();
  window.glStudent = st;  // for people debugging from the console, and the tests
  GL.student = {st, sock, pinKey};
})();
