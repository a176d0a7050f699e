// End-to-end: the teacher and student pages in real Chromium, against the real server (lite
// listener transport, webrtcbin publisher), the real slide worker and a real coturn.
// Started by tests/e2e/run inside private network namespaces; see there.
import {test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {spawn, execFileSync} from 'node:child_process';
import {createHmac} from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {chromium} from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = process.env.GRAMOTHI_SOURCE_ROOT || path.resolve(here, '../..');
const bin = process.env.GRAMOTHI_BIN || path.join(root, 'build/core/gramothi');
const pluginDir = process.env.GRAMOTHI_PLUGIN_DIR || path.join(root, 'build/plugins');
const worker = process.env.GRAMOTHI_SLIDE_WORKER || path.join(root, 'build/slides/gramothi-slide-worker');
const farNetns = process.env.GRAMOTHI_E2E_FAR_NETNS;
const artifacts = path.join(root, 'test-artifacts', 'e2e');
const host = '10.77.1.1';
const secret = 'e2e-jwt-secret-0123456789abcdef-0123';
const turnSecret = 'e2e-turn-secret-0123456789';
const classId = 'e2e-physics';
const toneHz = 440;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gramothi-e2e-'));
const procs = [];
let base = '';
let browser = null, farBrowser = null;
const pages = {};  // teacher, near, relay, far
const dialogs = [];

// ---- helpers ----

function b64url(s) {
  return Buffer.from(s).toString('base64url');
}
// A token as the school's backend issues it: granted `classes` (by default the test's class),
// taught by teachers, attended by students.
function token(user, role, classes = [classId]) {
  const head = b64url(JSON.stringify({alg: 'HS256', typ: 'JWT'}));
  const grant = role === 'student' ? {classes} : {teaches: classes};
  const body = b64url(JSON.stringify({sub: user, role, exp: Math.floor(Date.now() / 1000) + 7200, ...grant}));
  const sig = createHmac('sha256', secret).update(head + '.' + body).digest('base64url');
  return head + '.' + body + '.' + sig;
}
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, host, () => {
      const {port} = s.address();
      s.close(() => resolve(port));
    });
  });
}
function start(cmd, args, logName, opts = {}) {
  const log = fs.openSync(path.join(dir, logName), 'a');
  const p = spawn(cmd, args, {stdio: ['ignore', opts.pipe ? 'pipe' : log, log], ...opts});
  procs.push(p);
  return p;
}
// A sine tone WAV for Chromium's fake microphone (it loops the file).
function toneWav(file, hz, seconds) {
  const rate = 48000, n = rate * seconds;
  const b = Buffer.alloc(44 + n * 2);
  b.write('RIFF', 0);
  b.writeUInt32LE(36 + n * 2, 4);
  b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36);
  b.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++)
    b.writeInt16LE(Math.round(Math.sin((2 * Math.PI * hz * i) / rate) * 12000), 44 + i * 2);
  fs.writeFileSync(file, b);
}
// A small lecture PDF: every page has a coloured band, a title "Slide N" and a line of text.
function deckPdf(file, pages) {
  const objs = [];
  const add = (s) => objs.push(s) && objs.length;
  const catalog = add('');  // 1, filled below
  const pagesObj = add('');  // 2
  const font = add('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>');
  const kids = [];
  const colours = ['0.85 0.2 0.2', '0.2 0.5 0.85', '0.2 0.65 0.3', '0.9 0.6 0.1', '0.5 0.3 0.7'];
  for (let i = 1; i <= pages; i++) {
    const text = `${colours[i % colours.length]} rg 0 480 720 60 re f 0 0 0 rg BT /F1 40 Tf 60 400 Td ` +
                 `(Slide ${i}) Tj ET BT /F1 22 Tf 60 330 Td (Photosynthesis part ${i}: light to sugar) Tj ET`;
    const content = add(`<< /Length ${text.length} >>\nstream\n${text}\nendstream`);
    kids.push(add(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 720 540] /Resources << /Font << /F1 ${font} 0 R >> >> /Contents ${content} 0 R >>`));
  }
  objs[catalog - 1] = '<< /Type /Catalog /Pages 2 0 R >>';
  objs[pagesObj - 1] = `<< /Type /Pages /Kids [${kids.map((k) => k + ' 0 R').join(' ')}] /Count ${pages} >>`;
  let out = '%PDF-1.4\n';
  const offsets = [];
  objs.forEach((o, i) => {
    offsets.push(Buffer.byteLength(out));
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out);
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n` +
         offsets.map((o) => String(o).padStart(10, '0') + ' 00000 n \n').join('') +
         `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  fs.writeFileSync(file, out);
}
async function api(method, p, user, role, body) {
  // Paths under /api/v1/streaming, or absolute ones (/api/v1/recordings/...).
  const url = base + (p.startsWith('/api/') ? p : '/api/v1/streaming' + p);
  const r = await fetch(url, {
    method, headers: {Authorization: 'Bearer ' + token(user, role), 'Content-Type': 'application/json'},
    body: body && JSON.stringify(body)});
  return {status: r.status, json: await r.json().catch(() => null)};
}

// The pages are served over plain http on a test address, which the browser is told to treat
// as secure (microphone access needs a secure origin; deployments use https).
const chromeFlags = (userDir, wav) => [
  `--unsafely-treat-insecure-origin-as-secure=${base}`,
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--remote-debugging-pipe', `--user-data-dir=${userDir}`, '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream', `--use-file-for-fake-audio-capture=${wav}`,
  '--autoplay-policy=no-user-gesture-required', '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns', 'about:blank'];

async function openPage(b, name, url) {
  const context = await b.newContext({viewport: {width: 360, height: 740}, deviceScaleFactor: 2,
                                      isMobile: true, hasTouch: true,
                                      permissions: name === 'teacher' ? ['microphone'] : []});
  const page = await context.newPage();
  page.on('dialog', (d) => {
    if (d.type() === 'confirm') return d.accept();
    dialogs.push(name + ': ' + d.type() + ' ' + d.message());
    return d.dismiss();
  });
  page.on('pageerror', (e) => console.log(`[${name}] page error: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && console.log(`[${name}] console: ${m.text()}`));
  if (process.env.GRAMOTHI_E2E_TRACE)  // every WebSocket message, for debugging
    page.on('websocket', (ws) => {
      ws.on('framereceived', (f) => console.log(`[${name}] <- ${String(f.payload).slice(0, 160)}`));
      ws.on('framesent', (f) => console.log(`[${name}] -> ${String(f.payload).slice(0, 160)}`));
    });
  await page.goto(url);
  pages[name] = page;
  return page;
}

// Listens to the page's received audio for up to `ms`: its level, and the loudest frequency.
function hearsTone(page, ms = 20000) {
  return page.evaluate(async ([ms, hz]) => {
    const a = document.querySelector('#audio');
    const ctx = new AudioContext();
    const an = ctx.createAnalyser();
    an.fftSize = 8192;
    ctx.createMediaStreamSource(a.srcObject).connect(an);
    const f = new Float32Array(an.frequencyBinCount), t = new Float32Array(an.fftSize);
    const end = Date.now() + ms;
    let last = {};
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, 250));
      an.getFloatFrequencyData(f);
      an.getFloatTimeDomainData(t);
      let peak = 0;
      for (let i = 1; i < f.length; i++) if (f[i] > f[peak]) peak = i;
      const sorted = Array.from(f).sort((x, y) => x - y);
      let rms = 0;
      for (const v of t) rms += v * v;
      last = {peakHz: (peak * ctx.sampleRate) / an.fftSize, peakDb: f[peak],
              medianDb: sorted[sorted.length >> 1], rms: Math.sqrt(rms / t.length)};
      if (last.rms > 0.01 && Math.abs(last.peakHz - hz) < 15 && last.peakDb - last.medianDb > 30) {
        ctx.close();
        return {ok: true, ...last};
      }
    }
    ctx.close();
    return {ok: false, ...last};
  }, [ms, toneHz]);
}
// What a page shows, for failure messages: the live pages' status line and state, or the
// player's slide, image and audio. Runs in the page; only reads what is there.
function pageState() {
  const $ = (s) => document.querySelector(s);
  const text = (s) => $(s) && $(s).textContent;
  const audio = $('#audio');
  const ranges = (r) => r && Array.from({length: r.length}, (_, i) => [r.start(i), r.end(i)]);
  const slide = $('#slide'), img = slide && slide.querySelector('img');
  return JSON.stringify({
    url: location.protocol + '//' + location.host + location.pathname,
    status: text('#status'),
    error: $('#error') && !$('#error').hidden ? text('#error') : undefined,
    student: window.glStudent && {conn: window.glStudent.conn, media: window.glStudent.media},
    teacher: window.glTeacher && {conn: window.glTeacher.conn, live: window.glTeacher.live,
                                  mic: !!window.glTeacher.mic,
                                  pc: window.glTeacher.pc && window.glTeacher.pc.connectionState},
    level: $('#level i') ? $('#level i').style.width : undefined,
    slide: slide && {order: slide.dataset.order, state: slide.dataset.state, class: slide.className,
                     img: img && {src: img.getAttribute('src'), complete: img.complete, width: img.naturalWidth},
                     imageError: slide.dataset.imageError},
    audio: audio && {src: (audio.currentSrc || '').slice(0, 120), currentTime: audio.currentTime,
                     duration: audio.duration, readyState: audio.readyState,
                     networkState: audio.networkState, paused: audio.paused, seeking: audio.seeking,
                     seekable: ranges(audio.seekable), buffered: ranges(audio.buffered),
                     error: audio.error && {code: audio.error.code, message: audio.error.message}},
  });
}
// page.waitForFunction that, on a timeout, says what the page showed.
async function waitFor(page, fn, arg, ms, what) {
  try {
    await page.waitForFunction(fn, arg, {timeout: ms, polling: 20});
  } catch (e) {
    const seen = await page.evaluate(pageState).catch((x) => 'page gone: ' + x.message);
    throw new Error(`${what}: not within ${ms} ms; the page showed ${seen}`);
  }
}
const studentState = (page) => page.evaluate(() => ({
  conn: window.glStudent.conn, media: window.glStudent.media, profile: window.glStudent.profile}));
