// A class heard over an emulated slow link, measured from outside: the real server, a teacher in
// Chromium speaking (espeak-ng speech with pauses as its fake microphone) on a clean link, and a
// student in Chromium behind the link that tests/rural/emulated-link builds (this runs in its
// server namespace). The teacher moves a slide every --move-every seconds over REST.
//
//   node rural.mjs --mode short|bench [--seconds N] [--move-every S] [--pin PROFILE]
//                  [--pin-seconds N] [--pdf FILE] [--label TEXT] [--samples FILE]
//   node rural.mjs --summarize FILE     (the JSON lines of bench/run-rural as a table)
//
// First the link itself is measured with tests/rural/link_probe (round trip, loss each way, rate
// each way, the downstream queue). Then the student joins, and its page is read every 100 ms
// (RTCPeerConnection.getStats(): inbound-rtp audio) for --seconds from the tap on Join:
//   - concealed %: concealedSamples / totalSamplesReceived over the window (what NetEq made up
//     because packets were missing or late), also without the silent part;
//   - the longest concealment: consecutive 100 ms polls with concealment, joined while no new
//     concealment event starts (concealmentEvents), in ms. An upper bound within one poll;
//   - audio loss (packetsLost, packetsReceived), jitter, time without audio at all;
//   - the profile over time (the server's profile-changed messages, seen on the page's socket);
//   - each slide move: when its text, its preview (the slowest profiles, where the image was not
//     prefetched) and its image appeared on the student page, from the REST call (same machine
//     clock); and when the slide on screen at the page's opening showed its preview and image;
//   - bytes on the student's wire (its veth's counters, Ethernet frames both ways), per hour;
//   - socket closes and media sessions of the student page.
// --pin PROFILE pins the student for --pin-seconds (default: half the window), then sets it back
// to automatic and reports how long until audio came back (a second with < 10 % concealed).
//
// One JSON line on stdout at the end; progress on stderr. --mode short also asserts behaviour
// (not timing targets): the link measures near what was asked, audio reaches the student, the
// socket survives, a slide move reaches the student (text, and its image eventually), the first
// slide shows its preview before its image; exit 1 if not.
import assert from 'node:assert/strict';
import {spawn, execFileSync} from 'node:child_process';
import {createHmac} from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import {fileURLToPath, pathToFileURL} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = process.env.GRAMOTHI_SOURCE_ROOT || path.resolve(here, '../..');

function pct(v, p) {
  const s = v.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.round(p * (s.length - 1)))] : null;
}
function round(x, d = 1) {
  return x === null || x === undefined || !isFinite(x) ? null : Number(x.toFixed(d));
}

// ---- options ----
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf('--' + name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};
if (argv.includes('--summarize')) {
  summarize(opt('summarize'));
  process.exit(0);
}
const mode = opt('mode', 'bench');
if (!['short', 'bench'].includes(mode)) throw new Error('--mode is short or bench');
const seconds = Number(opt('seconds', mode === 'short' ? 30 : 180));
const moveEvery = Number(opt('move-every', 30));
const pin = opt('pin', '');
const pinSeconds = Number(opt('pin-seconds', seconds / 2));
const pdfArg = opt('pdf', '');
const label = opt('label', '');
const samplesFile = opt('samples', '');  // every poll of the student page, as JSON, for a closer look

const env = process.env;
const need = (k) => {
  if (!env[k]) throw new Error(`${k} is not set: run this under tests/rural/emulated-link`);
  return env[k];
};
const link = {
  profile: need('GRAMOTHI_LINK_PROFILE'), rate_kbit: Number(need('GRAMOTHI_LINK_RATE_KBIT')),
  rtt_ms: Number(need('GRAMOTHI_LINK_RTT_MS')), loss_pct: Number(need('GRAMOTHI_LINK_LOSS_PCT')),
  queue_ms: Number(need('GRAMOTHI_LINK_QUEUE_MS')),
  delay_down_ms: Number(need('GRAMOTHI_LINK_DELAY_DOWN_MS')),
  delay_up_ms: Number(need('GRAMOTHI_LINK_DELAY_UP_MS')),
};
const studentNs = need('GRAMOTHI_LINK_STUDENT_NETNS');
const middleNs = need('GRAMOTHI_LINK_MIDDLE_NETNS');
const host = need('GRAMOTHI_LINK_SERVER_ADDR');
const studentAddr = need('GRAMOTHI_LINK_STUDENT_ADDR');
const studentIf = need('GRAMOTHI_LINK_STUDENT_IF');
const buildDir = path.join(root, 'build');
const bin = env.GRAMOTHI_BIN || path.join(buildDir, 'core/gramothi');
const pluginDir = env.GRAMOTHI_PLUGIN_DIR || path.join(buildDir, 'plugins');
const worker = env.GRAMOTHI_SLIDE_WORKER || path.join(buildDir, 'slides/gramothi-slide-worker');
const probeBin = env.GRAMOTHI_LINK_PROBE || path.join(buildDir, 'tests/link_probe');
const {chromium} = await import(
    pathToFileURL(path.join(root, 'tests/e2e/node_modules/playwright-core/index.mjs')).href);

