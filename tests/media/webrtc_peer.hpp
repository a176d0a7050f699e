// Test-side WebRTC clients: a teacher that sends a sine tone, and a listener that decodes what
// it receives, both real webrtcbins speaking the signaling protocol over a real WebSocket to
// the real server. Everything runs on the test's main context; spin() drives it.
#pragma once

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/rtp/gstrtpbuffer.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <cmath>
#include <deque>
#include <functional>
#include <map>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "media/gst_support.hpp"

// Iterates the main context until `done()` or the timeout; returns done().
// `done` is called once per turn and may have side effects (take a message).
inline bool spin_until(const std::function<bool()> &done, int timeout_ms) {
  int64_t deadline = g_get_monotonic_time() + int64_t{timeout_ms} * 1000;
  for (;;) {
    if (done()) return true;
    if (g_get_monotonic_time() >= deadline) return false;
    if (!g_main_context_iteration(nullptr, FALSE)) g_usleep(2000);
  }
}

inline void spin_for(int ms) {
  spin_until([] { return false; }, ms);
}

// One JSON message as received.
struct WsMessage {
  std::string type;
  std::string text;
  JsonNode *node = nullptr;  // owned
  std::string str(const char *member) const {
    JsonObject *o = json_node_get_object(node);
    JsonNode *n = json_object_get_member(o, member);
    if (!n || JSON_NODE_HOLDS_NULL(n)) return "<null>";
    if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
      return json_node_get_string(n);
    g_autofree char *t = json_to_string(n, FALSE);
    return t;
  }
};

inline std::string json_msg(const char *type,
                            std::initializer_list<std::pair<const char *, std::string>> kv) {
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, type);
  for (const auto &[k, v] : kv) {
    json_builder_set_member_name(b, k);
    json_builder_add_string_value(b, v.c_str());
  }
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  g_autofree char *t = json_to_string(root, FALSE);
  return t;
}