async function waitConnected(page, ms, name = '') {
  await waitFor(page,
      () => window.glStudent && window.glStudent.conn === 'open' && window.glStudent.media === 'connected' &&
            document.querySelector('#audio').srcObject,
      null, ms, name + ' audio connected');
}
// The local candidate type of the pair the page's audio flows on.
const pathType = (page) => page.evaluate(async () => {
  const stats = await window.glStudent.pc.getStats();
  let pair = null;
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  return pair ? stats.get(pair.localCandidateId).candidateType : 'none';
});
async function shot(page, name) {
  fs.mkdirSync(artifacts, {recursive: true});
  await page.screenshot({path: path.join(artifacts, name + '.png'), fullPage: true});
}

// ---- the class ----

before(async () => {
  fs.rmSync(artifacts, {recursive: true, force: true});
  const wav = path.join(dir, 'tone.wav');
  toneWav(wav, toneHz, 10);
  deckPdf(path.join(dir, 'deck.pdf'), 6);

  const turnPort = await freePort();
  fs.writeFileSync(path.join(dir, 'turndb'), '');
  start('turnserver', ['-n', `--listening-ip=${host}`, `--relay-ip=${host}`,
                       `--listening-port=${turnPort}`, '--min-port=49200', '--max-port=49400',
                       '--use-auth-secret', `--static-auth-secret=${turnSecret}`, '--realm=e2e.test',
                       '--no-tls', '--no-dtls', '--no-cli', '--allow-loopback-peers', '--fingerprint',
                       `--userdb=${path.join(dir, 'turndb')}`, `--pidfile=${path.join(dir, 'turn.pid')}`,
                       `--log-file=${path.join(dir, 'turn.log')}`, '--simple-log'],
        'turn.out');

  fs.writeFileSync(path.join(dir, 'gramothi.ini'), `[server]
listen_address = ${host}
port = 0
[storage]
data_dir = ${dir}/data
[auth]
jwt_secret = ${secret}
[media]
ice_addresses = ${host}
[ice]
turn_urls = turn:${host}:${turnPort}?transport=udp
turn_shared_secret = ${turnSecret}
[slides]
worker = ${worker}
[web]
dir = ${root}/web
[plugins]
load = rest;signaling;recording
dir = ${pluginDir}
`);
  const server = start(bin, ['serve', '--config', path.join(dir, 'gramothi.ini')], 'server.log',
                       {pipe: true});
  base = await new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('the server did not start: ' + text)), 20000);
    server.stdout.on('data', (d) => {
      text += d;
      const m = /is listening on (http:\/\/[^/\s]+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    server.on('exit', (c) => reject(new Error('the server exited with ' + c)));
  });
  server.stdout.on('data', () => {});

  const launch = (name, executablePath) => chromium.launch({
    executablePath, ignoreDefaultArgs: true, timeout: 60000,
    args: chromeFlags(path.join(dir, 'chrome-' + name), wav)});
  browser = await launch('near', '/usr/bin/chromium');
  farBrowser = await launch('far', path.join(here, 'chromium-far'));
});