const secret = 'rural-jwt-secret-0123456789abcdef-0123';
const classId = 'rural-class';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gramothi-rural-'));
const procs = [];
const log = (...a) => console.error(`[rural ${link.profile} ${((Date.now() - t00) / 1000).toFixed(1)}s]`, ...a);
const t00 = Date.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- helpers ----
function token(user, role) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = b64({alg: 'HS256', typ: 'JWT'});
  const grant = role === 'student' ? {classes: [classId]} : {teaches: [classId]};
  const body = b64({sub: user, role, exp: Math.floor(Date.now() / 1000) + 7200, ...grant});
  return head + '.' + body + '.' + createHmac('sha256', secret).update(head + '.' + body).digest('base64url');
}
function start(cmd, args, logName, opts = {}) {
  const out = fs.openSync(path.join(dir, logName), 'a');
  const p = spawn(cmd, args, {stdio: ['ignore', opts.pipe ? 'pipe' : out, out], ...opts});
  procs.push(p);
  return p;
}
// Runs a command to its end; resolves with its stdout. `ready` (optional) resolves once the
// command has said "ready" on stderr.
function run(cmd, args, {onReady} = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, {stdio: ['ignore', 'pipe', 'pipe']});
    let out = '', err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => {
      err += d;
      if (onReady && /ready/.test(err)) {
        onReady();
        onReady = null;
      }
    });
    p.on('error', reject);
    p.on('exit', (code) => code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err}${out}`)));
  });
}
const inStudentNs = (cmd, args) => ['ip', ['netns', 'exec', studentNs, cmd, ...args]];
async function api(method, p, user, role, body, type = 'application/json') {
  const r = await fetch(base + '/api/v1/streaming' + p, {
    method, headers: {Authorization: 'Bearer ' + token(user, role), 'Content-Type': type},
    body: body === undefined ? undefined : (type === 'application/json' ? JSON.stringify(body) : body)});
  return {status: r.status, json: await r.json().catch(() => null)};
}
async function until(what, ms, fn, every = 100) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(every);
  }
}

// The teacher's voice: espeak-ng reading a short lesson with pauses between sentences (the
// way a teacher talks), resampled to 48 kHz for Chromium's fake microphone, which loops it.
function speechWav(file) {
  const sentences = [
    'Good morning, class. Today we talk about how plants make their food.',
    'Look at the first picture on your slide.',
    'The leaf takes in light from the sun, water from the roots, and air through small holes.',
    'Inside the leaf, the green parts called chlorophyll catch the light.',
    'With that energy the plant turns water and carbon dioxide into sugar.',
    'Oxygen goes out into the air. That is the air we breathe.',
    'Now, can anyone tell me why leaves are green? Think about it for a moment.',
    'Write your answer in the chat, and we will read a few of them together.',
  ];
  const pauses = [1200, 800, 2000, 600, 1500, 1000, 3000, 1800];
  const ssml = '<speak>' + sentences.map((s, i) => `${s} <break time="${pauses[i]}ms"/>`).join(' ') + '</speak>';
  const raw = path.join(dir, 'speech-espeak.wav');
  execFileSync('espeak-ng', ['-m', '-s', '140', '-v', 'en', '-w', raw, ssml]);
  const b = fs.readFileSync(raw);
  let off = 12, rate = 22050, data = null;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4), size = b.readUInt32LE(off + 4);
    if (id === 'fmt ') rate = b.readUInt32LE(off + 12);
    if (id === 'data') {
      data = b.subarray(off + 8, Math.min(b.length, off + 8 + (size || b.length)));
      break;
    }
    off += 8 + size + (size & 1);
  }
  if (!data) throw new Error('espeak-ng wrote no audio');
  const inN = data.length >> 1, outRate = 48000, outN = Math.floor((inN * outRate) / rate);
  const out = Buffer.alloc(44 + outN * 2);
  out.write('RIFF', 0);
  out.writeUInt32LE(36 + outN * 2, 4);
  out.write('WAVEfmt ', 8);
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(1, 20);
  out.writeUInt16LE(1, 22);
  out.writeUInt32LE(outRate, 24);
  out.writeUInt32LE(outRate * 2, 28);
  out.writeUInt16LE(2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36);
  out.writeUInt32LE(outN * 2, 40);
  for (let i = 0; i < outN; i++) {
    const x = (i * rate) / outRate, j = Math.floor(x), f = x - j;
    const a = data.readInt16LE(2 * Math.min(j, inN - 1)), c = data.readInt16LE(2 * Math.min(j + 1, inN - 1));
    out.writeInt16LE(Math.round(a + (c - a) * f), 44 + i * 2);
  }
  fs.writeFileSync(file, out);
  return outN / outRate;
}

// A lecture deck: every page a title, two lines of text and a photo-like picture (smooth colour
// fields with noise, as a camera picture has), so slide images weigh what real ones do.
function deckPdf(file, pages) {
  const objs = [];
  const add = (s) => objs.push(s) && objs.length;
  add('');  // 1 catalog
  add('');  // 2 pages
  const font = add('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>');
  const kids = [];
  let seed = 12345;
  for (let p = 1; p <= pages; p++) {
    const w = 320, h = 240, px = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        const noise = ((seed >>> 16) % 40) - 20, c = (v) => Math.max(0, Math.min(255, Math.round(v + noise)));
        const i = (y * w + x) * 3;
        px[i] = c(128 + 100 * Math.sin(x / (20 + p * 3)));
        px[i + 1] = c(128 + 100 * Math.cos(y / (15 + p * 2)));
        px[i + 2] = c(((x + y) * 255) / (w + h));
      }
    const img = zlib.deflateSync(px);
    const image = add(`<< /Type /XObject /Subtype /Image /Width ${w} /Height ${h} /ColorSpace /DeviceRGB ` +
                      `/BitsPerComponent 8 /Filter /FlateDecode /Length ${img.length} >>\nstream\n` +
                      img.toString('latin1') + '\nendstream');
    const text = `BT /F1 36 Tf 40 480 Td (Slide ${p}: how plants eat) Tj ET ` +
                 `BT /F1 20 Tf 40 430 Td (Light, water and air become sugar, part ${p}) Tj ET ` +
                 `BT /F1 20 Tf 40 400 Td (Chlorophyll catches the light) Tj ET ` +
                 `q 400 0 0 300 280 40 cm /Im1 Do Q`;
    const content = add(`<< /Length ${text.length} >>\nstream\n${text}\nendstream`);
    kids.push(add(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 720 540] /Resources << /Font << /F1 ${font} 0 R >> ` +
                  `/XObject << /Im1 ${image} 0 R >> >> /Contents ${content} 0 R >>`));
  }
  objs[0] = '<< /Type /Catalog /Pages 2 0 R >>';
  objs[1] = `<< /Type /Pages /Kids [${kids.map((k) => k + ' 0 R').join(' ')}] /Count ${pages} >>`;
  let out = '%PDF-1.4\n';
  const offsets = [];
  objs.forEach((o, i) => {
    offsets.push(Buffer.byteLength(out, 'latin1'));
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n` +
         offsets.map((o) => String(o).padStart(10, '0') + ' 00000 n \n').join('') +
         `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  fs.writeFileSync(file, Buffer.from(out, 'latin1'));
}

// ---- the link, measured ----
async function measureLink(short) {
  const m = {};
  const port = 47000 + (process.pid % 1000);
  // Round trip and loss each way: probes from the student side, echoed by the server side.
  // Small probes (16 bytes of payload, 58 on the wire) at 40/s stay well under every rate.
  const count = short ? 200 : 400;
  let ready;
  const echoUp = new Promise((r) => (ready = r));
  const echo = run(probeBin, ['echo', '--bind', host, '--port', String(port), '--timeout-s', '120'], {onReady: ready});
  await echoUp;
  const ping = JSON.parse(await run(...inStudentNs(probeBin, ['ping', '--to', host, '--port', String(port),
                                                              '--count', String(count), '--interval-ms', '25', '--size', '16'])));
  await echo;
  Object.assign(m, {rtt_ms_min: ping.rtt_ms_min, rtt_ms_p50: ping.rtt_ms_p50, rtt_ms_p90: ping.rtt_ms_p90,
                    loss_up_pct: ping.up_loss_pct, loss_down_pct: ping.down_loss_pct, probes: ping.sent});
  // Rate each way: a blast at twice the rate (tbf drops what does not fit its queue); the
  // receiver times what arrives. The downstream blast also shows the queue: the longest one-way
  // delay minus the shortest.
  const blastKbit = link.rate_kbit > 0 ? 2 * link.rate_kbit : 20000;
  const blastS = link.rate_kbit > 0 ? (short ? 2 : 3) : 1;
  for (const [dir, sinkNs, toAddr] of [['down', true, studentAddr], ['up', false, host]]) {
    let up;
    const sinkReady = new Promise((r) => (up = r));
    const sinkArgs = ['sink', '--bind', toAddr, '--port', String(port + 1), '--idle-ms', '1500', '--timeout-s', '60'];
    const sink = sinkNs ? run(...inStudentNs(probeBin, sinkArgs), {onReady: up}) : run(probeBin, sinkArgs, {onReady: up});
    await sinkReady;
    const blastArgs = ['blast', '--to', toAddr, '--port', String(port + 1), '--kbit', String(blastKbit),
                       '--seconds', String(blastS), '--size', '500'];
    await (sinkNs ? run(probeBin, blastArgs) : run(...inStudentNs(probeBin, blastArgs)));
    const s = JSON.parse(await sink);
    m[`rate_${dir}_kbit`] = s.rate_kbit;
    if (dir === 'down') m.queue_down_ms = round(s.delay_ms_max - s.delay_ms_min);
  }
  return m;
}

// ---- counters outside the browser ----
function wireBytes() {
  const out = execFileSync('ip', ['netns', 'exec', studentNs, 'cat', `/sys/class/net/${studentIf}/statistics/rx_bytes`,
                                  `/sys/class/net/${studentIf}/statistics/tx_bytes`]).toString().trim().split('\n');
  return {rx: Number(out[0]), tx: Number(out[1])};
}
function qdiscDrops() {
  try {
    const q = JSON.parse(execFileSync('ip', ['netns', 'exec', middleNs, 'tc', '-s', '-j', 'qdisc', 'show']).toString());
    const r = {};
    for (const d of q) if (d.kind === 'tbf') r[d.dev === 'glmc' ? 'down' : 'up'] = {sent_bytes: d.bytes, drops: d.drops, overlimits: d.overlimits};
    return r;
  } catch (e) {
    return {error: e.message};
  }
}
async function forwarderCounters() {
  const file = env.GRAMOTHI_LINK_FORWARDER_STATS, pid = Number(env.GRAMOTHI_LINK_FORWARDER_PID);
  if (!file || !pid) return null;
  fs.rmSync(file, {force: true});
  process.kill(pid, 'SIGUSR1');
  try {
    await until('forwarder counters', 5000, () => fs.existsSync(file), 20);
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    return {error: e.message};
  }
}

// ---- what the student page shows, read in the page ----
// Installed once the page has loaded: a poll every 100 ms of the page's state and its audio
// receiver's statistics, and a record of when each slide's text and image appeared.
function instrument() {
  const r = (window.__rural = {samples: [], seen: {}});
  let lastPc = null, pcSeq = 0;
  const box = document.querySelector('#slide');
  new MutationObserver(() => {
    const now = Date.now(), n = box.dataset.order;
    if (!n) return;
    const s = (r.seen[n] = r.seen[n] || {});
    if (!s.text && box.querySelector('.text').textContent.trim()) s.text = now;
    if (!s.preview && box.dataset.state === 'preview') s.preview = now;
    if (!s.image && box.dataset.state === 'image') s.image = now;
  }).observe(box, {attributes: true, subtree: true, childList: true, characterData: true});
  const tick = async () => {
    const st = window.glStudent, pc = st && st.pc;
    const s = {t: Date.now(), conn: st.conn, media: st.media, profile: st.profile, pc: 0,
               queue: st.qw ? Math.round(st.qw.queue) : null};
    if (pc) {
      if (pc !== lastPc) {
        lastPc = pc;
        pcSeq++;
      }
      s.pc = pcSeq;
      const rx = pc.getReceivers()[0];
      if (rx && rx.jitterBufferTarget !== undefined) s.jbTarget = rx.jitterBufferTarget;
      if (rx) s.red = (rx.getParameters().codecs || []).some((c) => /^audio\/red$/i.test(c.mimeType));
      const stats = await pc.getStats().catch(() => null);
      if (stats)
        stats.forEach((x) => {
          if (x.type === 'inbound-rtp' && x.kind === 'audio' && x.codecId && stats.get(x.codecId))
            s.codec = stats.get(x.codecId).mimeType;
          if (x.type === 'inbound-rtp' && x.kind === 'audio')
            Object.assign(s, {total: x.totalSamplesReceived, concealed: x.concealedSamples,
                              silent: x.silentConcealedSamples, events: x.concealmentEvents,
                              duration: x.totalSamplesDuration, lost: x.packetsLost,
                              received: x.packetsReceived, jitter: x.jitter, level: x.audioLevel,
                              bytes: x.bytesReceived, fec: x.fecPacketsReceived,
                              jbDelay: x.jitterBufferDelay, jbEmitted: x.jitterBufferEmittedCount});
          if (x.type === 'candidate-pair' && x.nominated && x.currentRoundTripTime !== undefined)
            s.rtt = x.currentRoundTripTime;
        });
    }
    // (live-extra.js, which counts them, comes once the page is ready; it counts from the start.)
    s.slideBytes = GL.slidesTransferred ? GL.slidesTransferred() : 0;
    r.samples.push(s);
    setTimeout(tick, Math.max(0, 100 - (Date.now() - s.t)));
  };
  tick();
}

// ---- analysis ----
// Per-interval deltas of the audio counters between consecutive polls of the same connection
// (a new RTCPeerConnection starts its counters at 0).
function intervals(samples, t0, t1) {
  const out = [];
  let prev = null;
  for (const s of samples) {
    if (s.t < t0 || s.t > t1) {
      prev = s;
      continue;
    }
    const has = s.total !== undefined;
    const base = prev && prev.pc === s.pc && prev.total !== undefined ? prev : null;
    const d = (k) => (has ? (s[k] || 0) - (base ? base[k] || 0 : 0) : 0);
    out.push({t: s.t, dt: prev ? s.t - prev.t : 0, has, total: d('total'), concealed: d('concealed'),
              silent: d('silent'), events: d('events'), duration: d('duration'), lost: d('lost'),
              received: d('received'), bytes: d('bytes'), jbDelay: d('jbDelay'), jbEmitted: d('jbEmitted'), s});
    prev = s;
  }
  return out;
}
function audioMetrics(iv) {
  let total = 0, concealed = 0, silent = 0, events = 0, duration = 0, lost = 0, received = 0, bytes = 0;
  for (const x of iv) {
    total += x.total, concealed += x.concealed, silent += x.silent, events += x.events;
    duration += x.duration, lost += x.lost, received += x.received, bytes += x.bytes;
  }
  const rate = duration > 0 ? total / duration : 48000;
  // Concealment runs: a poll with concealment and no new event continues the run; a new event
  // ends the old run (which may have reached into this poll: counted there too, an upper bound)
  // and starts a new one.
  let run = 0, longest = 0, runStart = 0;
  const runs = [];  // [start t, samples] of each run, for the longest few
  const endRun = (extra) => {
    if (run + extra > 0) runs.push([runStart, run + extra]);
  };
  for (const x of iv) {
    if (x.concealed <= 0) {
      endRun(0);
      longest = Math.max(longest, run);
      run = 0;
    } else if (x.events === 0) {
      if (run === 0) runStart = x.t;
      run += x.concealed;
    } else {
      if (run === 0) runStart = x.t;
      endRun(x.concealed);
      longest = Math.max(longest, run + x.concealed);
      run = x.concealed;
      runStart = x.t;
    }
    longest = Math.max(longest, run);
  }
  endRun(0);
  const t0 = iv.length ? iv[0].t : 0;
  const firstAudio = iv.find((x) => x.has && x.total > 0);
  let noAudioMs = 0;
  if (firstAudio) for (const x of iv) if (x.t > firstAudio.t && x.total <= 0) noAudioMs += x.dt;
  const jitters = iv.filter((x) => x.has).map((x) => x.s.jitter * 1000);
  return {
    first_audio_t: firstAudio ? firstAudio.t : null,
    concealed_pct: total ? round((100 * concealed) / total, 2) : null,
    concealed_nonsilent_pct: total ? round((100 * (concealed - silent)) / total, 2) : null,
    longest_concealment_ms: round((longest / rate) * 1000, 0),
    concealment_runs_over_300ms: runs.filter((r) => r[1] / rate > 0.3).length,
    longest_runs: runs.sort((a, b) => b[1] - a[1]).slice(0, 3)
      .map((r) => ({at_s: round((r[0] - t0) / 1000, 1), ms: round((r[1] / rate) * 1000, 0)})),
    concealment_events: events,
    audio_loss_pct: lost + received > 0 ? round((100 * lost) / (lost + received), 2) : null,
    packets_received: received,
    jitter_ms_p50: round(pct(jitters, 0.5), 1), jitter_ms_max: round(pct(jitters, 1), 1),
    audio_seconds: round(total / rate, 1), no_audio_after_first_s: round(noAudioMs / 1000, 1),
    audio_payload_bytes: bytes,
    audio_level_max: round(Math.max(0, ...iv.filter((x) => x.has).map((x) => x.s.level || 0)), 3),
    codecs: [...new Set(iv.filter((x) => x.s.codec).map((x) => x.s.codec))],
    // RED negotiated (the stats name the primary codec only), and the floor the page asked of
    // the jitter buffer (RTCRtpReceiver.jitterBufferTarget), last.
    red_negotiated: iv.some((x) => x.s.red),
    jitter_buffer_target_ms: iv.filter((x) => x.s.jbTarget !== undefined).map((x) => x.s.jbTarget).pop() ?? null,
  };
}
// The first moment after `from` that starts three seconds of audio, each second with packets
// arriving and < 10 % concealed (a single good second can be a lull in a long outage).
function audioBackAfter(iv, from) {
  const after = iv.filter((x) => x.t >= from);
  const good = (w) => {
    const total = w.reduce((a, x) => a + x.total, 0), conc = w.reduce((a, x) => a + x.concealed, 0);
    return total > 0 && w.some((x) => x.received > 0) && conc / total < 0.1;
  };
  for (let i = 0; i + 30 <= after.length; i++)
    if ([0, 10, 20].every((k) => good(after.slice(i + k, i + k + 10)))) return after[i].t - after[i].dt - from;
  return null;
}

// ---- the run ----
let base = '';
let teacherBrowser = null, studentBrowser = null;
const result = {label: label || undefined, link: link.profile, mode, seconds, pin: pin || null,
                asked: {rate_kbit: link.rate_kbit, rtt_ms: link.rtt_ms, loss_pct: link.loss_pct, queue_ms: link.queue_ms},
                started: new Date().toISOString(), machine: {cores: os.cpus().length, load_start: os.loadavg().map((x) => round(x, 2))}};
const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
  log((ok ? 'ok: ' : 'FAIL: ') + what);
};

