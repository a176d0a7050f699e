#include "media/publisher.hpp"

#include <gst/app/gstappsink.h>

#include "media/gst_support.hpp"
#include "media/media_pipelines.hpp"

namespace gramothi {
namespace {

// A publisher's way into the class mixer; one per publisher, used by its streaming thread only.
struct IngestFeed {
  GRef<GstAppSrc> target;  // the class's teacher appsrc
  GstClockTime next_pts = GST_CLOCK_TIME_NONE;
};

GstFlowReturn on_ingest_sample(GstAppSink *sink, gpointer data) {
  auto *feed = static_cast<IngestFeed *>(data);
  g_autoptr(GstSample) sample = gst_app_sink_pull_sample(sink);
  if (!sample) return GST_FLOW_OK;
  GstBuffer *buffer = gst_buffer_copy(gst_sample_get_buffer(sample));
  // Stamp with the class pipeline's running time now: the mixer takes it as live input.
  GstElement *target = GST_ELEMENT(feed->target.get());
  if (g_autoptr(GstClock) clock = gst_element_get_clock(target)) {
    GstClockTime now = gst_clock_get_time(clock) - gst_element_get_base_time(target);
    // A new publisher, or one back after a gap: tell the mixer to resync at once rather than
    // wait out its discont period (during which it would drop the teacher's audio as late).
    if (!GST_CLOCK_TIME_IS_VALID(feed->next_pts) || now > feed->next_pts + 60 * GST_MSECOND)
      GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DISCONT);
    GST_BUFFER_PTS(buffer) = now;
    GST_BUFFER_DTS(buffer) = GST_CLOCK_TIME_NONE;
    if (GST_BUFFER_DURATION_IS_VALID(buffer)) feed->next_pts = now + GST_BUFFER_DURATION(buffer);
  }
  gst_app_src_push_buffer(feed->target.get(), buffer);
  return GST_FLOW_OK;
}

// The first audio stream is the teacher's voice. Any further one (a client offering more than one
// audio m-line) goes to a fakesink, so it cannot stall or error the session. Linked at once, on
// webrtcbin's thread: an unlinked pad errors the whole session.
void on_pad_added(GstElement *webrtc, GstPad *pad, gpointer data) {
  if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
  auto *decode = static_cast<GstElement *>(data);
  g_autoptr(GstPad) sinkpad = gst_element_get_static_pad(decode, "sink");
  if (!gst_pad_is_linked(sinkpad)) {
    gst_pad_link(pad, sinkpad);
    return;
  }
  log_media(LogLevel::kWarning, "publisher sent a second audio stream; only the first is used");
  GstElement *sink = gst_element_factory_make("fakesink", nullptr);
  g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
  g_autoptr(GstObject) parent = gst_element_get_parent(webrtc);
  gst_bin_add(GST_BIN(parent), sink);
  gst_element_sync_state_with_parent(sink);
  g_autoptr(GstPad) fake = gst_element_get_static_pad(sink, "sink");
  gst_pad_link(pad, fake);
}

}  // namespace

std::optional<Error> Publisher::start(GstSDPMessage *offer_sdp, GstAppSrc *teacher_src) {
  GstWebRTCSessionDescription *offer =
      gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, offer_sdp);
  OwnedDescription owned_offer(offer);
  if (auto err = session_.create(*this, host_, "publisher-" + std::to_string(id()), true))
    return err;

  std::string why;
  GstElement *decode = parse_bin(host_.pipelines().decode(), &why);
  if (!decode) return media_error(ErrorKind::kInternal, "media_error", "ingest decode: " + why);
  GstElement *sink = gst_element_factory_make("appsink", nullptr);
  g_object_set(sink, "sync", FALSE, "async", FALSE, "max-buffers", 32u, "drop", TRUE, nullptr);
  GstAppSinkCallbacks cb = {};
  cb.new_sample = on_ingest_sample;
  gst_app_sink_set_callbacks(GST_APP_SINK(sink), &cb,
                             new IngestFeed{GRef<GstAppSrc>::ref(teacher_src)},
                             [](gpointer d) { delete static_cast<IngestFeed *>(d); });
  gst_bin_add_many(GST_BIN(session_.pipeline()), decode, sink, nullptr);
  gst_element_link(decode, sink);
  g_signal_connect(session_.webrtc(), "pad-added", G_CALLBACK(on_pad_added), decode);
  session_.play();

  GstPromise *set = gst_promise_new_with_change_func(
      [](GstPromise *promise, gpointer data) {
        Ref peer = *static_cast<Ref *>(data);
        gst_promise_unref(promise);
        with_peer(peer, [](Peer &p) { static_cast<Publisher &>(p).on_offer_set(); });
      },
      new Ref(ref()), [](gpointer d) { delete static_cast<Ref *>(d); });
  g_signal_emit_by_name(session_.webrtc(), "set-remote-description", offer, set);
  return std::nullopt;
}

void Publisher::on_offer_set() {
  // Receive only: the server sends nothing back to the teacher.
  GArray *transceivers = nullptr;
  g_signal_emit_by_name(session_.webrtc(), "get-transceivers", &transceivers);
  for (guint i = 0; transceivers && i < transceivers->len; i++) {
    auto *t = g_array_index(transceivers, GstWebRTCRTPTransceiver *, i);
    g_object_set(t, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, nullptr);
  }
  if (transceivers) g_array_unref(transceivers);
  GstPromise *created = gst_promise_new_with_change_func(
      [](GstPromise *promise, gpointer data) {
        auto answer = std::make_shared<OwnedDescription>(take_description(promise, "answer"));
        Ref peer = *static_cast<Ref *>(data);
        gst_promise_unref(promise);
        with_peer(peer, [answer](Peer &p) {
          static_cast<Publisher &>(p).on_answer_created(std::move(*answer));
        });
      },
      new Ref(ref()), [](gpointer d) { delete static_cast<Ref *>(d); });
  g_signal_emit_by_name(session_.webrtc(), "create-answer", nullptr, created);
}

void Publisher::on_answer_created(OwnedDescription answer) {
  if (!answer) return fail("cannot answer the offer", "negotiation-failed");
  g_signal_emit_by_name(session_.webrtc(), "set-local-description", answer.get(), nullptr);
  if (observer.local_description)
    observer.local_description("answer", WebrtcSession::sdp_text(answer.get()));
}

std::optional<Error> Publisher::remote_answer(const std::string &) {
  return media_error(ErrorKind::kConflict, "unexpected_answer",
                     "The publisher sends an offer, not an answer.");
}

std::optional<Error> Publisher::remote_candidate(unsigned mline, const std::string &candidate) {
  session_.add_candidate(mline, candidate);
  return std::nullopt;
}

}  // namespace gramothi