after(async () => {
  for (const b of [browser, farBrowser]) await b?.close().catch(() => {});
  for (const p of procs) p.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  if (process.env.GRAMOTHI_E2E_KEEP) console.log('logs kept in ' + dir);
  else fs.rmSync(dir, {recursive: true, force: true});
});

test('a teacher prepares a deck, speaks, and three students hear the tone, one only through TURN', async () => {
  const who = {near: 'student-asha', relay: 'student-ravi', far: 'student-meera'};
  const url = (name) => `${base}/class/${classId}` + (name === 'relay' ? '?relay=1' : '') +
                        `#token=${token(who[name], 'student')}`;
  // Before class: the teacher uploads the deck, which creates the class (not live yet).
  const teacher = await openPage(browser, 'teacher', `${base}/teach/${classId}#token=${token('teacher-ada', 'teacher')}`);
  await waitFor(teacher, () => window.glTeacher.conn === 'missing', null, 20000, 'a new class');
  await teacher.setInputFiles('#deck', path.join(dir, 'deck.pdf'));
  await teacher.click('#upload');
  await waitFor(teacher, () => /6 slides ready/.test(document.querySelector('#deck-status').textContent),
                null, 30000, 'the deck rendered');
  await waitFor(teacher, () => document.querySelectorAll('#thumbs button').length === 6, null, 20000, 'thumbnails');
  await waitFor(teacher, () => window.glTeacher.conn === 'open', null, 20000, 'the teacher\'s socket');

  // One student is early: she sees page 1, taps Join and waits for the class to start.
  const early = await openPage(browser, 'near', url('near'));
  await waitFor(early, () => document.querySelector('#slide').dataset.state === 'image', null, 20000, 'slide 1');
  await early.click('#join');
  await waitFor(early, () => /as soon as the class starts/.test(document.querySelector('#status').textContent),
                null, 20000, 'waiting for the class');

  await teacher.click('#start');  // starts the class and switches the microphone on
  await waitFor(teacher, () => window.glTeacher.pc && window.glTeacher.pc.connectionState === 'connected',
                null, 30000, 'the teacher\'s microphone connected');
  await waitFor(teacher, () => /Recording this class/.test(document.querySelector('#rec').textContent), null,
                20000, 'the teacher sees that the class is recorded');
  await Promise.all([openPage(browser, 'relay', url('relay')), openPage(farBrowser, 'far', url('far'))]);
  for (const name of ['relay', 'far']) {
    const p = pages[name];
    await p.waitForSelector('#join:not([disabled])', {timeout: 20000});
    await p.click('#join');
  }
  await Promise.all(['near', 'relay', 'far'].map((n) => waitConnected(pages[n], 30000, n)));

  for (const name of ['near', 'relay', 'far']) {
    const heard = await hearsTone(pages[name]);
    assert.ok(heard.ok, `${name} should hear the ${toneHz} Hz tone: ${JSON.stringify(heard)}`);
    // The page's own level meter rises. It shows the last 10 ms, 10 times a second, and the
    // tone comes and goes: the teacher's browser processes the microphone (noise suppression,
    // gain control, echo cancellation) and passes a steady tone at about 10-30 % on this meter,
    // with gaps of silence (0 %) of up to a second. So wait until it reads the tone, rather
    // than sample a fixed window.
    await waitFor(pages[name], () => (parseFloat(document.querySelector('#level i').style.width) || 0) > 5,
                  null, 20000, `${name}'s level meter rises`);
  }
  assert.equal(await pathType(pages.relay), 'relay', 'the relay-only student goes through coturn');
  assert.notEqual(await pathType(pages.near), 'relay', 'the others connect directly');

  await teacher.waitForFunction(
      (ids) => ids.every((id) => {
        const row = document.querySelector(`#people tr[data-user="${id}"]`);
        return row && /ms/.test(row.lastChild.textContent);
      }),
      Object.values(who), {timeout: 30000});
  const rows = await teacher.$$eval('#people tr', (trs) => trs.map((t) => t.dataset.user));
  assert.deepEqual(rows.sort(), Object.values(who).sort());
  assert.match(await teacher.textContent('#count'), /^3 listening/);
});