async function main() {
  const wav = path.join(dir, 'speech.wav');
  result.speech_s = round(speechWav(wav), 1);
  let pdf = pdfArg;
  if (!pdf) {
    pdf = path.join(dir, 'deck.pdf');
    deckPdf(pdf, mode === 'short' ? 4 : 8);
  }
  result.deck = path.basename(pdf);

  // The link is measured while the server starts and the teacher gets ready (neither crosses it).
  const linkMeasured = measureLink(mode === 'short').then((m) => {
    result.measured = m;
    log('link measured: ' + JSON.stringify(m));
  });

  fs.writeFileSync(path.join(dir, 'gramothi.ini'), `[server]
listen_address = ${host}
port = 0
[storage]
data_dir = ${dir}/data
[auth]
jwt_secret = ${secret}
[media]
ice_addresses = ${host}
[slides]
worker = ${worker}
[web]
dir = ${root}/web
[plugins]
load = rest;signaling
dir = ${pluginDir}
`);
  const server = start(bin, ['serve', '--config', path.join(dir, 'gramothi.ini')], 'server.log', {pipe: true});
  base = await new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('the server did not start: ' + text)), 30000);
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
  log('server at ' + base);

  const up = await api('POST', `/slides/${classId}`, 'teacher-ada', 'teacher', fs.readFileSync(pdf), 'application/pdf');
  if (up.status !== 202) throw new Error('deck upload: ' + JSON.stringify(up));
  const listing = await until('the deck rendered', 180000, async () => {
    const r = (await api('GET', `/slides/${classId}`, 'teacher-ada', 'teacher')).json;
    return r && r.deck && r.deck.status !== 'rendering' && r.slides.every((s) => s.status !== 'rendering') ? r : null;
  }, 250);
  const slides = listing.slides.filter((s) => s.status === 'ready');
  result.deck_pages = slides.length;
  log(`deck ready: ${slides.length} slides`);

  const flags = (name, extra = []) => [
    '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--remote-debugging-pipe', `--user-data-dir=${path.join(dir, 'chrome-' + name)}`,
    '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
    '--autoplay-policy=no-user-gesture-required', '--allow-loopback-in-peer-connection',
    '--disable-features=WebRtcHideLocalIpsWithMdns', ...extra, 'about:blank'];
  [teacherBrowser, studentBrowser] = await Promise.all([
    chromium.launch({executablePath: '/usr/bin/chromium', ignoreDefaultArgs: true, timeout: 90000,
                     args: flags('teacher', [`--use-file-for-fake-audio-capture=${wav}`,
                                             `--unsafely-treat-insecure-origin-as-secure=${base}`])}),
    chromium.launch({executablePath: path.join(here, 'chromium-student'), ignoreDefaultArgs: true,
                     timeout: 90000, args: flags('student')}),
  ]);
  const tctx = await teacherBrowser.newContext({permissions: ['microphone']});
  const teacher = await tctx.newPage();
  teacher.on('pageerror', (e) => log('[teacher] page error: ' + e.message));
  await teacher.goto(`${base}/teach/${classId}#token=${token('teacher-ada', 'teacher')}`);
  await teacher.waitForFunction(() => window.glTeacher && window.glTeacher.conn === 'open', null, {timeout: 30000});
  await teacher.click('#start');
  await teacher.waitForFunction(() => window.glTeacher.pc && window.glTeacher.pc.connectionState === 'connected',
                                null, {timeout: 60000});
  log('the teacher is live');
  await linkMeasured;

  // The student: a phone-sized page behind the link.
  const sctx = await studentBrowser.newContext({viewport: {width: 360, height: 740}, isMobile: true, hasTouch: true});
  const student = await sctx.newPage();
  const events = {ws_opened: 0, ws_closed: [], offers: 0, profiles: [], media: [], first_frames: []};
  let tJoin = 0, tLoad = 0;
  const rel = () => (tJoin ? round((Date.now() - tJoin) / 1000, 1) : 0);
  student.on('pageerror', (e) => log('[student] page error: ' + e.message));
  student.on('websocket', (ws) => {
    events.ws_opened++;
    ws.on('close', () => events.ws_closed.push(rel()));
    ws.on('framereceived', (f) => {
      let m;
      try {
        m = JSON.parse(String(f.payload));
      } catch (_) {
        return;
      }
      // The page's first messages, in order (ms after navigation, type, bytes): what the first
      // screen waited for.
      if (tLoad && events.first_frames.length < 10)
        events.first_frames.push([Date.now() - tLoad, m.type, String(f.payload).length]);
      if (m.type === 'offer') events.offers++;
      if (m.type === 'profile-changed') events.profiles.push([rel(), m.profile, m.reason]);
      if (m.type === 'media-state') events.media.push([rel(), m.state, m.detail || '']);
    });
  });
  // The slide's states from the page's first moment (instrument() comes after the page is
  // ready, when the first slide may be on screen already): text, preview, image.
  await student.addInitScript(() => {
    window.__slideStates = [];
    document.addEventListener('DOMContentLoaded', () => {
      const box = document.querySelector('#slide');
      if (!box) return;
      new MutationObserver(() => {
        const list = window.__slideStates, last = list[list.length - 1];
        const state = box.dataset.state, order = box.dataset.order;
        if (state && (!last || last.state !== state || last.order !== order))
          list.push({t: Date.now(), state, order});
      }).observe(box, {attributes: true});
    });
  });
  const wire0 = wireBytes();
  tLoad = Date.now();
  // Ready is what the student sees, not the browser's load event (which waits for every image
  // the page started, the slide's among them): the Join button live and the slide's text shown.
  await student.goto(`${base}/class/${classId}#token=${token('student-asha', 'student')}`,
                     {timeout: 120000, waitUntil: 'commit'});
  await student.waitForFunction((hasSlides) => window.glStudent && window.glStudent.conn === 'open' &&
                                               !document.querySelector('#join').disabled &&
                                               (!hasSlides || !!document.querySelector('#slide').dataset.state),
                                slides.length > 0, {timeout: 120000, polling: 50});
  result.page_ready_ms = Date.now() - tLoad;
  // Where the wait went, in ms after navigation start: the HTML's first and last byte, the DOM
  // ready, the socket open and authenticated (the page's marks).
  result.page_steps_ms = await student.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] || {};
    const mark = (n) => (performance.getEntriesByName('gl-' + n)[0] || {}).startTime;
    const steps = {html_first_byte: nav.responseStart, html_done: nav.responseEnd,
                   dom_ready: nav.domContentLoadedEventEnd, socket_open: mark('socket-open'),
                   authenticated: mark('authenticated'), ready: performance.now()};
    for (const k of Object.keys(steps)) steps[k] = steps[k] > 0 ? Math.round(steps[k]) : null;
    return steps;
  });
  result.first_frames = events.first_frames;
  await student.evaluate(instrument);
  if (pin) {
    await student.waitForFunction((p) => !!document.querySelector(`#profile option[value="${p}"]`), pin, {timeout: 60000});
    await student.selectOption('#profile', pin);
  }
  const wireJoin = wireBytes();
  tJoin = Date.now();
  await student.click('#join');
  log(`the student joined (page ready after ${result.page_ready_ms} ms)`);

  // The class: slide moves on schedule, the pin lifted on schedule, until the window ends.
  const moves = [];
  // The short form listens for `seconds`, and at least 20 s after the first audio (which a busy
  // machine may delay), or gives up 90 s after the tap.
  let tEnd = tJoin + seconds * 1000, firstAudioSeen = mode !== 'short', nextAudioCheck = 0;
  let nextMove = tJoin + (mode === 'short' ? 10000 : (moveEvery * 1000) / 2), current = 1, unpinAt = null;
  const tUnpin = pin ? tJoin + pinSeconds * 1000 : Infinity;
  while (Date.now() < tEnd) {
    const now = Date.now();
    if (!firstAudioSeen && now >= nextAudioCheck) {
      nextAudioCheck = now + 500;
      if (await student.evaluate(() => window.__rural.samples.some((x) => x.total > 0))) {
        firstAudioSeen = true;
        tEnd = Math.max(tEnd, Date.now() + 20000);
      } else if (now - tJoin > 90000) {
        break;
      } else {
        tEnd = Math.max(tEnd, now + 1000);
      }
    }
    if (now >= tUnpin && unpinAt === null) {
      unpinAt = Date.now();
      await student.selectOption('#profile', 'auto');
      log('unpinned');
    }
    if (now >= nextMove) {
      const target = current < slides.length ? current + 1 : 1;
      // A slide shown before (the deck wrapped around) is forgotten first: this move is timed.
      await student.evaluate((n) => delete window.__rural.seen[String(n)], target);
      const t0 = Date.now();
      const r = await api('POST', '/sync-slide', 'teacher-ada', 'teacher',
                          {class_id: classId, action: 'goto', order_no: target});
      if (r.status !== 200) throw new Error('sync-slide: ' + JSON.stringify(r));
      moves.push({order_no: target, t0, at_s: round((t0 - tJoin) / 1000, 1)});
      current = target;
      log(`slide ${target}`);
      nextMove += moveEvery * 1000;
    }
    await sleep(Math.max(10, Math.min(250, Math.min(nextMove, tEnd, unpinAt === null ? tUnpin : Infinity) - Date.now())));
  }
  const listened = (tEnd - tJoin) / 1000;
  if (tEnd !== tJoin + seconds * 1000) {
    result.seconds = round(listened, 1);
    log(`listened ${result.seconds} s (the first audio came late)`);
  }
  const wireEnd = wireBytes();
  // The short form waits, for its assertion, for the last move's image (not for the measures).
  if (mode === 'short' && moves.length) {
    const n = String(moves[moves.length - 1].order_no);
    await until('the last slide\'s image at the student', 90000,
                () => student.evaluate((k) => !!(window.__rural.seen[k] || {}).image, n), 250).catch(() => {});
  }
  const page = await student.evaluate(() => ({samples: window.__rural.samples, seen: window.__rural.seen,
                                               slideStates: window.__slideStates,
                                               // the first of each gl- mark, in page time
                                               marks: performance.getEntriesByType('mark').reverse().reduce(
                                                 (o, m) => Object.assign(o, {[m.name.slice(3)]: m.startTime}), {}),
                                               timeOrigin: performance.timeOrigin,
                                               conn: window.glStudent.conn, media: window.glStudent.media,
                                               profile: window.glStudent.profile}));

  if (samplesFile)
    fs.writeFileSync(samplesFile, JSON.stringify({tJoin, tEnd, moves, events, samples: page.samples}));

  // ---- the numbers ----
  const iv = intervals(page.samples, tJoin, tEnd);
  Object.assign(result, audioMetrics(iv));
  // From the tap as the page got it (its `join` mark), not from the harness's click call:
  // playwright's click (waiting for the button to be stable, scrolling, dispatching) took
  // 100-350 ms on this machine before the page's handler ran, which is no time of the server's
  // or the link's. click_to_tap_ms says how long it was.
  const tTap = page.marks.join !== undefined && page.timeOrigin ? page.timeOrigin + page.marks.join : tJoin;
  result.click_to_tap_ms = Math.round(tTap - tJoin);
  result.first_audio_ms = result.first_audio_t ? Math.round(result.first_audio_t - tTap) : null;
  delete result.first_audio_t;
  // The join step by step (the page's User Timing marks, the first of each after the tap), in ms
  // after the tap: listen sent, offer received, answer sent, ICE and DTLS connected, the track;
  // then the first packet and the first audio (from the 100 ms polls).
  result.join_steps_ms = {};
  for (const [name, t] of Object.entries(page.marks))
    if (t >= page.marks.join) result.join_steps_ms[name] = Math.round(t - page.marks.join);
  const firstPacket = page.samples.find((x) => x.t >= tJoin && x.received > 0);
  result.join_steps_ms.first_packet = firstPacket ? Math.round(firstPacket.t - tTap) : null;
  result.join_steps_ms.first_audio = result.first_audio_ms;
  result.profiles = events.profiles;
  result.profile_first_reached_s = {};
  for (const [t, p] of events.profiles) if (!(p in result.profile_first_reached_s)) result.profile_first_reached_s[p] = t;
  result.profile_changes = Math.max(0, events.profiles.filter((p, i, a) => i === 0 || p[1] !== a[i - 1][1]).length - 1);
  const share = {};
  events.profiles.forEach((p, i) => {
    const endS = i + 1 < events.profiles.length ? events.profiles[i + 1][0] : listened;
    share[p[1]] = round((share[p[1]] || 0) + Math.max(0, Math.min(endS, listened) - p[0]), 1);
  });
  result.profile_seconds = share;
  result.final_profile = page.profile;
  // Where the concealment came from: per profile the page showed, the share concealed, the
  // packet loss and the jitter buffer's mean delay.
  result.by_profile = {};
  for (const name of new Set(iv.map((x) => x.s.profile || '-'))) {
    const part = iv.filter((x) => (x.s.profile || '-') === name && x.has);
    const sum = (k) => part.reduce((a, x) => a + x[k], 0);
    const total = sum('total'), lost = sum('lost'), received = sum('received'), emitted = sum('jbEmitted');
    result.by_profile[name] = {
      seconds: round(part.reduce((a, x) => a + x.dt, 0) / 1000, 1),
      concealed_pct: total ? round((100 * sum('concealed')) / total, 2) : null,
      loss_pct: lost + received > 0 ? round((100 * lost) / (lost + received), 2) : null,
      jitter_buffer_ms: emitted > 0 ? round((1000 * sum('jbDelay')) / emitted, 0) : null,
    };
  }
  // The profile the page showed every 10 s (from the polls), for a glance at the timeline.
  result.profile_every_10s = [];
  for (let t = tJoin; t <= tEnd; t += 10000) {
    const s = page.samples.filter((x) => x.t <= t).pop();
    result.profile_every_10s.push(s ? s.profile || '-' : '-');
  }
  const perMove = moves.map((m, i) => {
    const seen = page.seen[String(m.order_no)] || {};
    const nextT0 = i + 1 < moves.length ? moves[i + 1].t0 : Infinity;
    const ok = (t) => t && t >= m.t0 && t < nextT0 ? t - m.t0 : null;
    return {order_no: m.order_no, at_s: m.at_s, text_ms: ok(seen.text), preview_ms: ok(seen.preview),
            image_ms: ok(seen.image)};
  });
  const texts = perMove.map((m) => m.text_ms), images = perMove.map((m) => m.image_ms);
  // The slide on screen when the page opened: when its preview and its image showed, after the
  // page was asked for.
  const firstOrder = (page.slideStates[0] || {}).order;
  const firstAt = (state) => {
    const x = page.slideStates.find((e) => e.order === firstOrder && e.state === state);
    return x ? x.t - tLoad : null;
  };
  result.first_slide = {order_no: firstOrder ? Number(firstOrder) : null, preview_ms: firstAt('preview'),
                        image_ms: firstAt('image')};
  // Previews show only where the image was not at hand (prefetched) when the move came.
  const previews = perMove.map((m) => m.preview_ms).filter((x) => x !== null);
  result.slides = {
    moves: perMove.length, text_ms_p50: pct(texts, 0.5), text_ms_max: pct(texts, 1),
    texts_not_shown: texts.filter((x) => x === null).length,
    previews_shown: previews.length, preview_ms_p50: pct(previews, 0.5), preview_ms_max: pct(previews, 1),
    image_ms_p50: pct(images, 0.5), image_ms_max: pct(images, 1),
    images_not_shown: images.filter((x) => x === null).length, per_move: perMove,
  };
  const winS = listened;
  const wireDown = wireEnd.rx - wireJoin.rx, wireUp = wireEnd.tx - wireJoin.tx;
  result.wire_mb = round((wireDown + wireUp) / 1e6, 3);
  result.wire_mb_per_hour = round(((wireDown + wireUp) / 1e6) * (3600 / winS), 1);
  result.wire_down_kbit = round((wireDown * 8) / winS / 1000, 1);
  result.wire_up_kbit = round((wireUp * 8) / winS / 1000, 1);
  result.page_load_wire_kb = round((wireJoin.rx + wireJoin.tx - wire0.rx - wire0.tx) / 1000, 1);
  result.audio_payload_mb_per_hour = round((result.audio_payload_bytes / 1e6) * (3600 / winS), 1);
  const slideBytes = page.samples.length ? page.samples[page.samples.length - 1].slideBytes : 0;
  result.slides_mb = round(slideBytes / 1e6, 3);
  result.socket_closes = events.ws_closed.filter((t) => t <= listened).length;
  result.socket_close_times_s = events.ws_closed;
  result.media_sessions = events.offers;
  result.media_states = events.media;
  if (pin) {
    const pinnedClosed = events.ws_closed.filter((t) => t <= pinSeconds).length;
    result.pinned = {profile: pin, seconds: pinSeconds, socket_closes_while_pinned: pinnedClosed,
                     audio_back_ms_after_unpin: unpinAt ? audioBackAfter(iv, unpinAt) : null,
                     while_pinned: audioMetrics(intervals(page.samples, tJoin, tJoin + pinSeconds * 1000)),
                     after_unpin: unpinAt ? audioMetrics(intervals(page.samples, unpinAt, tEnd)) : null};
    for (const part of [result.pinned.while_pinned, result.pinned.after_unpin]) if (part) delete part.first_audio_t;
  }
  result.qdisc = qdiscDrops();
  result.forwarder = await forwarderCounters();
  result.machine.load_end = os.loadavg().map((x) => round(x, 2));

  if (mode === 'short') {
    const m = result.measured, a = link;
    if (a.rtt_ms > 0)
      check(m.rtt_ms_p50 >= 0.8 * a.rtt_ms && m.rtt_ms_p50 <= a.rtt_ms + 300,
            `measured round trip ${m.rtt_ms_p50} ms is near the asked ${a.rtt_ms} ms`);
    const lossAvg = (m.loss_up_pct + m.loss_down_pct) / 2;
    if (a.loss_pct > 0)
      check(lossAvg >= a.loss_pct / 4 && lossAvg <= a.loss_pct * 3 + 2,
            `measured loss ${round(lossAvg, 2)} % (up ${m.loss_up_pct}, down ${m.loss_down_pct}) is near the asked ${a.loss_pct} %`);
    if (a.rate_kbit > 0)
      for (const d of ['down', 'up'])
        check(m[`rate_${d}_kbit`] >= 0.7 * a.rate_kbit && m[`rate_${d}_kbit`] <= 1.3 * a.rate_kbit,
              `measured rate ${d} ${m[`rate_${d}_kbit`]} kbit/s is near the asked ${a.rate_kbit} kbit/s`);
    if (a.rate_kbit > 0)
      check(m.queue_down_ms >= 0.6 * a.queue_ms && m.queue_down_ms <= 1.5 * a.queue_ms + 300,
            `measured downstream queue ${m.queue_down_ms} ms is near the asked ${a.queue_ms} ms`);
    check(result.packets_received > 0 && result.audio_seconds > listened / 3,
          `audio reaches the student (${result.packets_received} packets, ${result.audio_seconds} s played)`);
    const lastThird = iv.filter((x) => x.t > tEnd - (listened * 1000) / 3);
    check(lastThird.reduce((s, x) => s + x.received, 0) > 0, 'audio still arrives in the last third of the run');
    check(result.audio_level_max > 0.01, `the teacher's voice is heard (audio level up to ${result.audio_level_max})`);
    // With RED the page holds the repeated frames long enough to use them: 150 ms, and 500 ms
    // once the link has lost packets.
    check(result.red_negotiated, 'the student\'s browser took RED (audio/red) for the class audio');
    if (result.red_negotiated)
      check(result.jitter_buffer_target_ms >= (a.loss_pct > 0 ? 500 : 150),
            `the page keeps the jitter buffer at ${result.jitter_buffer_target_ms} ms with RED on a ${a.loss_pct} % loss link`);
    check(result.socket_closes === 0 && events.ws_opened === 1,
          `the student's socket survives (closes at ${JSON.stringify(events.ws_closed)} s, ${events.ws_opened} opened)`);
    check(perMove.length > 0 && perMove[0].text_ms !== null,
          `the slide move's text reaches the student (after ${perMove[0] && perMove[0].text_ms} ms)`);
    // The slowest profile's slides come with a tiny preview, shown before the image arrives
    // (which the first move may have cut short: a download the teacher moved past is dropped).
    const fs1 = result.first_slide;
    check(fs1.preview_ms !== null && (fs1.image_ms === null || fs1.preview_ms <= fs1.image_ms),
          `the first slide shows its preview (after ${fs1.preview_ms} ms) before its image (after ${fs1.image_ms} ms)`);
    const lastSeen = page.seen[String(moves[moves.length - 1].order_no)] || {};
    check(!!lastSeen.image, `the slide's image reaches the student, eventually (after ${lastSeen.image ? lastSeen.image - moves[moves.length - 1].t0 : '-'} ms)`);
  }
}

