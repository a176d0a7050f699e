// The lecture player: one self-contained HTML page (no outside assets), used twice:
//  - offline, as index.html in the lecture package, with the timeline inlined and the audio and
//    slides next to it (opened from the unpacked folder, file://);
//  - online, at /recordings/{recording_id}, fetching the timeline and streaming the audio with
//    range requests.
// `__GRAMOTHI_TIMELINE__` is replaced by the timeline JSON (offline) or `null` (online):
// player_page() below.
#pragma once

#include <cstring>
#include <string>

namespace gramothi {

inline constexpr const char *kPlayerHtml = R"GRAMOTHI(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lecture — GramOthi Live</title>
<style>
  * { box-sizing: border-box; }
  [hidden] { display: none !important; }
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; color: #1b1b1b; }
  header { background: #1a6b3c; color: #fff; padding: .5rem .75rem; }
  header h1 { font-size: 1rem; margin: 0; }
  header p { margin: 0; font-size: .8rem; opacity: .85; }
  main { max-width: 60rem; margin: 0 auto; padding: .5rem .75rem 1rem; }
  audio { width: 100%; margin: .5rem 0; }
  .slide { position: relative; background: #20262b; border-radius: 6px; overflow: hidden;
           aspect-ratio: 4 / 3; display: flex; align-items: center; justify-content: center; }
  .slide img { max-width: 100%; max-height: 100%; display: block; }
  .slide img:not([src]) { display: none; }
  .slide .text { position: absolute; inset: 0; padding: .75rem; color: #f1f1f1;
                 white-space: pre-wrap; overflow: auto; font-size: .9rem; }
  .slide.has-image .text { display: none; }
  .slide .num { position: absolute; right: .4rem; bottom: .3rem; color: #fff; background: #0008;
                border-radius: 4px; padding: 0 .35rem; font-size: .8rem; }
  .row { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; margin: .4rem 0; }
  button { font: inherit; border: 1px solid #1a6b3c; background: #fff; color: #1a6b3c;
           border-radius: 6px; padding: .35rem .7rem; min-height: 2.3rem; }
  button.on { background: #1a6b3c; color: #fff; }
  .chat { list-style: none; padding: 0; margin: .5rem 0; max-height: 14rem; overflow-y: auto;
          border-top: 1px solid #ddd; }
  .chat li { padding: .25rem 0; border-bottom: 1px solid #eee; }
  .chat li p { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
  .chat time { color: #777; font-size: .8rem; }
  #error { color: #b3261e; }
</style>
</head>
<body>
<header><h1 id="title">Lecture</h1><p id="meta"></p></header>
<main>
  <p id="error" hidden></p>
  <audio id="audio" controls preload="metadata"></audio>
  <div class="row" id="speeds"></div>
  <div class="slide" id="slide"><img id="img" alt="Slide"><div class="text" id="text"></div><span class="num" id="num"></span></div>
  <div class="row" id="slides" aria-label="Jump to a slide"></div>
  <h2 style="font-size:.95rem;margin:.6rem 0 0">Chat</h2>
  <ul class="chat" id="chat"></ul>
</main>
<script id="timeline" type="application/json">__GRAMOTHI_TIMELINE__</script>
<script>
'use strict';
(async () => {
  const $ = (id) => document.getElementById(id);
  const audio = $('audio');
  let data = JSON.parse($('timeline').textContent);
  const fail = (m) => { $('error').hidden = false; $('error').textContent = m; };
  let relink = null;  // online: a fresh ticketed audio link, for when the last one expires
  if (!data) {
    // Online: /recordings/ID#token=... (a fragment never reaches a server or a proxy log). The
    // token stays in this tab and goes in headers only; the <audio> element, which cannot send
    // a header, gets a short-lived link for this recording alone. Seeking fetches only what it
    // needs (HTTP range requests).
    const id = decodeURIComponent(location.pathname.split('/')[2] || '');
    const q = new URLSearchParams(location.search);
    const h = new URLSearchParams(location.hash.slice(1));
    const token = h.get('token') || sessionStorage.getItem('gl-rec-token') || '';
    if (h.has('token')) {
      sessionStorage.setItem('gl-rec-token', token);
      history.replaceState(null, '', location.pathname + location.search);
    }
    const profile = q.get('profile') || 'ultra-low';
    const base = '/api/v1/recordings/' + encodeURIComponent(id);
    const auth = {headers: {Authorization: 'Bearer ' + token}};
    const denied = 'This link does not give access to this recording.';
    const r = await fetch(base + '/timeline?profile=' + encodeURIComponent(profile), auth);
    if (!r.ok) return fail(r.status === 401 || r.status === 403 ? denied : 'The recording could not be loaded.');
    data = await r.json();
    relink = async () => {
      const l = await fetch(base + '/links', {method: 'POST', ...auth});
      return l.ok ? (await l.json()).audio_url : null;
    };
    data.audio = await relink();
    if (!data.audio) return fail(denied);
  }
  const rec = data.recording || {};
  $('title').textContent = rec.class_id || 'Lecture';
  document.title = (rec.class_id || 'Lecture') + ' — GramOthi Live';
  const when = rec.started_at_ms ? new Date(rec.started_at_ms) : null;
  $('meta').textContent = (when ? when.toLocaleString() + ' · ' : '') +
      Math.round((rec.duration_ms || 0) / 60000) + ' min';
  audio.src = data.audio || 'audio.ogg';
  const events = (data.events || []).slice().sort((a, b) => a.t_ms - b.t_ms);
  const slides = events.filter((e) => e.type === 'slide');
  const chats = events.filter((e) => e.type === 'chat');

  for (const s of [1, 1.25, 1.5, 2]) {
    const b = document.createElement('button');
    b.textContent = s + '×';
    b.onclick = () => {
      audio.playbackRate = s;
      for (const x of $('speeds').children) x.classList.toggle('on', x === b);
    };
    if (s === 1) b.classList.add('on');
    $('speeds').append(b);
  }
  // One button per slide shown, at the first moment it appeared.
  const seen = new Set();
  for (const e of slides) {
    if (seen.has(e.order_no)) continue;
    seen.add(e.order_no);
    const b = document.createElement('button');
    b.textContent = e.order_no;
    b.title = 'Go to slide ' + e.order_no;
    b.onclick = () => { audio.currentTime = e.t_ms / 1000; show(); };
    $('slides').append(b);
  }

  let shownSlide = null, shownChats = -1;
  function show() {
    const now = audio.currentTime * 1000;
    let cur = null;
    for (const e of slides) if (e.t_ms <= now + 1) cur = e; else break;
    if (cur !== shownSlide) {
      shownSlide = cur;
      const box = $('slide');
      $('text').textContent = cur ? cur.text || '' : 'No slide yet.';
      $('num').textContent = cur ? cur.order_no : '';
      box.dataset.order = cur ? cur.order_no : '';
      box.classList.remove('has-image');
      delete box.dataset.imageError;
      const img = $('img');
      if (cur && cur.image) {
        const next = new Image();
        next.src = cur.image;
        // The text stays on screen if the image cannot be shown; data-image-error says which.
        next.decode().then(() => {
          if (shownSlide !== cur) return;
          img.src = next.src;
          box.classList.add('has-image');
        }, () => {
          if (shownSlide === cur) box.dataset.imageError = cur.image;
        });
      } else {
        img.removeAttribute('src');
      }
    }
    let n = 0;
    while (n < chats.length && chats[n].t_ms <= now + 1) n++;
    if (n !== shownChats) {
      shownChats = n;
      const list = $('chat');
      list.replaceChildren(...chats.slice(0, n).map((c) => {
        const li = document.createElement('li');
        const who = document.createElement('b');
        who.textContent = c.user_id + (c.role && c.role !== 'student' ? ' (' + c.role + ')' : '');
        const t = document.createElement('time');
        const s = Math.floor(c.t_ms / 1000);
        t.textContent = ' ' + Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
        const p = document.createElement('p');
        p.textContent = c.text;
        li.append(who, t, p);
        return li;
      }));
      list.scrollTop = list.scrollHeight;
    }
  }
  for (const ev of ['timeupdate', 'seeked', 'seeking', 'loadedmetadata']) audio.addEventListener(ev, show);
  // A link that expired mid-lecture: take a fresh one once and go on from the same place.
  let relinked = false;
  audio.addEventListener('error', async () => {
    const at = audio.currentTime;
    const fresh = relink && !relinked ? await relink() : null;
    if (!fresh) return fail('The audio could not be played.');
    relinked = true;
    audio.src = fresh;
    audio.addEventListener('loadedmetadata', () => { audio.currentTime = at; }, {once: true});
  });
  audio.addEventListener('playing', () => { relinked = false; });
  show();
  window.glPlayer = {show, data};
})();
</script>
</body>
</html>
)GRAMOTHI";

// The page with `timeline_json` inlined, `<` escaped so no text can close the script element.
inline std::string player_page(const std::string &timeline_json) {
  std::string safe;
  for (char c : timeline_json)
    safe += c == '<' ? std::string("\\u003c") : std::string(1, c);
  std::string page = kPlayerHtml;
  page.replace(page.find("__GRAMOTHI_TIMELINE__"), strlen("__GRAMOTHI_TIMELINE__"), safe);
  return page;
}

}  // namespace gramothi