test('the teacher moves slides: every student follows within 1 s, at their own quality', async () => {
  const teacher = pages.teacher;
  const students = ['near', 'relay', 'far'].map((n) => pages[n]);
  for (const p of students)
    await waitFor(p, () => document.querySelector('#slide').dataset.order === '1', null, 20000, 'slide 1');

  const listing = (await api('GET', `/slides/${classId}`, 'student-asha', 'student')).json;
  // Each student picks a quality (the pin holds it still, so the test knows which image to expect).
  const chosen = ['ultra-low', 'low', 'medium'];
  for (const [i, p] of students.entries()) {
    await p.selectOption('#profile', chosen[i]);
    await waitFor(p, (want) => window.glStudent.profile === want, chosen[i], 20000, 'pinned ' + chosen[i]);
    // (Students' image URLs carry ?pace=PROFILE: the image's path is what names it.)
    await waitFor(p, (url) => new URL(document.querySelector('#slide img').src).pathname === url &&
                              document.querySelector('#slide').dataset.state === 'image',
                  listing.slides[0].images[chosen[i]].url, 20000, 'slide 1 at ' + chosen[i]);
  }
  for (const [button, target] of [['#next', 2], ['#next', 3], ['#prev', 2]]) {
    // Each student page notes (on the same clock) when the slide's text and its image appear.
    await Promise.all(students.map((p) => p.evaluate((n) => {
      const box = document.querySelector('#slide');
      window.seen = {};
      if (window.seenBy) window.seenBy.disconnect();  // the previous move's
      window.seenBy = new MutationObserver(() => {
        const now = Date.now();
        if (box.dataset.order === String(n) && /Slide/.test(box.querySelector('.text').textContent))
          window.seen.text = window.seen.text || now;
        if (window.seen.text && box.dataset.state === 'image') window.seen.image = window.seen.image || now;
      });
      window.seenBy.observe(box, {attributes: true, subtree: true, childList: true, characterData: true});
    }, target)));
    // The move starts when the teacher's click reaches the page.
    await teacher.evaluate((b) => document.querySelector(b).addEventListener(
        'click', () => (window.clickedAt = Date.now()), {once: true, capture: true}), button);
    await teacher.click(button);
    const t0 = await teacher.evaluate(() => window.clickedAt);
    const slide = listing.slides[target - 1];
    for (const [i, p] of students.entries()) {
      // Waits longer than the 1 s required, so that a slow move fails with its times.
      await waitFor(p, () => window.seen.image, null, 10000, `slide ${target} shown`);
      const seen = await p.evaluate(() => window.seen);
      const profile = chosen[i];
      assert.equal((await studentState(p)).profile, profile);
      const src = await p.$eval('#slide img', (im) => new URL(im.src).pathname);
      assert.equal(src, slide.images[profile].url, `the image of the student's profile (${profile})`);
      const textMs = seen.text - t0, imageMs = seen.image - t0;
      console.log(`student ${i + 1} (${profile}), slide ${target}: text after ${textMs} ms, image after ${imageMs} ms`);
      assert.ok(textMs <= 1000 && imageMs <= 1000, `slide ${target}: text after ${textMs} ms, image after ${imageMs} ms`);
    }
  }
  // The teacher's preview of what a student on the slowest profile (2g) sees.
  await teacher.check('#preview');
  const previewSrc = await teacher.$eval('#slide img', (i) => new URL(i.src).pathname);
  assert.equal(previewSrc, listing.slides[1].images['2g'].url);
  await teacher.uncheck('#preview');
});

