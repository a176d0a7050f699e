#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (fuzz/corpus/<name>/seed-*) from real inputs: the RFC
5769 STUN vectors and requests as browsers send them, RTCP as Chromium sends it, SDP answers of
Chromium and webrtcbin, tokens, Range headers, upload forms and the signaling messages of
api/signaling.md. Run once; the files are kept in the repository (rerunning rewrites only
the seed-* files, never what the fuzzers found)."""
import base64, binascii, hashlib, hmac, json, os, struct, sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'corpus')


def write(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, 'seed-' + name), 'wb') as f:
        f.write(data)


# ---- STUN ----
RFC_REQUEST = bytes.fromhex(
    '000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74'
    '002400046e0001ff80290008932ff9b151263b36000600096576746a3a6836765920202000080014'
    '9aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf')
RFC_RESPONSE = bytes.fromhex(
    '0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f722000200008'
    '0001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d780280004c07d4c96')
MAGIC = 0x2112A442
FUZZ_PWD = b'fuzz-listener-ice-password-0123'


def attr(t, v):
    pad = (4 - len(v) % 4) % 4
    return struct.pack('>HH', t, len(v)) + v + b'\0' * pad


def stun_message(mtype, tx, attrs, pwd=None, fingerprint=True):
    body = b''.join(attrs)
    if pwd is not None:
        head = struct.pack('>HHI', mtype, len(body) + 24, MAGIC) + tx
        mac = hmac.new(pwd, head + body, hashlib.sha1).digest()
        body += attr(0x0008, mac)
    if fingerprint:
        head = struct.pack('>HHI', mtype, len(body) + 8, MAGIC) + tx
        crc = (binascii.crc32(head + body) & 0xffffffff) ^ 0x5354554e
        body += attr(0x8028, struct.pack('>I', crc))
    return struct.pack('>HHI', mtype, len(body), MAGIC) + tx + body


tx = bytes(range(1, 13))
write('stun', 'rfc5769-request', RFC_REQUEST)
write('stun', 'rfc5769-response', RFC_RESPONSE)
# Chromium's check: USERNAME, ICE-CONTROLLING, USE-CANDIDATE, PRIORITY, network cost, MI, FP.
chrome = [attr(0x0006, b'Ab3dEf9h:cLi1'), attr(0xC057, struct.pack('>HH', 1, 10)),
          attr(0x802A, struct.pack('>Q', 0x1122334455667788)), attr(0x0025, b''),
          attr(0x0024, struct.pack('>I', 0x6e7f1eff))]
write('stun', 'chromium-check-use-candidate', stun_message(1, tx, chrome, FUZZ_PWD))
write('stun', 'chromium-check', stun_message(1, tx, [chrome[0], chrome[2], chrome[4]], FUZZ_PWD))
# webrtcbin/libnice: ICE-CONTROLLED, SOFTWARE.
write('stun', 'libnice-check', stun_message(1, tx, [
    attr(0x0006, b'Ab3dEf9h:nice'), attr(0x8029, struct.pack('>Q', 7)),
    attr(0x0024, struct.pack('>I', 0x6e0001ff)), attr(0x8022, b'libnice')], FUZZ_PWD))
write('stun', 'binding-indication', stun_message(0x0011, tx, [], None))
write('stun', 'no-fingerprint', stun_message(1, tx, [attr(0x0006, b'a:b')], FUZZ_PWD, False))

# ---- RTP / RTCP (first byte: the mode, see rtp_fuzz.cpp) ----
def rr(ssrc, about, fraction=26, lost=-1, seq=9, jitter=480, lsr=0x12345678, dlsr=65536):
    block = struct.pack('>IB', about, fraction) + (lost & 0xffffff).to_bytes(3, 'big') + \
        struct.pack('>IIII', seq, jitter, lsr, dlsr)
    return struct.pack('>BBH', 0x81, 201, 7) + struct.pack('>I', ssrc) + block


def sdes(ssrc, cname):
    item = bytes([1, len(cname)]) + cname + b'\0'
    chunk = struct.pack('>I', ssrc) + item
    chunk += b'\0' * ((4 - len(chunk) % 4) % 4)
    return struct.pack('>BBH', 0x81, 202, len(chunk) // 4) + chunk


def sr(ssrc, blocks=b'', count=0):
    body = struct.pack('>IIIIII', ssrc, 0xe8f00000, 0x80000000, 48000, 50, 4000) + blocks
    return struct.pack('>BBH', 0x80 | count, 200, len(body) // 4) + body


# Chromium's receiver side: RR + SDES, then transport-wide feedback (RTPFB 15) and REMB.
remb = struct.pack('>BBH', 0x8f, 206, 5) + struct.pack('>II', 1, 0) + b'REMB' + \
    bytes([1, 0x0b, 0xd0, 0x00]) + struct.pack('>I', 0x11223344)
twcc = struct.pack('>BBH', 0x8f, 205, 4) + struct.pack('>II', 1, 0x11223344) + \
    struct.pack('>HHI', 100, 3, 0x00001000) + struct.pack('>HBB', 0x2003, 4, 8)
chrome_rr = rr(1, 0x11223344) + sdes(1, b'chromium-cname0')
for mode, label in ((0, 'raw'), (1, 'srtcp'), (3, 'protected')):
    write('rtp', label + '-chromium-rr', bytes([mode]) + chrome_rr)
    write('rtp', label + '-rr-remb-twcc', bytes([mode]) + chrome_rr + remb + twcc)
    write('rtp', label + '-sr-sdes', bytes([mode]) + sr(0xBEEF) + sdes(0xBEEF, b'gramothi-7'))
    write('rtp', label + '-sr-with-block', bytes([mode]) + sr(2, rr(0, 0x11223344)[8:], 1))
    write('rtp', label + '-bye', bytes([mode]) + struct.pack('>BBHI', 0x81, 203, 1, 1))
rtp_packet = struct.pack('>BBHII', 0x80, 0x80 | 111, 1000, 48000, 0xCAFE) + bytes(range(40))
write('rtp', 'srtp-opus', bytes([2]) + rtp_packet + bytes(10))
write('rtp', 'srtp-extension', bytes([2]) + struct.pack('>BBHII', 0x90, 111, 1, 960, 7) +
      struct.pack('>HH', 0xBEDE, 1) + bytes([0x10, 0x5a, 0, 0]) + bytes(20))

# ---- SDP answers ----
FP = 'sha-256 ' + ':'.join(['%02X' % b for b in hashlib.sha256(b'fuzz').digest()])
chromium = (
    'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n'
    'a=group:BUNDLE 0\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\n'
    'm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n'
    'a=ice-ufrag:Xk3v\r\na=ice-pwd:oNnB6Zb2FkN0dYg9s7Y0zq1V\r\na=ice-options:trickle\r\n'
    'a=fingerprint:' + FP + '\r\na=setup:active\r\na=mid:0\r\n'
    'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=recvonly\r\na=rtcp-mux\r\n'
    'a=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\n'
    'a=fmtp:111 minptime=10;useinbandfec=1\r\n')
webrtcbin = (
    'v=0\r\no=- 3021376427461581163 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n'
    'a=ice-options:trickle\r\na=group:BUNDLE audio0\r\n'
    'm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=setup:active\r\n'
    'a=ice-ufrag:tLSzGB4s2lqDKz2VvfJoI6DrNDp3ssk3\r\na=ice-pwd:1QzWaNWsmL3Py5e1rwo6VY3yNlMmT8GH\r\n'
    'a=rtcp-mux\r\na=rtcp-rsize\r\na=recvonly\r\na=rtpmap:111 OPUS/48000/2\r\n'
    'a=rtcp-fb:111 nack pli\r\na=fmtp:111 sprop-maxcapturerate=48000;sprop-stereo=0\r\n'
    'a=mid:audio0\r\na=fingerprint:' + FP + '\r\n')
write('sdp_answer', 'chromium', chromium)
write('sdp_answer', 'webrtcbin', webrtcbin)
write('sdp_answer', 'passive-session-level', chromium.replace('a=setup:active', 'a=setup:passive')
      .replace('a=fingerprint:' + FP + '\r\n', '').replace('t=0 0\r\n', 't=0 0\r\na=fingerprint:' + FP + '\r\n'))
write('sdp_answer', 'rejected-audio', chromium.replace('m=audio 9', 'm=audio 0'))
write('sdp_answer', 'holdconn', chromium.replace('a=setup:active', 'a=setup:holdconn'))
write('sdp_answer', 'minimal-test', 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n'
      'm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:cli1\r\n'
      'a=ice-pwd:client-password-0123456789\r\na=fingerprint:sha-1 00:11\r\n'
      'a=setup:active\r\na=mid:0\r\na=recvonly\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n')

# ---- JWT (first byte: the mode, see jwt_fuzz.cpp) ----
SECRET = b'fuzz-secret-0123456789abcdef-0123456789'
NOW = 1790000000


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b'=').decode()


def hs256(header, payload):
    signing = b64(header.encode()) + '.' + b64(payload.encode())
    return signing + '.' + b64(hmac.new(SECRET, signing.encode(), hashlib.sha256).digest())


good = json.dumps({'sub': 'teacher-1', 'role': 'teacher', 'iat': NOW, 'exp': NOW + 600,
                   'iss': 'school', 'aud': ['gramothi', 'other'], 'classes': ['art'],
                   'teaches': ['physics-101']}, separators=(',', ':'))
hdr = '{"alg":"HS256","typ":"JWT"}'
write('jwt', 'hs256-valid', b'\0' + hs256(hdr, good).encode())
write('jwt', 'hs256-header', b'\0Bearer ' + hs256(hdr, good).encode())
write('jwt', 'alg-none', b'\0' + (b64(b'{"alg":"none"}') + '.' + b64(good.encode()) + '.').encode())
write('jwt', 'rs256-kid', b'\0' + (b64(b'{"alg":"RS256","kid":"rsa-1"}') + '.' +
                                    b64(good.encode()) + '.' + b64(bytes(256))).encode())
write('jwt', 'es256', b'\0' + (b64(b'{"alg":"ES256","kid":"ec-1"}') + '.' +
                                b64(good.encode()) + '.' + b64(bytes(64))).encode())
write('jwt', 'signed-claims', b'\1' + (hdr + '\n' + good).encode())
write('jwt', 'signed-student', b'\1' + (hdr + '\n' + json.dumps(
    {'sub': 's1', 'role': 'student', 'exp': NOW + 60, 'nbf': NOW - 5, 'iss': 'school',
     'aud': 'gramothi'})).encode())
write('jwt', 'signed-float-times', b'\1' + (hdr + '\n' +
      '{"sub":"s1","role":"admin","exp":1790000600.5,"iat":1.79e9,"iss":"school","aud":"gramothi"}').encode())
from cryptography.hazmat.primitives.asymmetric import ec, rsa
eckey = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
rsakey = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers()
jwks = {'keys': [
    {'kty': 'EC', 'crv': 'P-256', 'kid': 'ec-1', 'use': 'sig', 'alg': 'ES256',
     'x': b64(eckey.x.to_bytes(32, 'big')), 'y': b64(eckey.y.to_bytes(32, 'big'))},
    {'kty': 'RSA', 'kid': 'rsa-1', 'alg': 'RS256', 'e': b64(rsakey.e.to_bytes(3, 'big')),
     'n': b64(rsakey.n.to_bytes(256, 'big'))},
    {'kty': 'RSA', 'use': 'enc', 'e': 'AQAB', 'n': 'AQAB'}]}
write('jwt', 'jwks', b'\2' + json.dumps(jwks).encode())

# ---- Range (8 bytes of file size, then the header) ----
for i, (size, header) in enumerate([
        (1000, 'bytes=100-199'), (1000, 'bytes=100-'), (1000, 'bytes=-500'),
        (1000, 'bytes=999999999-'), (1000, 'bytes=0-0,5-9'), (0, 'bytes=0-'),
        (200 << 20, 'bytes=0-'), (1000, 'bytes=5-3'), (1000, ''), (1000, 'bytes=-0')]):
    write('range', '%02d' % i, struct.pack('<Q', size) + header.encode())

# ---- multipart uploads (Content-Type, newline, body) ----
pdf = b'%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n'
form = (b'--gramothi-test-boundary\r\nContent-Disposition: form-data; name="deck"; '
        b'filename="week 3.pdf"\r\nContent-Type: application/pdf\r\n\r\n' + pdf +
        b'\r\n--gramothi-test-boundary--\r\n')
write('multipart', 'form', b'multipart/form-data; boundary=gramothi-test-boundary\n' + form)
chrome_b = b'----WebKitFormBoundary7MA4YWxkTrZu0gW'
chrome_form = (b'--' + chrome_b + b'\r\nContent-Disposition: form-data; name="title"\r\n\r\n'
               b'Week 3\r\n--' + chrome_b + b'\r\nContent-Disposition: form-data; name="file"; '
               b'filename="C:\\fakepath\\deck.pdf"\r\nContent-Type: application/pdf\r\n\r\n' +
               pdf + b'\r\n--' + chrome_b + b'--\r\n')
write('multipart', 'chromium-two-parts', b'multipart/form-data; boundary=' + chrome_b + b'\n' + chrome_form)
write('multipart', 'utf8-name', b'multipart/form-data; boundary="b"\n--b\r\nContent-Disposition: '
      b'form-data; name="f"; filename*=UTF-8\'\'%E0%A4%97.pdf\r\n\r\n' + pdf + b'\r\n--b--\r\n')
write('multipart', 'raw-pdf', b'application/pdf\n' + pdf)
write('multipart', 'no-type', b'\n' + pdf)
write('multipart', 'text', b'text/plain\nhello')

# ---- signaling (setup byte, then one message per line) ----
offer = chromium.replace('a=setup:active', 'a=setup:actpass').replace('a=recvonly', 'a=sendonly')
m = lambda **kw: json.dumps(kw)
student = [m(type='authenticate', token='student'), m(type='ping'), m(type='listen'),
           m(type='answer', sdp=chromium),
           m(type='ice-candidate', candidate='candidate:842163049 1 udp 1677729535 198.51.100.7 51234 typ srflx', sdpMid='0', sdpMLineIndex=0),
           m(type='ice-candidate', candidate=None),
           m(type='bandwidth-report', downlink_kbps=1500, rtt_ms=120, loss_pct=1),
           m(type='profile', profile='ultra-low'), m(type='chat-message', text='Which page?'),
           m(type='stop-media')]
teacher = [m(type='authenticate', token='teacher'), m(type='publish', sdp=offer),
           m(type='ice-candidate', candidate='candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host', sdpMLineIndex=0),
           m(type='slide-sync', action='next'), m(type='slide-sync', action='goto', order_no=1),
           m(type='slide-sync', action='goto', slide_id='d1b2c3d4e5f60718-2'),
           m(type='chat-remove', message_id='m1'), m(type='authenticate', token='teacher'),
           m(type='listen', profile='auto')]
write('signaling', 'student-session', b'\0' + '\n'.join(student).encode())
write('signaling', 'teacher-session', b'\0' + '\n'.join(teacher).encode())
write('signaling', 'header-auth-student', b'\1' + '\n'.join(student[1:]).encode())
write('signaling', 'header-auth-admin', b'\5' + '\n'.join(teacher[1:]).encode())
write('signaling', 'stranger', b'\7' + m(type='listen').encode())
write('signaling', 'token-in-url', b'\x10' + student[0].encode())
write('signaling', 'before-auth', b'\0' + '\n'.join([m(type='listen'), 'not json', '#b\x00\x01',
                                                    '[1,2]', m(type='nope'), student[0]]).encode())
write('signaling', 'flood', b'\x08' + '\n'.join([student[0]] + [m(type='ping')] * 40).encode())
write('signaling', 'bad-fields', b'\0' + '\n'.join([student[0], m(type='listen', profile=5),
      m(type='bandwidth-report', loss_pct=101), m(type='ice-candidate', sdpMLineIndex=17),
      m(type='chat-message', text='x' * 5000), m(type='answer'), m(type='slide-sync', action='goto', order_no=0)]).encode())