function summarize(file) {
  const rows = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  const cols = [
    ['link', (r) => r.link + (r.pin ? ` pin ${r.pin}` : '')],
    ['rtt/loss/rate measured', (r) => r.measured ? `${r.measured.rtt_ms_p50} ms ${round((r.measured.loss_up_pct + r.measured.loss_down_pct) / 2, 1)} % ${r.measured.rate_down_kbit} kbit` : '-'],
    ['concealed %', (r) => r.concealed_pct], ['longest ms', (r) => r.longest_concealment_ms],
    ['audio loss %', (r) => r.audio_loss_pct], ['no audio s', (r) => r.no_audio_after_first_s],
    ['profiles (s)', (r) => Object.entries(r.profile_seconds || {}).map(([k, v]) => `${k} ${v}`).join(', ')],
    ['text p50/max ms', (r) => `${r.slides.text_ms_p50}/${r.slides.text_ms_max}`],
    ['image p50/max ms', (r) => `${r.slides.image_ms_p50}/${r.slides.image_ms_max}` + (r.slides.images_not_shown ? ` (${r.slides.images_not_shown} not shown)` : '')],
    ['first slide preview/image ms', (r) => r.first_slide ? `${r.first_slide.preview_ms}/${r.first_slide.image_ms}` : '-'],
    ['page ready ms', (r) => r.page_ready_ms], ['join to first audio ms', (r) => r.first_audio_ms],
    ['profile changes', (r) => r.profile_changes],
    ['MB/h wire', (r) => r.wire_mb_per_hour], ['socket closes', (r) => r.socket_closes],
  ];
  if (rows.some((r) => r.pinned)) cols.push(['audio back after unpin ms', (r) => r.pinned ? r.pinned.audio_back_ms_after_unpin : '']);
  console.log('| ' + cols.map((c) => c[0]).join(' | ') + ' |');
  console.log('|' + cols.map(() => '---').join('|') + '|');
  for (const r of rows) console.log('| ' + cols.map((c) => String(c[1](r) ?? '-')).join(' | ') + ' |');
}

// Stopped from outside (a test's timeout): the server goes with us; Playwright closes the
// browsers on exit.
process.on('SIGTERM', () => {
  for (const p of procs) p.kill('SIGTERM');
  process.exit(143);
});

let status = 0;
try {
  await main();
  if (failures.length) status = 1;
} catch (e) {
  log('ERROR: ' + (e.stack || e.message));
  result.error = e.message;
  status = 1;
} finally {
  for (const b of [teacherBrowser, studentBrowser]) await b?.close().catch(() => {});
  for (const p of procs) p.kill('SIGTERM');
  await Promise.all(procs.map((p) => p.exitCode !== null ? null : new Promise((r) => {
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      r();
    }, 8000);
    p.on('exit', () => {
      clearTimeout(t);
      r();
    });
  })));
  if (status && fs.existsSync(path.join(dir, 'server.log')))
    log('server log (last lines):\n' + fs.readFileSync(path.join(dir, 'server.log'), 'utf8').split('\n').slice(-40).join('\n'));
  if (env.GRAMOTHI_RURAL_KEEP) log('files kept in ' + dir);
  else fs.rmSync(dir, {recursive: true, force: true});
}
if (failures.length) result.failures = failures;
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(status);