test('chat goes both ways, shows markup as text, and a removed message goes everywhere', async () => {
  const xss = '<img src=x onerror=alert(1)>';
  const near = pages.near;
  await near.fill('#chat-text', xss);
  await near.click('#chat-form button');
  // The teacher answers once the question is on her screen (so the order is known).
  await waitFor(pages.teacher, (t) => Array.from(document.querySelectorAll('#messages li p')).some((p) => p.textContent === t),
                xss, 20000, 'the teacher sees the question');
  await pages.teacher.fill('#chat-text', 'Good question, Asha');
  await pages.teacher.press('#chat-text', 'Enter');
  for (const name of ['teacher', 'near', 'relay', 'far']) {
    const p = pages[name];
    await waitFor(p, () => document.querySelectorAll('#messages li').length >= 2, null, 20000, name + ': both messages');
    const texts = await p.$$eval('#messages li p', (ps) => ps.map((x) => x.textContent));
    assert.deepEqual(texts.slice(-2), [xss, 'Good question, Asha'], name);
    assert.equal(await p.$$eval('#messages img', (imgs) => imgs.length), 0, `${name}: no <img> made from chat`);
  }
  await shot(pages.teacher, 'teacher-360x740');
  await shot(pages.near, 'student-360x740');

  const id = await pages.teacher.$eval('#messages li', (li) => li.dataset.id);
  await pages.teacher.click(`#messages li[data-id="${id}"] .x`);
  for (const name of ['teacher', 'near', 'relay', 'far'])
    await waitFor(pages[name], (id) => !document.querySelector(`#messages li[data-id="${id}"]`), id, 20000,
                  name + ': the message removed');
  assert.deepEqual(dialogs, [], 'no script ran from a chat message');
});

