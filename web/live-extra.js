// GramOthi Live: the parts of the shared code a student's page loads after it is ready (the
// teacher's page inlines them with live.js): chat, the data meter's counters, level meters.
'use strict';
Object.assign(GL, (() => {
  const {el} = GL;

  // ---- chat ----
  function timeOf(ms) {
    const d = new Date(ms);
    return d.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'});
  }
  // `box` is a <ul>; `remove(id)` present means the viewer may take messages down.
  class Chat {
    constructor(box, me, remove) {
      this.box = box;
      this.me = me;
      this.remove = remove;
    }
    setHistory(messages) {
      this.box.replaceChildren();
      for (const m of messages) this.add(m, true);
      this.box.scrollTop = this.box.scrollHeight;
    }
    add(m, quiet) {
      if (this.box.querySelector('[data-id="' + CSS.escape(m.message_id) + '"]')) return;
      const atEnd = this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < 40;
      const li = el('li', {'data-id': m.message_id, class: m.role === 'student' ? '' : 'staff'},
                    el('b', null, m.user_id === this.me() ? 'You' : m.user_id),
                    m.role === 'student' ? null : el('em', null, ' ' + m.role),
                    el('time', null, ' ' + timeOf(m.sent_at_ms)),
                    this.remove ? el('button', {class: 'x', title: 'Remove for everyone',
                                                'aria-label': 'Remove message',
                                                onclick: () => this.remove(m.message_id)}, '×')
                                : null,
                    el('p', null, m.text));
      this.box.append(li);
      while (this.box.children.length > 300) this.box.firstChild.remove();
      if (!quiet && atEnd) this.box.scrollTop = this.box.scrollHeight;
    }
    removed(id) {
      const li = this.box.querySelector('[data-id="' + CSS.escape(id) + '"]');
      if (li) li.remove();
    }
  }
  const chatErrors = {
    chat_rate_limited: 'Too many messages: wait a few seconds.',
    invalid_field: 'Messages are 1 to 500 characters.',
  };

  // ---- data used ----
  // Bytes of slide images actually transferred (a cached image counts 0), from the browser's
  // resource timing.
  let slideBytes = 0;
  if (window.PerformanceObserver) {
    try {
      performance.setResourceTimingBufferSize(2000);
      new PerformanceObserver((list) => {
        for (const e of list.getEntries())
          if (e.name.includes('/slides/images/')) slideBytes += e.transferSize || 0;
      }).observe({type: 'resource', buffered: true});
    } catch (_) {
      /* no resource timing: the meter shows audio only */
    }
  }
  const slidesTransferred = () => slideBytes;
  const mb = (b) => (b / 1e6).toFixed(b < 1e7 ? 2 : 1) + ' MB';

  // ---- audio level of a MediaStream, 0..1, for meters ----
  let audioCtx = null;
  function levelMeter(stream, onLevel) {
    audioCtx = audioCtx || new (window.AudioContext || window.webkitAudioContext)();
    if (audioCtx.state === 'suspended') audioCtx.resume();
    const src = audioCtx.createMediaStreamSource(stream);
    const an = audioCtx.createAnalyser();
    an.fftSize = 512;
    src.connect(an);
    const buf = new Float32Array(an.fftSize);
    let stop = false;
    const tick = () => {
      if (stop) return;
      an.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const v of buf) sum += v * v;
      onLevel(Math.min(1, Math.sqrt(sum / buf.length) * 4));
      setTimeout(tick, 100);
    };
    tick();
    return () => {
      stop = true;
      src.disconnect();
    };
  }

  return {Chat, chatErrors, slidesTransferred, mb, levelMeter};
})());
