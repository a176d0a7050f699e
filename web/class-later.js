// The student page's second part (class.js loads it once the page is ready and the held
// session connected): chat, recordings after class, the data meter, the quality menu.
'use strict';
(() => {
  const {$, el} = GL;
  const {st, sock, pinKey} = GL.student;
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

  // Profiles from the server (class.js has them from /config); the choice is kept per class on
  // this device.
  function menu(profiles) {
    const sel = $('#profile');
    for (const p of profiles)
      sel.append(el('option', {value: p.name}, p.name + ' (' + p.audio_bitrate_kbps + ' kbit/s)'));
    sel.value = localStorage.getItem(pinKey) || 'auto';
    if (sel.selectedIndex < 0) sel.value = 'auto';
  }
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
  // Called by class.js's measure, every 2.5 s.
  function showData() {
    const used = {
      audio: st.base.audio + st.audioBytesDone + (st.pcBytes || 0),
      slides: st.base.slides + GL.slidesTransferred() - (st.slidesAtStart || 0),
      other: st.base.other + sock.bytes - (st.wsAtStart || 0),
    };
    if (st.session) localStorage.setItem(dataKey(), JSON.stringify(used));
    $('#data-used').textContent = 'Data used this class: ' + GL.mb(used.audio + used.slides + used.other) +
        ' (audio ' + GL.mb(used.audio) + ', slides ' + GL.mb(used.slides) + ')';
  }
  GL.later = {
    loadData, showRecordingsSoon, showData, menu,
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
  showData();
})();
