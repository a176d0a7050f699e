#include "media/webrtcbin_listener.hpp"

#include <gst/app/gstappsrc.h>

#include "base/main_loop.hpp"
#include "media/gst_support.hpp"
#include "media/media_pipelines.hpp"
#include "transport/sdp_answer.hpp"

namespace gramothi {
namespace {

double number_field(const GstStructure *s, const char *name, double fallback) {
  const GValue *v = gst_structure_get_value(s, name);
  if (!v) return fallback;
  GValue d = G_VALUE_INIT;
  g_value_init(&d, G_TYPE_DOUBLE);
  double out = fallback;
  if (g_value_transform(v, &d)) out = g_value_get_double(&d);
  g_value_unset(&d);
  return out;
}

// webrtcbin's remote-inbound-rtp stats: the listener's RTCP receiver report.
struct RemoteInbound {
  double loss = -1, rtt_s = -1, jitter_s = -1;
};

gboolean find_remote_inbound(GQuark, const GValue *v, gpointer out) {
  if (!GST_VALUE_HOLDS_STRUCTURE(v)) return TRUE;
  const GstStructure *s = gst_value_get_structure(v);
  GstWebRTCStatsType type;
  if (!gst_structure_get(s, "type", GST_TYPE_WEBRTC_STATS_TYPE, &type, nullptr) ||
      type != GST_WEBRTC_STATS_REMOTE_INBOUND_RTP)
    return TRUE;
  auto *r = static_cast<RemoteInbound *>(out);
  r->loss = number_field(s, "fraction-lost", -1);
  if (r->loss > 1) r->loss /= 256.0;  // an RTCP fraction, when reported raw
  r->rtt_s = number_field(s, "round-trip-time", -1);
  r->jitter_s = number_field(s, "jitter", -1);
  return TRUE;
}

}  // namespace

std::optional<Error> WebrtcbinListener::start(unsigned ssrc) {
  if (auto err = session_.create(*this, host_, "listener-" + std::to_string(id()), false))
    return err;
  std::string why;
  GstElement *src = gst_element_factory_make("appsrc", nullptr);
  g_autoptr(GstCaps) opus = gst_caps_from_string(kOpusCaps);
  // About 1 s of the listener's Opus may wait; beyond that the oldest frames are dropped.
  g_object_set(src, "is-live", TRUE, "format", GST_FORMAT_TIME, "caps", opus, "block", FALSE,
               "max-bytes", static_cast<guint64>(16 * 1024), nullptr);
  gst_util_set_object_arg(G_OBJECT(src), "leaky-type", "downstream");
  GstElement *pay = parse_bin(host_.pipelines().payloader(kOpusPt, ssrc), &why);
  gst_bin_add_many(GST_BIN(session_.pipeline()), src, pay, nullptr);
  gst_element_link(src, pay);

  // One send-only audio m-line: the requested pad creates the transceiver, then we set its
  // direction and codec (with the SSRC, so the offer carries a=ssrc).
  g_autofree char *prefs = g_strdup_printf(
      "application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=%u,"
      "encoding-params=(string)2,ssrc=(uint)%u,useinbandfec=(string)1,minptime=(string)10",
      kOpusPt, ssrc);
  g_autoptr(GstCaps) prefs_caps = gst_caps_from_string(prefs);
  g_autoptr(GstPad) wsink = gst_element_request_pad_simple(session_.webrtc(), "sink_%u");
  GstWebRTCRTPTransceiver *trans = nullptr;
  g_object_get(wsink, "transceiver", &trans, nullptr);
  if (trans) {
    g_object_set(trans, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY,
                 "codec-preferences", prefs_caps, nullptr);
    gst_object_unref(trans);
  }
  g_autoptr(GstPad) paysrc = gst_element_get_static_pad(pay, "src");
  gst_pad_link(paysrc, wsink);

  feed->src = GRef<GstAppSrc>::ref(GST_APP_SRC(src));
  session_.play();

  // Offer from the main loop, after setup (not from on-negotiation-needed).
  Ref me = ref();
  run_later([me] {
    if (!me.watch.alive()) return;
    if (Peer *p = me.host->find(me.id)) static_cast<WebrtcbinListener &>(*p).offer();
  });
  return std::nullopt;
}

void WebrtcbinListener::offer() {
  GstPromise *created = gst_promise_new_with_change_func(
      [](GstPromise *promise, gpointer data) {
        auto offer = std::make_shared<OwnedDescription>(take_description(promise, "offer"));
        Ref peer = *static_cast<Ref *>(data);
        gst_promise_unref(promise);
        with_peer(peer, [offer](Peer &p) {
          static_cast<WebrtcbinListener &>(p).on_offer_created(std::move(*offer));
        });
      },
      new Ref(ref()), [](gpointer d) { delete static_cast<Ref *>(d); });
  g_signal_emit_by_name(session_.webrtc(), "create-offer", nullptr, created);
  announce_profile();
}

void WebrtcbinListener::on_offer_created(OwnedDescription offer) {
  if (!offer) return fail("cannot create an offer", "negotiation-failed");
  g_signal_emit_by_name(session_.webrtc(), "set-local-description", offer.get(), nullptr);
  if (observer.local_description)
    observer.local_description("offer", WebrtcSession::sdp_text(offer.get()));
}

// Reads the listener's RTCP receiver reports (webrtcbin's remote-inbound-rtp stats) and feeds
// the controller. A report only counts when it is new: the RR's values change.
void WebrtcbinListener::poll_stats() {
  if (stats_pending_ || !session_.webrtc()) return;
  stats_pending_ = true;
  GstPromise *promise = gst_promise_new_with_change_func(
      [](GstPromise *promise, gpointer data) {
        RemoteInbound r;
        if (const GstStructure *reply = gst_promise_get_reply(promise))
          gst_structure_foreach(reply, find_remote_inbound, &r);
        Ref peer = *static_cast<Ref *>(data);
        gst_promise_unref(promise);
        with_peer(peer, [r](Peer &p) {
          auto &self = static_cast<WebrtcbinListener &>(p);
          self.stats_pending_ = false;
          if (r.loss < 0) return;
          double rtt_ms = r.rtt_s >= 0 ? r.rtt_s * 1000 : -1;
          double jitter_ms = r.jitter_s >= 0 ? r.jitter_s * 1000 : -1;
          if (r.loss == self.loss && rtt_ms == self.rtt_ms && jitter_ms == self.jitter_ms)
            return;  // the same receiver report as last time
          log_media(LogLevel::kDebug, "listener " + self.user_id() + ": receiver report loss " +
                                          std::to_string(r.loss) + " rtt " +
                                          std::to_string(r.rtt_s));
          self.on_receiver_report(r.loss, jitter_ms, rtt_ms);
        });
      },
      new Ref(ref()), [](gpointer d) { delete static_cast<Ref *>(d); });
  g_signal_emit_by_name(session_.webrtc(), "get-stats", nullptr, promise);
}

std::optional<Error> WebrtcbinListener::remote_answer(const std::string &sdp_text) {
  // Checked first: webrtcbin is given only an answer it can use.
  auto checked = parse_listener_answer(sdp_text, kOpusPt);
  if (!checked) return checked.error();
  // parse_listener_answer refused an empty text (GStreamer's parser asserts on one) and an
  // answer without its m-line.
  GstSDPMessage *sdp = nullptr;
  if (gst_sdp_message_new_from_text(sdp_text.c_str(), &sdp) != GST_SDP_OK || !sdp) {
    if (sdp) gst_sdp_message_free(sdp);
    return media_error(ErrorKind::kInvalid, "invalid_sdp", "The answer is not a usable SDP.");
  }
  OwnedDescription answer(gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_ANSWER, sdp));
  g_signal_emit_by_name(session_.webrtc(), "set-remote-description", answer.get(), nullptr);
  return std::nullopt;
}

std::optional<Error> WebrtcbinListener::remote_candidate(unsigned mline,
                                                         const std::string &candidate) {
  session_.add_candidate(mline, candidate);
  return std::nullopt;
}

}  // namespace gramothi
