// The student page: /class/{class_id}. One tap to join; then audio, slides, chat, and a
// connection that mends itself.
'use strict';
(() => {
  const {$, el} = GL;
  const audio = $('#audio');
  const view = new GL.SlideView($('#slide'));
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
    later('reportSoon', 1000);  // the controller starts afresh: let it hear about the link at once
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

  // What the page needs only once it is ready (chat, recordings, the data meter, link reports
  // and the queue watch, the quality menu) comes in a second script, class-later.js, loaded
  // when the held session has connected (or at once when the class is not live, or 8 s after the
  // socket's authentication): on 2G its 4 KB would delay the page and the first audio. Calls
  // into it wait for it, in order.
  function later(name, ...args) {
    if (GL.later) GL.later[name](...args);
    else st.calls.push([name, args]);
  }
  function loadLater() {
    if (st.laterAsked) return;
    st.laterAsked = true;
    for (const f of ['live-extra', 'class-later']) {
      const s = el('script', {src: '/web/' + f + '.js'});
      s.async = false;
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
  // server sends RED), 500 ms: on such a link a queue that builds up for a second or two (a slide
  // image, the server trying the next profile) delays the packets, and what the buffer holds
  // plays on instead of gaps. A lecture is one-way: half a second more delay costs the student
  // nothing, a gap costs a word. Never lowered within a session.
  function holdForRepeats(pc) {
    if (!pc) return;
    for (const r of pc.getReceivers()) {
      const codecs = (r.getParameters().codecs || []).map((c) => (c.mimeType || '').toLowerCase());
      if (!codecs.includes('audio/red')) continue;
      if ('jitterBufferTarget' in r) r.jitterBufferTarget = st.holdMs;
      else if ('playoutDelayHint' in r) r.playoutDelayHint = st.holdMs / 1000;
    }
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
        loadLater();
        later('reportSoon', 1000);
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
      later('reportSoon', 1200);
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

  if (!GL.token()) GL.askToken($('#token-box'), () => sock.reconnectNow());
  render();
  window.glStudent = st;  // for people debugging from the console, and the tests
  GL.student = {st, sock, view, audio, pinned, pinKey, holdForRepeats};
})();