test('a student whose network drops resumes without a reload: slide, missed chat, audio', async () => {
  const far = pages.far;
  await far.evaluate(() => (window.notReloaded = true));
  const before = await far.evaluate(() => window.glStudent.pc);
  assert.ok(before !== undefined);
  execFileSync('ip', ['netns', 'exec', farNetns, 'ip', 'link', 'set', 'gle1', 'down']);
  try {
    await waitFor(far, () => window.glStudent.conn !== 'open' || window.glStudent.media !== 'connected', null,
                  30000, 'the far student notices the drop');
    // While it is away: the teacher talks in chat and moves on.
    await pages.teacher.fill('#chat-text', 'Now slide 4, everyone');
    await pages.teacher.press('#chat-text', 'Enter');
    await pages.teacher.fill('#goto', '4');
    await pages.teacher.click('#go');
    await waitFor(pages.near, () => document.querySelector('#slide').dataset.order === '4', null, 20000,
                  'slide 4 at the near student');
    // The far student stays away a little longer (how long the outage lasts; nothing waits on it).
    await new Promise((r) => setTimeout(r, 3000));
  } finally {
    execFileSync('ip', ['netns', 'exec', farNetns, 'sh', '-c',
                        'ip link set gle1 up && (ip route add default via 10.77.0.1 || true)']);
  }
  const t0 = Date.now();
  await waitConnected(far, 60000);
  console.log(`far student back after ${Date.now() - t0} ms`);
  assert.equal(await far.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
  // What it missed comes with the new connection (or late over the old one, when TCP outlived
  // the outage): wait for it rather than expect it with the audio.
  await waitFor(far, () => document.querySelector('#slide').dataset.order === '4', null, 30000,
                'the far student is on slide 4');
  await waitFor(far, () => Array.from(document.querySelectorAll('#messages li p')).some(
                           (p) => p.textContent === 'Now slide 4, everyone'),
                null, 30000, 'the missed chat message arrived').catch(async (e) => {
    const texts = await far.$$eval('#messages li p', (ps) => ps.map((x) => x.textContent));
    throw new Error(e.message + '; messages: ' + texts.join(' | '));
  });
  const heard = await hearsTone(far);
  assert.ok(heard.ok, 'audio again after the drop: ' + JSON.stringify(heard));
  await shot(far, 'student-after-reconnect-360x740');
});

test('the teacher ends the class and every student is told', async () => {
  await pages.teacher.click('#stop');
  for (const name of ['near', 'relay', 'far'])
    await waitFor(pages[name], () => /ended/.test(document.querySelector('#status').textContent), null, 30000,
                  name + ' is told the class ended');
  await shot(pages.near, 'student-class-ended-360x740');
});

test('the recorded class plays back offline from its package and online, seeking moves the slides', async () => {
  // The class above was recorded (the default). A student who attended downloads the package,
  // once the recording is final (a moment after the class; longer on a busy machine).
  let list;
  for (const until = Date.now() + 60000; ;) {
    list = (await api('GET', `/api/v1/recordings/${classId}`, 'student-asha', 'student')).json;
    if (list && list.recordings && list.recordings[0] && list.recordings[0].state === 'complete') break;
    if (Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const rec = list.recordings[0];
  assert.equal(rec.state, 'complete', JSON.stringify(list));
  // The student page offers it after the class.
  await waitFor(pages.near, () => document.querySelectorAll('#rec-list a').length >= 2, null, 30000,
                'the student page links the recording');
  const stranger = await fetch(`${base}/api/v1/recordings/${classId}`,
                               {headers: {Authorization: 'Bearer ' + token('student-nobody', 'student', ['other'])}});
  assert.equal(stranger.status, 403, 'students without a grant for the class may not');
  const timeline = (await api('GET', `/api/v1/recordings/${rec.recording_id}/timeline`, 'student-asha', 'student')).json;
  const slides = timeline.events.filter((e) => e.type === 'slide');
  assert.ok(slides.length >= 4, 'the moves are in the timeline: ' + JSON.stringify(slides.map((x) => x.order_no)));
  console.log('slides at ' + slides.map((x) => `${x.t_ms} ms: ${x.order_no}`).join(', ') +
              `; duration ${rec.duration_ms} ms`);
  // Where to seek to see slide event i: the middle of its time on screen. The moves in the
  // class above can be a fraction of a second apart (students follow within tens of ms).
  const during = (i) => Math.round((slides[i].t_ms + (slides[i + 1] ? slides[i + 1].t_ms : rec.duration_ms)) / 2);
  // The slide on screen at `t_ms` of the recording: the last one shown at or before it.
  const slideAt = (t) => (slides.filter((e) => e.t_ms <= t).pop() || {order_no: ''}).order_no;

  const r = await fetch(`${base}/api/v1/recordings/${rec.recording_id}/package?profile=ultra-low`,
                        {headers: {Authorization: 'Bearer ' + token('student-asha', 'student')}});
  assert.equal(r.status, 200);
  const zip = Buffer.from(await r.arrayBuffer());
  const unpacked = path.join(dir, 'package');
  fs.mkdirSync(unpacked);
  fs.writeFileSync(path.join(dir, 'package.zip'), zip);
  execFileSync('bsdtar', ['-xf', path.join(dir, 'package.zip'), '-C', unpacked]);
  console.log(`package: ${zip.length} bytes, files: ${fs.readdirSync(unpacked).join(' ')}`);

  // Offline: the unpacked index.html straight from disk, no server involved.
  const context = await browser.newContext({viewport: {width: 360, height: 740}, isMobile: true});
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`[offline] page error: ${e.message}`));
  await page.goto('file://' + path.join(unpacked, 'index.html'));
  await waitFor(page, () => window.glPlayer && document.querySelector('#audio').readyState >= 1, null, 20000,
                'the offline player loaded its audio');
  // The audio's own clock is the timeline's: it starts at 0 and lasts as long as the class.
  const clock = await page.evaluate(() => {
    const a = document.querySelector('#audio');
    return {start: a.currentTime, duration: a.duration};
  });
  assert.ok(clock.start < 0.2 && Math.abs(clock.duration * 1000 - rec.duration_ms) < 1000,
            `the audio runs from 0 for ${rec.duration_ms} ms: ${JSON.stringify(clock)}`);
  const seekTo = async (p, ms) => p.evaluate((t) => {
    const a = document.querySelector('#audio');
    a.currentTime = t / 1000;
    window.glPlayer.show();
  }, ms);
  const showsSlide = (n) => document.querySelector('#slide').dataset.order === String(n) &&
                            document.querySelector('#slide').classList.contains('has-image');
  for (const i of [1, slides.length - 1]) {
    const t = during(i);
    await seekTo(page, t);
    await waitFor(page, showsSlide, slideAt(t), 20000, `offline: slide ${slideAt(t)} after seeking to ${t} ms`);
  }
  await seekTo(page, 0);
  await waitFor(page, (n) => document.querySelector('#slide').dataset.order === String(n), slideAt(0), 20000,
                'offline: back to the first slide');
  // Chat appears at its time: none at 0, all of it at the end.
  const chats = timeline.events.filter((e) => e.type === 'chat');
  assert.equal(await page.$$eval('#chat li', (l) => l.length), chats.filter((c) => c.t_ms <= 1).length);
  await seekTo(page, rec.duration_ms - 100);
  await waitFor(page, (n) => document.querySelectorAll('#chat li').length === n, chats.length, 20000,
                'offline: the chat up to the end');
  assert.equal(await page.$$eval('#chat img', (i) => i.length), 0, 'chat text stays text');
  // It plays: from the first move on, the audio's time advances.
  const from = during(1);
  await seekTo(page, from);
  await page.evaluate(() => document.querySelector('#audio').play());
  await waitFor(page, (t) => document.querySelector('#audio').currentTime > t + 0.3 || document.querySelector('#audio').ended,
                from / 1000, 20000, 'offline: the audio plays');
  await page.evaluate(() => document.querySelector('#audio').pause());
  await seekTo(page, during(1));
  await waitFor(page, showsSlide, slideAt(during(1)), 20000, 'offline: the slide for the screenshot');
  await shot(page, 'player-offline-360x740');

  // Online: /recordings/{id}, the audio fetched in ranges.
  const ranges = [];
  const urls = [];
  page.on('request', (req) => urls.push(req.url()));
  page.on('response', (res) => res.url().includes('/audio') && ranges.push(res.status()));
  await page.goto(`${base}/recordings/${rec.recording_id}#token=${token('student-asha', 'student')}`);
  await waitFor(page, () => window.glPlayer && document.querySelector('#audio').readyState >= 1, null, 20000,
                'the online player loaded');
  const t = during(slides.length - 1);
  await seekTo(page, t);
  await waitFor(page, showsSlide, slideAt(t), 20000, 'online: the last slide after seeking');
  assert.ok(ranges.includes(206), 'the audio came in range requests: ' + ranges);
  assert.ok(!page.url().includes('token='), 'the token is taken out of the address bar');
  assert.ok(urls.every((u) => !/[?&]token=/.test(u)), 'no request carried the token in its URL: ' +
            urls.filter((u) => /[?&]token=/.test(u)).join(' '));
  await context.close();
});