class WsClient {
 public:
  // Connects to ws://127.0.0.1:PORT/api/v1/streaming/ws/CLASS`query` (`query` as is, e.g.
  // "?x=1"), asking for `protocols` (Sec-WebSocket-Protocol) if any, then sends `token`, if any,
  // as the first message ("authenticate").
  WsClient(int port, const std::string &class_id, const std::string &token = "",
           const std::string &query = "", const std::vector<std::string> &protocols = {}) {
    session_ = soup_session_new();
    std::string url =
        "ws://127.0.0.1:" + std::to_string(port) + "/api/v1/streaming/ws/" + class_id + query;
    SoupMessage *msg = soup_message_new("GET", url.c_str());
    std::vector<char *> asked;
    for (const auto &p : protocols)
      asked.push_back(const_cast<char *>(p.c_str()));
    asked.push_back(nullptr);
    soup_session_websocket_connect_async(
        session_, msg, nullptr, protocols.empty() ? nullptr : asked.data(), G_PRIORITY_DEFAULT,
        nullptr,
        [](GObject *src, GAsyncResult *res, gpointer self) {
          auto *c = static_cast<WsClient *>(self);
          g_autoptr(GError) err = nullptr;
          c->conn_ = soup_session_websocket_connect_finish(SOUP_SESSION(src), res, &err);
          c->connect_done_ = true;
          if (!c->conn_) {
            c->error_ = err ? err->message : "connect failed";
            return;
          }
          soup_websocket_connection_set_max_incoming_payload_size(c->conn_, 4 * 1024 * 1024);
          g_signal_connect(c->conn_, "message", G_CALLBACK(on_message), c);
          g_signal_connect(c->conn_, "closed",
                           G_CALLBACK(+[](SoupWebsocketConnection *conn, gpointer self) {
                             auto *cl = static_cast<WsClient *>(self);
                             cl->closed_ = true;
                             cl->close_code_ = soup_websocket_connection_get_close_code(conn);
                             const char *why = soup_websocket_connection_get_close_data(conn);
                             cl->close_reason_ = why ? why : "";
                           }),
                           c);
        },
        this);
    g_object_unref(msg);
    spin_until([this] { return connect_done_; }, 10000);
    if (conn_ && !token.empty()) send(json_msg("authenticate", {{"token", token}}));
  }
  ~WsClient() {
    if (conn_) {
      g_signal_handlers_disconnect_by_data(conn_, this);
      if (soup_websocket_connection_get_state(conn_) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(conn_, 1000, nullptr);
      g_object_unref(conn_);
    }
    for (auto &m : inbox_)
      json_node_unref(m.node);
    g_object_unref(session_);
  }

  bool connected() const { return conn_ != nullptr; }
  bool closed() const { return closed_; }
  int close_code() const { return close_code_; }
  const std::string &close_reason() const { return close_reason_; }
  // The subprotocol the server chose ("" for none).
  std::string protocol() const {
    const char *p = conn_ ? soup_websocket_connection_get_protocol(conn_) : nullptr;
    return p ? p : "";
  }
  // How many messages of `type` arrived so far, taken or not; "error:CODE" counts errors by code.
  size_t received(const std::string &type) const {
    auto n = received_.find(type);
    return n == received_.end() ? 0 : n->second;
  }
  const std::string &error() const { return error_; }

  // Closes the socket (1000) and waits until it is closed; the object stays usable (sends are
  // dropped).
  void close() {
    if (conn_ && soup_websocket_connection_get_state(conn_) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close(conn_, 1000, nullptr);
    spin_until([this] { return closed_; }, 10000);
  }
  void send(const std::string &text) {
    if (conn_ && soup_websocket_connection_get_state(conn_) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_send_text(conn_, text.c_str());
  }
  void send_binary(const std::string &data) {
    soup_websocket_connection_send_binary(conn_, data.data(), data.size());
  }

  // Waits for the next message of `type` (earlier ones of other types stay queued).
  bool wait_for(const std::string &type, WsMessage *out, int timeout_ms = 10000) {
    bool found = spin_until(
        [&] {
          for (auto it = inbox_.begin(); it != inbox_.end(); ++it)
            if (it->type == type) {
              if (out) {
                *out = *it;
                out->node = json_node_ref(it->node);
                kept_.push_back(out->node);
              }
              json_node_unref(it->node);
              inbox_.erase(it);
              return true;
            }
          return false;
        },
        timeout_ms);
    return found;
  }
  // The type of every message received so far, in order (the first thousand).
  const std::vector<std::string> &arrivals() const { return arrivals_; }
  // All messages of `type` received so far (removed from the inbox).
  std::vector<std::string> take_all(const std::string &type) {
    std::vector<std::string> out;
    for (auto it = inbox_.begin(); it != inbox_.end();) {
      if (it->type == type) {
        out.push_back(it->text);
        json_node_unref(it->node);
        it = inbox_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  std::function<void(const WsMessage &)> on_media_message;  // offers, answers, candidates

 private:
  static void on_message(SoupWebsocketConnection *, gint, GBytes *bytes, gpointer self) {
    auto *c = static_cast<WsClient *>(self);
    gsize len = 0;
    const char *data = static_cast<const char *>(g_bytes_get_data(bytes, &len));
    WsMessage m;
    m.text.assign(data, len);
    g_autoptr(JsonParser) p = json_parser_new();
    if (!json_parser_load_from_data(p, m.text.c_str(), -1, nullptr)) return;
    m.node = json_node_copy(json_parser_get_root(p));
    JsonObject *o = json_node_get_object(m.node);
    m.type = json_object_get_string_member_with_default(o, "type", "");
    c->received_[m.type]++;
    if (c->arrivals_.size() < 1000) c->arrivals_.push_back(m.type);
    if (m.type == "error")
      c->received_["error:" +
                   std::string(json_object_get_string_member_with_default(o, "code", ""))]++;
    if (c->on_media_message &&
        (m.type == "offer" || m.type == "answer" || m.type == "ice-candidate")) {
      c->on_media_message(m);
      json_node_unref(m.node);
      return;
    }
    c->inbox_.push_back(m);
  }

  SoupSession *session_ = nullptr;
  SoupWebsocketConnection *conn_ = nullptr;
  bool connect_done_ = false, closed_ = false;
  int close_code_ = 0;
  std::string close_reason_;
  std::string error_;
  std::deque<WsMessage> inbox_;
  std::map<std::string, size_t> received_;
  std::vector<std::string> arrivals_;
  std::vector<JsonNode *> kept_;

 public:
  WsClient(const WsClient &) = delete;
  WsClient &operator=(const WsClient &) = delete;
};

// Base: a webrtcbin in its own pipeline that gathers on 127.0.0.1 and trickles over `ws`.
class RtcPeer {
 public:
  explicit RtcPeer(WsClient &ws) : ws_(ws) {
    pipeline_ = gst_pipeline_new(nullptr);
    webrtc_ = gst_element_factory_make("webrtcbin", nullptr);
    g_object_set(webrtc_, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, nullptr);
    gst_bin_add(GST_BIN(pipeline_), webrtc_);
    GstWebRTCICE *agent = nullptr;
    g_object_get(webrtc_, "ice-agent", &agent, nullptr);
    gboolean ok = FALSE;
    g_signal_emit_by_name(agent, "add-local-ip-address", "127.0.0.1", &ok);
    g_object_set(agent, "ice-tcp", FALSE, nullptr);
    // Keepalives as Binding requests (every 25 s), not indications: the server's lite transport
    // stops sending to a listener that sends no check for 30 s (RFC 7675 consent), as browsers
    // do every few seconds. libnice 0.1.21 cannot turn consent-freshness on after construction.
    GObject *nice = nullptr;
    if (g_object_class_find_property(G_OBJECT_GET_CLASS(agent), "agent"))
      g_object_get(agent, "agent", &nice, nullptr);
    if (nice) {
      g_object_set(nice, "keepalive-conncheck", TRUE, nullptr);
      g_object_unref(nice);
    }
    gst_object_unref(agent);
    g_signal_connect(webrtc_, "on-ice-candidate",
                     G_CALLBACK(+[](GstElement *, guint mline, gchar *cand, gpointer self) {
                       auto *p = static_cast<RtcPeer *>(self);
                       std::lock_guard lock(p->mutex_);
                       p->outgoing_.push_back({mline, cand ? cand : ""});
                     }),
                     this);
    ws_.on_media_message = [this](const WsMessage &m) { on_signal(m); };
    flush_ = g_timeout_add(
        20,
        [](gpointer self) -> gboolean {
          static_cast<RtcPeer *>(self)->flush();
          return G_SOURCE_CONTINUE;
        },
        this);
  }
  virtual ~RtcPeer() {
    stop_pipeline();
    gst_object_unref(pipeline_);
  }

  bool connected() const {
    GstWebRTCPeerConnectionState s;
    g_object_get(webrtc_, "connection-state", &s, nullptr);
    return s == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED;
  }
  GstElement *webrtc() const { return webrtc_; }

 protected:
  // Stops every streaming thread and signal; a derived class calls it first in its destructor,
  // before its own members (which those threads write to) are destroyed.
  void stop_pipeline() {
    if (stopped_) return;
    stopped_ = true;
    g_source_remove(flush_);
    ws_.on_media_message = nullptr;
    gramothi::stop_srtp_input(pipeline_);  // GStreamer 1.22.0 srtpdec race: gst_support.hpp
    gst_element_set_state(pipeline_, GST_STATE_NULL);
  }

 protected:
  virtual void on_signal(const WsMessage &m) {
    if (m.type == "ice-candidate") {
      std::string c = m.str("candidate");
      std::string idx = m.str("sdpMLineIndex");
      guint mline = idx == "<null>" ? 0 : static_cast<guint>(atoi(idx.c_str()));
      g_signal_emit_by_name(webrtc_, "add-ice-candidate", mline,
                            c == "<null>" || c.empty() ? nullptr : c.c_str());
    }
  }
  void flush() {
    std::vector<std::pair<guint, std::string>> out;
    {
      std::lock_guard lock(mutex_);
      if (!can_trickle_) return;
      out.swap(outgoing_);
    }
    for (auto &[mline, cand] : out) {
      g_autoptr(JsonBuilder) b = json_builder_new();
      json_builder_begin_object(b);
      json_builder_set_member_name(b, "type");
      json_builder_add_string_value(b, "ice-candidate");
      json_builder_set_member_name(b, "candidate");
      json_builder_add_string_value(b, cand.c_str());
      json_builder_set_member_name(b, "sdpMLineIndex");
      json_builder_add_int_value(b, mline);
      json_builder_end_object(b);
      g_autoptr(JsonNode) root = json_builder_get_root(b);
      g_autofree char *t = json_to_string(root, FALSE);
      ws_.send(t);
    }
  }
  void allow_trickle() {
    std::lock_guard lock(mutex_);
    can_trickle_ = true;
  }
  // Creates an "offer" or "answer", sets it as the local description, returns its SDP.
  std::string create_local(const char *kind) {
    GstPromise *p = gst_promise_new();
    g_signal_emit_by_name(webrtc_, (std::string("create-") + kind).c_str(), nullptr, p);
    gst_promise_wait(p);
    GstWebRTCSessionDescription *d = nullptr;
    gst_structure_get(gst_promise_get_reply(p), kind, GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &d,
                      nullptr);
    gst_promise_unref(p);
    g_signal_emit_by_name(webrtc_, "set-local-description", d, nullptr);
    g_autofree char *text = gst_sdp_message_as_text(d->sdp);
    gst_webrtc_session_description_free(d);
    return text;
  }
  static GstWebRTCSessionDescription *description(GstWebRTCSDPType type, const std::string &text) {
    GstSDPMessage *sdp = nullptr;
    gst_sdp_message_new_from_text(text.c_str(), &sdp);
    return gst_webrtc_session_description_new(type, sdp);
  }

  WsClient &ws_;
  GstElement *pipeline_ = nullptr;
  GstElement *webrtc_ = nullptr;
  std::mutex mutex_;
  std::vector<std::pair<guint, std::string>> outgoing_;
  bool can_trickle_ = false;
  guint flush_ = 0;
  bool stopped_ = false;
};

// Sends a sine tone of `freq` Hz as Opus; publish() offers it to the class.
class TeacherPeer : public RtcPeer {
 public:
  TeacherPeer(WsClient &ws, double freq) : RtcPeer(ws) {
    std::string desc =
        "audiotestsrc is-live=true wave=sine volume=0.5 freq=" + std::to_string(freq) +
        " ! volume name=gain ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=1 ! "
        "opusenc bitrate=64000 ! rtpopuspay pt=111";

    g_autoptr(GError) err = nullptr;
    GstElement *src = gst_parse_bin_from_description(desc.c_str(), TRUE, &err);
    gst_bin_add(GST_BIN(pipeline_), src);
    gain_ = gst_bin_get_by_name(GST_BIN(src), "gain");
    g_autoptr(GstCaps) caps = gst_caps_from_string(
        "application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=111");
    // One send-only m-line, as a browser's: the requested pad makes the transceiver.
    GstPad *sink = gst_element_request_pad_simple(webrtc_, "sink_%u");
    GstWebRTCRTPTransceiver *t = nullptr;
    g_object_get(sink, "transceiver", &t, nullptr);
    g_object_set(t, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY, "codec-preferences",
                 caps, nullptr);
    gst_object_unref(t);
    GstPad *srcpad = gst_element_get_static_pad(src, "src");
    gst_pad_link(srcpad, sink);
    gst_object_unref(srcpad);
    gst_object_unref(sink);
    gst_element_set_state(pipeline_, GST_STATE_PLAYING);
  }

  ~TeacherPeer() override {
    stop_pipeline();
    gst_object_unref(gain_);
  }

  void publish() { ws_.send(json_msg("publish", {{"sdp", create_local("offer")}})); }

  // Mutes or unmutes the tone (5 ms capture buffers); returns the monotonic time of the change.
  int64_t set_audible(bool audible) {
    g_object_set(gain_, "mute", audible ? FALSE : TRUE, nullptr);
    return g_get_monotonic_time();
  }

 protected:
  void on_signal(const WsMessage &m) override {
    if (m.type == "answer") {
      GstWebRTCSessionDescription *d = description(GST_WEBRTC_SDP_TYPE_ANSWER, m.str("sdp"));
      g_signal_emit_by_name(webrtc_, "set-remote-description", d, nullptr);
      gst_webrtc_session_description_free(d);
      allow_trickle();
      return;
    }
    RtcPeer::on_signal(m);
  }

 private:
  GstElement *gain_ = nullptr;
};

// Receives the class audio: records RTP (SSRC, sequence, timestamp) and decoded samples.
class ListenerPeer : public RtcPeer {
 public:
  struct RtpPacket {
    guint32 ssrc;
    guint16 seq;
    guint32 ts;
    int64_t arrival_us;
  };

  ~ListenerPeer() override {
    set_stuck(false);  // a stuck network thread would hold up stopping it
    stop_pipeline();
  }

  // `decode` false: only RTP is recorded (a cheap load client for benchmarks).
  explicit ListenerPeer(WsClient &ws, bool decode = true) : RtcPeer(ws), decode_(decode) {
    g_signal_connect(webrtc_, "pad-added", G_CALLBACK(on_pad_added), this);
    GstElement *rtpbin = gst_bin_get_by_name(GST_BIN(webrtc_), "rtpbin");
    if (rtpbin) {
      g_signal_connect(rtpbin, "new-jitterbuffer",
                       G_CALLBACK(+[](GstElement *, GstElement *jb, guint, guint, gpointer) {
                         g_object_set(jb, "latency", 60u, nullptr);
                       }),
                       nullptr);
      // Loss a link would cause: drop RTP before the RTP session sees it, so the receiver
      // reports count it (RTCP fraction lost) exactly as for packets lost on the wire.
      g_signal_connect(rtpbin, "pad-added",
                       G_CALLBACK(+[](GstElement *, GstPad *pad, gpointer self) {
                         g_autofree char *name = gst_pad_get_name(pad);
                         if (!g_str_has_prefix(name, "recv_rtp_sink")) return;
                         gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_wire, self, nullptr);
                         // Receiver reports every 500 ms (the session exists by now), so the
                         // server hears about loss quickly.
                         GstElement *bin = GST_ELEMENT(gst_pad_get_parent(pad));
                         GObject *session = nullptr;
                         g_signal_emit_by_name(bin, "get-internal-session", 0u, &session);
                         if (session) {
                           g_object_set(session, "rtcp-min-interval",
                                        static_cast<guint64>(500 * GST_MSECOND), nullptr);
                           g_object_unref(session);
                         }
                         gst_object_unref(bin);
                       }),
                       this);
      gst_object_unref(rtpbin);
    }
    gst_element_set_state(pipeline_, GST_STATE_PLAYING);
  }

  void listen(const std::string &profile = "") {
    ws_.send(profile.empty() ? json_msg("listen", {}) : json_msg("listen", {{"profile", profile}}));
  }
  // Drops this share of incoming RTP before the RTP session (a lossy link).
  void set_drop_percent(int pct) { drop_pct_.store(pct); }
  // When decoded sound started after a quiet spell (monotonic µs; the sample's own position in
  // its buffer is subtracted from the buffer's arrival time).
  std::vector<int64_t> onsets() {
    std::lock_guard lock(data_mutex_);
    return onsets_;
  }
  // The offers the server sent, in order.
  const std::vector<std::string> &offers() const { return offers_; }
  // The session key each offer carried (for `resume`), in order.
  const std::vector<std::string> &sessions() const { return sessions_; }
  // Stops reading altogether (a frozen phone), until set back.
  void set_stuck(bool stuck) { stuck_.store(stuck); }

  std::vector<RtpPacket> packets() {
    std::lock_guard lock(data_mutex_);
    return packets_;
  }
  size_t packet_count() {
    std::lock_guard lock(data_mutex_);
    return packets_.size();
  }
  // The last `seconds` of decoded mono 48 kHz audio.
  std::vector<int16_t> recent_audio(double seconds) {
    std::lock_guard lock(data_mutex_);
    size_t n = static_cast<size_t>(seconds * 48000);
    if (samples_.size() <= n) return samples_;
    return std::vector<int16_t>(samples_.end() - static_cast<long>(n), samples_.end());
  }

 protected:
  void on_signal(const WsMessage &m) override {
    if (m.type == "offer") {
      offers_.push_back(m.str("sdp"));
      sessions_.push_back(m.str("session"));
      GstWebRTCSessionDescription *d = description(GST_WEBRTC_SDP_TYPE_OFFER, m.str("sdp"));
      g_signal_emit_by_name(webrtc_, "set-remote-description", d, nullptr);
      gst_webrtc_session_description_free(d);
      ws_.send(json_msg("answer", {{"sdp", create_local("answer")}}));
      allow_trickle();
      return;
    }
    RtcPeer::on_signal(m);
  }

 private:
  static GstPadProbeReturn on_wire(GstPad *, GstPadProbeInfo *info, gpointer self) {
    auto *l = static_cast<ListenerPeer *>(self);
    GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
    guint8 head[2];
    if (!buf || gst_buffer_extract(buf, 0, head, 2) != 2) return GST_PAD_PROBE_OK;
    bool rtcp = head[1] >= 192 && head[1] <= 223;
    if (rtcp) return GST_PAD_PROBE_OK;
    if (l->stuck_.load()) {
      // A peer that stopped reading: hold this thread, as a frozen client would.
      while (l->stuck_.load())
        g_usleep(10000);
      return GST_PAD_PROBE_DROP;
    }
    int pct = l->drop_pct_.load();
    if (pct > 0 && g_random_int_range(0, 100) < pct) return GST_PAD_PROBE_DROP;
    return GST_PAD_PROBE_OK;
  }

  static GstPadProbeReturn on_rtp(GstPad *, GstPadProbeInfo *info, gpointer self) {
    auto *l = static_cast<ListenerPeer *>(self);
    GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
    GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
    if (!buf || !gst_rtp_buffer_map(buf, GST_MAP_READ, &rtp)) return GST_PAD_PROBE_OK;
    RtpPacket p{gst_rtp_buffer_get_ssrc(&rtp), gst_rtp_buffer_get_seq(&rtp),
                gst_rtp_buffer_get_timestamp(&rtp), g_get_monotonic_time()};
    gst_rtp_buffer_unmap(&rtp);
    std::lock_guard lock(l->data_mutex_);
    l->packets_.push_back(p);
    return GST_PAD_PROBE_OK;
  }

  static GstFlowReturn on_sample(GstAppSink *sink, gpointer self) {
    auto *l = static_cast<ListenerPeer *>(self);
    g_autoptr(GstSample) s = gst_app_sink_pull_sample(sink);
    GstMapInfo map;
    GstBuffer *b = gst_sample_get_buffer(s);
    if (gst_buffer_map(b, &map, GST_MAP_READ)) {
      int64_t now = g_get_monotonic_time();
      std::lock_guard lock(l->data_mutex_);
      auto *d = reinterpret_cast<const int16_t *>(map.data);
      size_t n = map.size / 2;
      // Sound onsets: the first 2.5 ms block loud enough after at least 100 ms of quiet.
      for (size_t i = 0; i + 120 <= n; i += 120) {
        double e = 0;
        for (size_t k = i; k < i + 120; k++)
          e += double(d[k]) * d[k];
        bool loud = e / 120 > 1e6;  // RMS above 1000 of 32767
        if (loud && l->quiet_blocks_ >= 40)
          l->onsets_.push_back(now - static_cast<int64_t>((n - i) * 1000000 / 48000));
        l->quiet_blocks_ = loud ? 0 : l->quiet_blocks_ + 1;
      }
      l->samples_.insert(l->samples_.end(), d, d + n);
      gst_buffer_unmap(b, &map);
    }
    return GST_FLOW_OK;
  }

  static void on_pad_added(GstElement *, GstPad *pad, gpointer self) {
    auto *l = static_cast<ListenerPeer *>(self);
    if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
    if (!l->decode_) {
      GstElement *sink = gst_element_factory_make("fakesink", nullptr);
      g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
      gst_bin_add(GST_BIN(l->pipeline_), sink);
      gst_element_sync_state_with_parent(sink);
      GstPad *sinkpad = gst_element_get_static_pad(sink, "sink");
      gst_pad_link(pad, sinkpad);
      gst_object_unref(sinkpad);
      gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_rtp, l, nullptr);
      return;
    }
    // Records what came out of webrtcbin (after SRTP and the jitter buffer).
    g_autoptr(GError) err = nullptr;
    GstElement *bin = gst_parse_bin_from_description(
        "rtpopusdepay ! opusdec plc=true ! audioconvert ! audioresample ! "
        "audio/x-raw,format=S16LE,rate=48000,channels=1 ! appsink name=out sync=false",
        TRUE, &err);
    gst_bin_add(GST_BIN(l->pipeline_), bin);
    GstElement *sink = gst_bin_get_by_name(GST_BIN(bin), "out");
    GstAppSinkCallbacks cb = {};
    cb.new_sample = on_sample;
    gst_app_sink_set_callbacks(GST_APP_SINK(sink), &cb, l, nullptr);
    gst_object_unref(sink);
    gst_element_sync_state_with_parent(bin);
    GstPad *sinkpad = gst_element_get_static_pad(bin, "sink");
    gst_pad_link(pad, sinkpad);
    gst_object_unref(sinkpad);
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_rtp, l, nullptr);
  }

  std::mutex data_mutex_;
  std::vector<RtpPacket> packets_;
  std::vector<int16_t> samples_;
  std::atomic<int> drop_pct_{0};
  std::atomic<bool> stuck_{false};
  std::vector<std::string> offers_, sessions_;
  bool decode_ = true;
  std::vector<int64_t> onsets_;
  int quiet_blocks_ = 0;
};

// Power of `freq` in `x` (Goertzel), as a share of the total power: ~1 for a pure tone.
inline double tone_share(const std::vector<int16_t> &x, double freq, double rate = 48000) {
  if (x.empty()) return 0;
  double w = 2 * M_PI * freq / rate, coeff = 2 * std::cos(w);
  double s1 = 0, s2 = 0, total = 0;
  for (int16_t v : x) {
    double s = v + coeff * s1 - s2;
    s2 = s1;
    s1 = s;
    total += double(v) * v;
  }
  double power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  if (total <= 0) return 0;
  // A pure tone of N samples gives power ~ (N/2)^2 * A^2 and total ~ N * A^2 / 2.
  return power / (total * x.size() / 2.0);
}
