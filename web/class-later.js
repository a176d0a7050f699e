// The student page's second part (class.js loads it once the page is ready and the held
// session connected): chat, recordings after class, the data meter, link reports and the queue
// watch, the quality menu.
'use strict';
(() => {
  const {$, el} = GL;
  const {st, sock, view, pinned, pinKey, holdForRepeats} = GL.student;
  const chat = new GL.Chat($('#messages'), () => st.me, null);

  // After class: the recordings this student may play or take offline. One still being
  // finished (a moment after the class; longer on a busy server) is looked for again, every
  // 2 s at first, then less often, for a few minutes.
  let recTimer = 0, recTries = 0;
  function showRecordingsSoon(ms) {
    clearTimeout(recTimer);
    recTries = 0;
    recTimer = setTimeout(showRecordings, ms);
  }
  async function showRecordings() {
    let list;
    try {
      list = await GL.api('GET', '/api/v1/recordings/' + encodeURIComponent(GL.classId));
    } catch (e) {
      if (!(e instanceof GL.ApiError) || e.status >= 500) lookAgain();  // not a refusal: try later
      return;
    }
    // 'recording' and 'finishing' (its length not read yet) are not final: look again later.
    const pending = (r) => r.state === 'recording' || r.state === 'finishing';
    if ((list.recordings || []).some(pending)) lookAgain();
    const done = (list.recordings || []).filter((r) => !pending(r) && r.duration_ms > 0).slice(0, 5);
    // The player gets the token in its fragment (never sent to a server); a download goes
    // through a short-lived link for that one recording.
    const t = '#token=' + encodeURIComponent(GL.token());
    $('#rec-list').replaceChildren(...done.map((r) => {
      const when = new Date(r.started_at_ms).toLocaleString([], {dateStyle: 'medium', timeStyle: 'short'});
      const id = encodeURIComponent(r.recording_id);
      const download = el('a', {href: '#'}, 'download (about ' + GL.mb(r.audio_bytes + 1e6) + ')');
      download.onclick = async (ev) => {
        ev.preventDefault();
        try {
          const links = await GL.api('POST', '/api/v1/recordings/' + id + '/links');
          location.href = links.package_url + '&profile=ultra-low';
        } catch (e) {
          download.textContent = 'download failed: ' + e.message;
        }
      };
      return el('li', null, when + ' · ' + Math.round(r.duration_ms / 60000) + ' min: ',
                el('a', {href: '/recordings/' + id + t}, 'listen'), ' · ', download);
    }));
    $('#recordings').hidden = done.length === 0;
  }
  function lookAgain() {
    if (!st.ended || ++recTries > 30) return;
    recTimer = setTimeout(showRecordings, Math.min(10000, 2000 * recTries));
  }

  $('#chat-form').onsubmit = (e) => {
    e.preventDefault();
    const t = $('#chat-text');
    const text = t.value.trim();
    if (!text) return;
    if (sock.send({type: 'chat-message', text})) t.value = '';
    else GL.status('Not connected: your message was kept. Send it again when back.', 'warn');
  };

  // Profiles from the server; the choice is kept per class on this device.
  GL.publicConfig().then((cfg) => {
    const sel = $('#profile');
    for (const p of cfg.profiles || []) {
      sel.append(el('option', {value: p.name}, p.name + ' (' + p.audio_bitrate_kbps + ' kbit/s)'));
      if (p.opus_frame_ms > 0) frameMs[p.name] = p.opus_frame_ms;
    }
    sel.value = localStorage.getItem(pinKey) || 'auto';
    if (sel.selectedIndex < 0) sel.value = 'auto';
  }).catch(() => {});
  $('#profile').onchange = (e) => {
    const profile = e.target.value;
    localStorage.setItem(pinKey, profile);
    if (st.pc) sock.send({type: 'profile', profile});
    else GL.api('POST', '/bandwidth-profile', {class_id: GL.classId, profile}).catch(() => {});
  };

  // ---- data used this class (kept on the device per class session) and link quality ----
  function dataKey() {
    return 'gl-data:' + GL.classId + ':' + st.session;
  }
  function loadData(session) {
    st.session = session;
    try {
      st.base = JSON.parse(localStorage.getItem(dataKey())) || {audio: 0, slides: 0, other: 0};
    } catch (_) {
      st.base = {audio: 0, slides: 0, other: 0};
    }
    st.audioBytesDone = 0;
    st.pcBytes = 0;
    st.slidesAtStart = GL.slidesTransferred();
    st.wsAtStart = sock ? sock.bytes : 0;
  }
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
    const used = {
      audio: st.base.audio + st.audioBytesDone + (st.pcBytes || 0),
      slides: st.base.slides + GL.slidesTransferred() - (st.slidesAtStart || 0),
      other: st.base.other + sock.bytes - (st.wsAtStart || 0),
    };
    if (st.session) localStorage.setItem(dataKey(), JSON.stringify(used));
    $('#data-used').textContent = 'Data used this class: ' + GL.mb(used.audio + used.slides + used.other) +
        ' (audio ' + GL.mb(used.audio) + ', slides ' + GL.mb(used.slides) + ')';
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
    if (lossPct !== null && lossPct >= 1 && st.holdMs < 500) {
      st.holdMs = 500;
      holdForRepeats(st.pc);
    }
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

  GL.later = {
    reportSoon, loadData, showRecordingsSoon,
    chatHistory: (messages) => chat.setHistory(messages),
    chatAdd: (m) => chat.add(m),
    chatRemoved: (id) => chat.removed(id),
    chatError: (m) => GL.status(GL.chatErrors[m.code] || m.message, 'warn'),
    meter(stream) {
      if (st.stopMeter) st.stopMeter();
      st.stopMeter = GL.levelMeter(stream, (v) => ($('#level i').style.width = Math.round(v * 100) + '%'));
    },
  };
  const queued = st.calls.splice(0);
  for (const [name, args] of queued) GL.later[name](...args);
  // A session that began before this script came counts from the page's start.
  if (queued.some(([name]) => name === 'loadData')) st.slidesAtStart = st.wsAtStart = 0;
  reportSoon(0);
})();
