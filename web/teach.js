// The teacher page: /teach/{class_id}. Start and end the class, speak, show slides, see who
// listens and how well, chat.
'use strict';
(() => {
  const {$, el} = GL;
  const view = new GL.SlideView($('#slide'));
  const st = {
    me: '', role: '', live: false, conn: 'reconnecting', mic: null, pc: null, held: [],
    answered: false, stopMeter: null, slides: [], deck: null, sync: null, people: [],
  };
  $('#title').textContent = GL.classId;
  document.title = 'Teach ' + GL.classId + ' — GramOthi Live';

  function render() {
    $('#dot').className = 'dot ' + st.conn;
    const open = st.conn === 'open';
    $('#start').hidden = st.live;
    $('#start').disabled = !open && st.conn !== 'missing';
    $('#stop').hidden = !st.live;
    $('#mic').disabled = !open || !st.live;
    $('#mic').textContent = st.mic ? 'Microphone off' : 'Microphone on';
    $('#mic').classList.toggle('primary', !!st.mic);
    $('#upload').disabled = !$('#deck').files.length;
    $('#rec-row').hidden = !st.live && !st.rec;
    $('#rec-toggle').hidden = !st.live;
    $('#rec-toggle').textContent = st.rec && st.rec.state === 'recording' ? 'Stop recording' : 'Record';
    // The list holds the first 500 people; the counts cover everyone.
    const listening = st.listening !== undefined ? st.listening : st.people.filter((p) => p.listening).length;
    const more = st.total > st.people.length ? ' (list shows ' + st.people.length + ' of ' + st.total + ')' : '';
    $('#count').textContent = listening + ' listening' + more;
    if (st.conn === 'denied' && st.denied === 'too_many_sockets') return GL.status('This class is open in too many tabs or devices. Close this one, or reload it to use it here.', 'bad');
    if (st.conn === 'denied' && st.denied === 'token_expired') return GL.status('Your link has expired. Ask for a new one and paste it.', 'bad');
    if (st.conn === 'denied') return GL.status('This link is not valid for this class.', 'bad');
    if (st.conn === 'offline') return GL.status('You are offline. Reconnecting when the network returns…', 'bad');
    if (st.conn === 'missing') return GL.status('A new class: press Start when you are ready.', '');
    if (st.conn === 'ended') return GL.status('The class has ended. Start it again when you are ready.', '');
    if (!open) return GL.status('Reconnecting…', 'warn');
    if (!st.live) return GL.status('The class is not live. Start it when you are ready; students wait on their page.', '');
    if (!st.mic) return GL.status('The class is live. Switch your microphone on to speak.', 'warn');
    const ms = st.pc ? st.pc.connectionState : '';
    if (ms === 'connected') return GL.status('You are live: students hear you.', 'ok');
    GL.status('Connecting your microphone…', '');
  }

  // ---- microphone and publishing ----
  // Bumped by every new attempt or teardown; an attempt that awaited checks it afterwards.
  let generation = 0;
  function closePc() {
    generation++;
    if (st.pc) {
      st.pc.onconnectionstatechange = null;
      st.pc.close();
    }
    st.pc = null;
    st.held = [];
    st.answered = false;
  }
  async function publish() {
    if (!st.mic || !st.live || !sock.authed) return;
    closePc();
    const mine = generation;
    const cfg = await GL.rtcConfig();
    if (mine !== generation || !st.mic || !sock.authed) return;
    const pc = new RTCPeerConnection(cfg);
    st.pc = pc;
    for (const t of st.mic.getAudioTracks()) pc.addTrack(t, st.mic);
    pc.onicecandidate = (e) => {
      if (pc !== st.pc) return;
      const m = Object.assign({type: 'ice-candidate'}, e.candidate ? e.candidate.toJSON() : {candidate: null});
      if (st.answered) sock.send(m);
      else st.held.push(m);  // the server takes candidates only after its answer
    };
    pc.onconnectionstatechange = () => {
      if (pc !== st.pc) return;
      if (pc.connectionState === 'failed') setTimeout(() => pc === st.pc && publish(), 1000);
      render();
    };
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    if (pc !== st.pc) return;
    sock.send({type: 'publish', sdp: pc.localDescription.sdp});
    render();
  }
  async function onAnswer(sdp) {
    const pc = st.pc;
    if (!pc || pc.signalingState !== 'have-local-offer') return;  // an answer to an old offer
    await pc.setRemoteDescription({type: 'answer', sdp});
    if (pc !== st.pc) return;
    st.answered = true;
    for (const m of st.held.splice(0)) sock.send(m);
  }
  async function micOn() {
    if (!navigator.mediaDevices || !window.isSecureContext)
      return GL.status('The microphone needs this page on https:// (ask the operator).', 'bad');
    try {
      st.mic = await navigator.mediaDevices.getUserMedia(
          {audio: {echoCancellation: true, noiseSuppression: true, autoGainControl: true}});
    } catch (e) {
      return GL.status('The microphone is not available: ' + e.message, 'bad');
    }
    st.stopMeter = GL.levelMeter(st.mic, (v) => ($('#level i').style.width = Math.round(v * 100) + '%'));
    publish();
    render();
  }
  function micOff() {
    sock.send({type: 'stop-media'});
    closePc();
    if (st.mic) st.mic.getTracks().forEach((t) => t.stop());
    st.mic = null;
    if (st.stopMeter) st.stopMeter();
    st.stopMeter = null;
    $('#level i').style.width = '0';
    render();
  }
  $('#mic').onclick = () => (st.mic ? micOff() : micOn());

  // ---- class lifecycle ----
  $('#start').onclick = async () => {
    try {
      const r = await GL.api('POST', '/start', {class_id: GL.classId});
      st.live = r.class.state === 'live';
      if (!sock.authed) sock.reconnectNow();  // a new class exists now
      render();
      if (st.live && !st.mic) micOn();
    } catch (e) {
      GL.status('Could not start the class: ' + e.message, 'bad');
    }
  };
  $('#stop').onclick = async () => {
    if (!confirm('End the class for everyone?')) return;
    try {
      if (st.mic) micOff();
      await GL.api('POST', '/stop', {class_id: GL.classId});
      st.live = false;
      render();
    } catch (e) {
      GL.status('Could not end the class: ' + e.message, 'bad');
    }
  };

  // ---- slides ----
  // The smallest image of the slide: what the students on the slowest links see.
  function smallest(s) {
    if (!s || !s.images) return '';
    let best = null;
    for (const img of Object.values(s.images)) if (!best || img.width < best.width) best = img;
    return best ? best.url : '';
  }
  function showSlide() {
    const d = st.sync;
    if (!d) return;
    let slide = d.slide_data;
    if ($('#preview').checked) {
      const i = st.slides.findIndex((s) => s.slide_id === d.slide_id);
      if (i >= 0)
        slide = {file_url: smallest(st.slides[i]), text: st.slides[i].text, order_no: st.slides[i].order_no,
                 next_file_url: smallest(st.slides[i + 1])};
    }
    view.show(slide);
    for (const b of $('#thumbs').children) b.classList.toggle('on', b.dataset.id === d.slide_id);
    const on = $('#thumbs .on');
    if (on) on.scrollIntoView({block: 'nearest', inline: 'nearest'});
  }
  function renderThumbs() {
    const box = $('#thumbs');
    box.replaceChildren(...st.slides.filter((s) => s.status === 'ready').map((s) =>
      el('button', {'data-id': s.slide_id, title: 'Show slide ' + s.order_no,
                    onclick: () => move({action: 'goto', slide_id: s.slide_id})},
         el('img', {src: smallest(s), alt: 'Slide ' + s.order_no, loading: 'lazy'}),
         el('span', null, String(s.order_no)))));
    $('#goto').max = st.slides.length || 1;
    showSlide();
  }
  function deckStatus(d) {
    const p = $('#deck-progress');
    if (!d) {
      p.hidden = true;
      return ($('#deck-status').textContent = 'No deck yet. Upload a PDF; students see page 1 as soon as it is ready.');
    }
    const total = d.pages_total || 0, done = (d.pages_done || 0) + (d.pages_failed || 0);
    p.hidden = d.status !== 'rendering';
    p.max = total || 1;
    p.value = done;
    let text = (d.file_name || 'Deck') + ': ';
    if (d.status === 'rendering') text += total ? 'preparing page ' + done + ' of ' + total : 'opening…';
    else if (d.status === 'ready') text += (d.pages_done || 0) + ' slides ready' +
        (d.pages_failed ? ', ' + d.pages_failed + ' could not be shown' : '');
    else text += 'could not be used' + (d.error ? ' (' + d.error.message + ')' : '');
    $('#deck-status').textContent = text;
  }
  let listTimer = 0;
  async function loadSlides() {
    clearTimeout(listTimer);
    listTimer = 0;
    try {
      const r = await GL.api('GET', '/slides/' + encodeURIComponent(GL.classId));
      st.deck = r.deck;
      st.slides = r.slides || [];
    } catch (e) {
      if (e.status !== 404) return;
      st.deck = null;
      st.slides = [];
    }
    deckStatus(st.deck);
    renderThumbs();
  }
  function loadSlidesSoon() {
    if (!listTimer) listTimer = setTimeout(loadSlides, 1500);
  }
  function move(m) {
    sock.send(Object.assign({type: 'slide-sync'}, m));
  }
  $('#prev').onclick = () => move({action: 'previous'});
  $('#next').onclick = () => move({action: 'next'});
  $('#go').onclick = () => {
    const n = parseInt($('#goto').value, 10);
    if (n > 0) move({action: 'goto', order_no: n});
  };
  $('#preview').onchange = showSlide;
  document.addEventListener('keydown', (e) => {
    if (e.target.closest('input, textarea, select') || e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.key === ' ' && e.target.closest('button')) return;  // Space presses the button itself
    if (['ArrowRight', 'PageDown', ' '].includes(e.key)) move({action: 'next'});
    else if (['ArrowLeft', 'PageUp'].includes(e.key)) move({action: 'previous'});
    else return;
    e.preventDefault();
  });
  $('#deck').onchange = render;
  $('#upload').onclick = () => {
    const f = $('#deck').files[0];
    if (!f) return;
    // XMLHttpRequest, for upload progress on slow links.
    const x = new XMLHttpRequest();
    x.open('POST', GL.API + '/slides/' + encodeURIComponent(GL.classId));
    x.setRequestHeader('Authorization', 'Bearer ' + GL.token());
    x.setRequestHeader('Content-Type', 'application/pdf');
    const p = $('#deck-progress');
    p.hidden = false;
    x.upload.onprogress = (e) => {
      p.max = e.total || 1;
      p.value = e.loaded;
      $('#deck-status').textContent = 'Uploading ' + f.name + ': ' + GL.mb(e.loaded) + ' of ' + GL.mb(e.total);
    };
    x.onload = () => {
      let r = null;
      try {
        r = JSON.parse(x.responseText);
      } catch (_) {
        r = null;
      }
      if (x.status !== 202) {
        p.hidden = true;
        return ($('#deck-status').textContent = 'Upload refused: ' + ((r && r.message) || 'HTTP ' + x.status));
      }
      r.file_name = r.file_name || f.name;
      st.deck = r;
      if (!sock.authed) sock.reconnectNow();  // the upload created the class
      deckStatus(r);
      $('#deck').value = '';
      render();
    };
    x.onerror = () => {
      p.hidden = true;
      $('#deck-status').textContent = 'Upload failed: the connection dropped. Try again.';
    };
    x.send(f);
    $('#upload').disabled = true;
  };

  $('#rec-toggle').onclick = async () => {
    const on = !(st.rec && st.rec.state === 'recording');
    try {
      await GL.api('POST', '/api/v1/recordings/' + encodeURIComponent(GL.classId), {record: on});
    } catch (e) {
      GL.status('Could not change the recording: ' + e.message, 'bad');
    }
  };

  // ---- students ----
  function quality(link) {
    if (!link) return ['', ''];
    const cls = link.loss_pct < 2 && link.rtt_ms < 400 ? 'q-good' : link.loss_pct < 8 && link.rtt_ms < 1000 ? 'q-fair' : 'q-poor';
    return [cls, link.loss_pct + '% lost · ' + link.rtt_ms + ' ms'];
  }
  function renderPeople() {
    const rows = st.people.map((p) => {
      const [cls, text] = quality(p.link);
      const prof = p.link ? p.link.profile + (p.link.pinned ? ' (chosen)' : '') : '';
      const state = !p.listening ? 'not listening' : p.state === 'connected' ? text : p.state || 'connecting';
      return el('tr', {'data-user': p.user_id}, el('td', null, p.user_id), el('td', null, prof),
                el('td', {class: p.state === 'connected' ? cls : 'muted'}, state));
    });
    $('#people').replaceChildren(...rows);
    $('#nobody').hidden = rows.length > 0;
    render();
  }

  const chat = new GL.Chat($('#messages'), () => st.me,
                           (id) => sock.send({type: 'chat-remove', message_id: id}));
  $('#chat-form').onsubmit = (e) => {
    e.preventDefault();
    const t = $('#chat-text');
    const text = t.value.trim();
    if (text && sock.send({type: 'chat-message', text})) t.value = '';
  };

  const sock = new GL.Socket({
    state(s, reason = '') {
      st.conn = s;
      st.denied = reason;
      if (s === 'denied' && /^token|auth/.test(reason)) GL.askToken($('#token-box'), () => sock.reconnectNow());
      if (s !== 'open') closePc();
      if (s === 'ended') setTimeout(() => sock.reconnectNow(), 1000);  // ready to start again
      render();
    },
    authenticated(m) {
      st.me = m.user_id;
      st.role = m.role;
      st.live = m.class.state === 'live';
      if (m.role === 'student') {
        GL.status('This page is for teachers. Students join at /class/' + GL.classId, 'bad');
        return;
      }
      loadSlides();
      publish();  // back after a drop: speak again at once
      render();
    },
    'class-started'() {
      st.live = true;
      render();
    },
    'class-ended'() {
      st.live = false;
      if (st.mic) micOff();
      render();
    },
    answer: (m) => onAnswer(m.sdp).catch((e) => GL.status('Microphone connection failed: ' + e.message, 'bad')),
    'ice-candidate'(m) {
      if (m.candidate && st.pc) st.pc.addIceCandidate({candidate: m.candidate, sdpMLineIndex: 0}).catch(() => {});
    },
    'media-state'(m) {
      if (m.state === 'closed' && m.detail === 'replaced') {
        closePc();
        if (st.mic) st.mic.getTracks().forEach((t) => t.stop());
        st.mic = null;
        GL.status('Your microphone is now live from another tab or device.', 'warn');
        return;
      }
      if (m.state === 'closed' && m.detail !== 'class-ended') setTimeout(publish, 1000);
      render();
    },
    recording(m) {
      st.rec = m;
      const rec = $('#rec');
      rec.replaceChildren();
      if (m.state === 'recording') rec.append('● Recording this class');
      else if (m.state === 'failed') rec.append('Recording stopped: ' + (m.error || 'error'));
      else rec.append(el('a', {href: '/recordings/' + encodeURIComponent(m.recording_id) + '#token=' +
                                     encodeURIComponent(GL.token()), target: '_blank'}, 'Recording ready: play it'));
      rec.className = m.state === 'failed' ? 'q-poor' : m.state === 'recording' ? 'q-poor' : '';
      render();
    },
    listeners(m) {
      st.people = m.people || [];
      st.listening = m.listening;
      st.total = m.total;
      renderPeople();
    },
    'slide-sync'(m) {
      st.sync = m.data;
      if (!st.slides.some((s) => s.slide_id === m.data.slide_id)) loadSlidesSoon();
      showSlide();
    },
    'slides-progress'(m) {
      st.deck = Object.assign(st.deck || {}, m);
      deckStatus(st.deck);
      if (m.status === 'rendering') loadSlidesSoon();
      else loadSlides();
    },
    'chat-history': (m) => chat.setHistory(m.messages),
    'chat-message': (m) => chat.add(m.message),
    'chat-removed': (m) => chat.removed(m.message_id),
    error(m) {
      if (m.about === 'chat-message') return GL.status(GL.chatErrors[m.code] || m.message, 'warn');
      if (m.about === 'authenticate' && m.code.startsWith('token')) GL.forgetToken();
      GL.status(m.message, 'warn');
    },
  });

  if (!GL.token()) GL.askToken($('#token-box'), () => sock.reconnectNow());
  render();
  window.glTeacher = st;
})();
