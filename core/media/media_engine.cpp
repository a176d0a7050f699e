#include "media/media_engine.hpp"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "base/log.hpp"
#include "base/main_loop.hpp"
#include "media/bandwidth_controller.hpp"
#include "transport/lite_transport.hpp"

namespace gramothi {
namespace {

constexpr const char *kRawCaps =
    "audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=1";
constexpr const char *kOpusCaps = "audio/x-opus,rate=48000,channels=1,channel-mapping-family=0";
constexpr unsigned kOpusPt = 111;

void log_media(LogLevel level, const std::string &message) {
  log_message(level, "media", message);
}

Error media_error(ErrorKind kind, const std::string &code, const std::string &message) {
  return Error{kind, code, message};
}

// A listener's input: its profile's Opus frames go into `src`. Shared between the main loop
// and the encoders' streaming threads; `mutex` guards next_pts and the push.
struct Feed {
  std::mutex mutex;
  GstAppSrc *src = nullptr;           // owned reference (webrtcbin listener), or
  std::shared_ptr<LiteSession> lite;  // the listener's session on the lite transport
  GstClockTime next_pts = GST_CLOCK_TIME_NONE;
  std::atomic<uint64_t> sent{0};
  ~Feed() {
    if (src) gst_object_unref(src);
  }
};

// One profile's encoder output and the feeds that take it.
struct Tier {
  const BandwidthProfile *profile = nullptr;
  std::mutex mutex;
  std::vector<std::shared_ptr<Feed>> feeds;

  void add(const std::shared_ptr<Feed> &f) {
    std::lock_guard lock(mutex);
    feeds.push_back(f);
  }
  void remove(const std::shared_ptr<Feed> &f) {
    std::lock_guard lock(mutex);
    std::erase(feeds, f);
  }

  // On the encoder's streaming thread. Lite listeners' packets go out in one batch.
  void deliver(GstBuffer *buffer) {
    GstClockTime pts = GST_BUFFER_PTS(buffer);
    GstClockTime dur = GST_BUFFER_DURATION(buffer);
    thread_local std::vector<OutPacket> batch;
    size_t batched = 0;
    GstMapInfo map;
    bool mapped = false;
    std::lock_guard lock(mutex);
    for (auto &f : feeds) {
      std::lock_guard flock(f->mutex);
      // Right after a switch the new profile's frames may overlap what was already sent:
      // skip those, so timestamps only move forward (the gap is at most one frame).
      if (GST_CLOCK_TIME_IS_VALID(f->next_pts) && GST_CLOCK_TIME_IS_VALID(pts) &&
          pts + GST_MSECOND < f->next_pts)
        continue;
      if (f->lite) {
        if (!mapped && !(mapped = gst_buffer_map(buffer, &map, GST_MAP_READ))) return;
        if (batch.size() <= batched) batch.resize(batched + 16);
        if (GST_CLOCK_TIME_IS_VALID(pts) &&
            f->lite->pack(map.data, map.size, pts, batch[batched])) {
          batched++;
          f->sent++;
        }
      } else {
        if (gst_app_src_push_buffer(f->src, gst_buffer_ref(buffer)) != GST_FLOW_OK) continue;
        f->sent++;
      }
      if (GST_CLOCK_TIME_IS_VALID(pts) && GST_CLOCK_TIME_IS_VALID(dur)) f->next_pts = pts + dur;
    }
    if (mapped) gst_buffer_unmap(buffer, &map);
    LiteTransport::send(batch.data(), batched);
  }
};

}  // namespace

struct ClassMedia;

struct Peer {
  MediaEngine::Impl *engine = nullptr;
  PeerId id = 0;
  bool publisher = false;
  std::string class_id, user_id;
  PeerObserver observer;
  GstElement *pipeline = nullptr;
  GstElement *webrtc = nullptr;
  guint bus_watch = 0;
  bool closed = false;
  std::string state = "new";
  // listener
  std::shared_ptr<LiteSession> lite;  // set when the listener is on the lite transport
  std::shared_ptr<Feed> feed;
  size_t tier = 0;
  std::unique_ptr<BandwidthController> controller;
  double loss = 0, rtt_ms = 0, jitter_s = 0;
  bool stats_pending = false;
  // Lets GStreamer-thread callbacks find a peer that may be gone.
  std::shared_ptr<std::atomic<bool>> alive = std::make_shared<std::atomic<bool>>(true);
};

// One recording: a branch off the class's raw-audio tee (queue -> [recording] encoder ->
// appsink) whose Ogg bytes are written to a file on the branch's own streaming thread, so a
// slow or failing disk holds up nothing but the recording.
struct Recorder {
  RecordingId id = 0;
  std::string path;
  RecordingObserver observer;
  GstElement *queue = nullptr, *encoder = nullptr, *sink = nullptr;
  GstPad *tee_pad = nullptr;
  bool ending = false;  // main loop: EOS sent or failed
  // Streaming thread:
  int fd = -1;
  bool started = false, failed = false;
  int64_t synced_at_us = 0;
  std::atomic<bool> finished{false};  // the last page is on disk, or writing failed
  std::atomic<bool> unlinked{false};  // off the tee: the branch may leave the pipeline
  ~Recorder() {
    if (fd >= 0) close(fd);
  }
};

struct ClassMedia {
  std::string id;
  GstElement *pipeline = nullptr;
  GstElement *tee = nullptr;
  std::map<RecordingId, std::shared_ptr<Recorder>> recorders;
  std::vector<std::shared_ptr<Recorder>> finished;  // ended with the class; their pads go with it
  guint drain_timer = 0;
  bool ended = false;  // end_class ran; the pipeline lives on until its recordings are final
  GstAppSrc *teacher_src = nullptr;  // owned reference
  std::vector<std::unique_ptr<Tier>> tiers;
  PeerId publisher = 0;
  std::map<std::string, PeerId> listeners;  // user -> peer
  guint bus_watch = 0;
};

struct MediaEngine::Impl {
  const ProfileSet &profiles;
  MediaPipelines pipes;
  IceSettings ice;
  std::unique_ptr<LiteTransport> lite;  // null: every listener has a webrtcbin
  GstClock *clock = nullptr;
  GstClockTime base_time = 0;
  std::map<std::string, std::unique_ptr<ClassMedia>> classes;
  std::map<PeerId, std::unique_ptr<Peer>> peers;
  PeerId next_id = 1;
  // Classes that ended while recording: kept until the recordings have their last page.
  std::vector<std::unique_ptr<ClassMedia>> draining;
  std::map<RecordingId, ClassMedia *> recording_class;
  RecordingId next_recording = 1;
  guint tick = 0;
  // Cleared by the destructor: deferred work queued on the main loop then does nothing.
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  Impl(const ProfileSet &p, MediaPipelines m, IceSettings i, std::unique_ptr<LiteTransport> t)
      : profiles(p), pipes(std::move(m)), ice(std::move(i)), lite(std::move(t)) {}

  Peer *find(PeerId id) {
    auto it = peers.find(id);
    return it == peers.end() || it->second->closed ? nullptr : it->second.get();
  }

  // All pipelines run on one clock from one base time, so a buffer's timestamp means the same
  // moment in every pipeline.
  void share_clock(GstElement *pipeline) {
    gst_pipeline_use_clock(GST_PIPELINE(pipeline), clock);
    gst_element_set_start_time(pipeline, GST_CLOCK_TIME_NONE);
    gst_element_set_base_time(pipeline, base_time);
  }

  Result<ClassMedia *> class_media(const std::string &class_id);
  // `drain`: keep the pipeline until its recordings are final (not at shutdown).
  void destroy_class(ClassMedia *c, bool drain = true);
  void teardown_class(ClassMedia *c);
  void end_recorder(ClassMedia *c, const std::shared_ptr<Recorder> &r);
  void recorder_done(RecordingId id, const std::string &state, const std::string &detail);
  Result<Peer *> new_peer(const std::string &class_id, const std::string &user_id, bool publisher,
                          PeerObserver observer, bool with_webrtcbin = true);
  void listen_webrtcbin(Peer *p, unsigned ssrc);
  void listen_lite(Peer *p, unsigned ssrc);
  void on_receiver_report(Peer *p, double loss, double jitter_ms, double rtt_ms);
  void setup_webrtc(Peer *p);
  void close_peer(Peer *p, const std::string &detail, bool notify);
  void set_state(Peer *p, const std::string &state, const std::string &detail);
  void switch_tier(Peer *p, size_t tier, const std::string &reason);
  void poll_stats(Peer *p);
  void on_tick();
};

namespace {

// ---- GStreamer-thread plumbing: everything hops to the main loop through a PeerRef. ----

struct PeerRef {
  MediaEngine::Impl *engine;
  PeerId id;
  std::shared_ptr<std::atomic<bool>> alive;
};

PeerRef *peer_ref(Peer *p) {
  return new PeerRef{p->engine, p->id, p->alive};
}
void free_peer_ref(gpointer data, GClosure *) {
  delete static_cast<PeerRef *>(data);
}

// Runs fn(peer) on the main loop if the peer is still there.
void with_peer(const PeerRef &r, std::function<void(Peer *)> fn) {
  run_on_main([r, fn = std::move(fn)] {
    if (!r.alive->load()) return;
    if (Peer *p = r.engine->find(r.id)) fn(p);
  });
}

void on_ice_candidate(GstElement *, guint mline, gchar *candidate, gpointer data) {
  auto *r = static_cast<PeerRef *>(data);
  std::string c = candidate ? candidate : "";
  with_peer(*r, [mline, c](Peer *p) {
    std::string out = c;
    const IceSettings &ice = p->engine->ice;
    // Advertise the public address of a 1:1 NAT instead of the local one.
    if (!ice.nat_1to1_address.empty() && out.find(" typ host") != std::string::npos) {
      gchar **parts = g_strsplit(out.c_str(), " ", -1);
      if (g_strv_length(parts) > 5) {
        g_free(parts[4]);
        parts[4] = g_strdup(ice.nat_1to1_address.c_str());
        g_autofree char *joined = g_strjoinv(" ", parts);
        out = joined;
      }
      g_strfreev(parts);
    }
    if (p->observer.local_candidate) p->observer.local_candidate(mline, out);
  });
}

void on_ice_gathering_state(GstElement *webrtc, GParamSpec *, gpointer data) {
  GstWebRTCICEGatheringState s;
  g_object_get(webrtc, "ice-gathering-state", &s, nullptr);
  if (s != GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE) return;
  auto *r = static_cast<PeerRef *>(data);
  with_peer(*r, [](Peer *p) {
    if (p->observer.local_candidate) p->observer.local_candidate(0, "");
  });
}

void on_connection_state(GstElement *webrtc, GParamSpec *, gpointer data) {
  GstWebRTCPeerConnectionState s;
  g_object_get(webrtc, "connection-state", &s, nullptr);
  const char *name = nullptr;
  switch (s) {
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTING:
      name = "connecting";
      break;
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED:
      name = "connected";
      break;
    case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED:
      name = "failed";
      break;
    case GST_WEBRTC_PEER_CONNECTION_STATE_DISCONNECTED:
      name = "disconnected";
      break;
    default:
      return;
  }
  auto *r = static_cast<PeerRef *>(data);
  std::string state = name;
  with_peer(*r, [state](Peer *p) { p->engine->set_state(p, state, ""); });
}

// A publisher's way into the class mixer; one per publisher, used by its streaming thread only.
struct IngestFeed {
  GstAppSrc *target = nullptr;  // owned reference: the class's teacher appsrc
  GstClockTime next_pts = GST_CLOCK_TIME_NONE;
  ~IngestFeed() { gst_object_unref(target); }
};

GstFlowReturn on_ingest_sample(GstAppSink *sink, gpointer data) {
  auto *feed = static_cast<IngestFeed *>(data);
  g_autoptr(GstSample) sample = gst_app_sink_pull_sample(sink);
  if (!sample) return GST_FLOW_OK;
  GstBuffer *buffer = gst_buffer_copy(gst_sample_get_buffer(sample));
  // Stamp with the class pipeline's running time now: the mixer takes it as live input.
  GstElement *target = GST_ELEMENT(feed->target);
  GstClock *clock = gst_element_get_clock(target);
  if (clock) {
    GstClockTime now = gst_clock_get_time(clock) - gst_element_get_base_time(target);
    gst_object_unref(clock);
    // A new publisher, or one back after a gap: tell the mixer to resync at once rather than
    // wait out its discont period (during which it would drop the teacher's audio as late).
    if (!GST_CLOCK_TIME_IS_VALID(feed->next_pts) || now > feed->next_pts + 60 * GST_MSECOND)
      GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DISCONT);
    GST_BUFFER_PTS(buffer) = now;
    GST_BUFFER_DTS(buffer) = GST_CLOCK_TIME_NONE;
    if (GST_BUFFER_DURATION_IS_VALID(buffer)) feed->next_pts = now + GST_BUFFER_DURATION(buffer);
  }
  gst_app_src_push_buffer(feed->target, buffer);
  return GST_FLOW_OK;
}

GstFlowReturn on_tier_sample(GstAppSink *sink, gpointer data) {
  g_autoptr(GstSample) sample = gst_app_sink_pull_sample(sink);
  if (sample) static_cast<Tier *>(data)->deliver(gst_sample_get_buffer(sample));
  return GST_FLOW_OK;
}

gboolean on_bus(GstBus *, GstMessage *msg, gpointer data) {
  if (GST_MESSAGE_TYPE(msg) != GST_MESSAGE_ERROR) return G_SOURCE_CONTINUE;
  g_autoptr(GError) err = nullptr;
  g_autofree char *debug = nullptr;
  gst_message_parse_error(msg, &err, &debug);
  auto *r = static_cast<PeerRef *>(data);
  std::string why = err ? err->message : "pipeline error";
  log_media(LogLevel::kWarning, "peer " + std::to_string(r->id) + ": " + why +
                                    (debug ? std::string(" (") + debug + ")" : ""));
  PeerRef copy = *r;
  run_later([copy, why] {
    if (!copy.alive->load()) return;
    if (Peer *p = copy.engine->find(copy.id)) {
      p->engine->set_state(p, "failed", why);
      p->engine->close_peer(p, "media-error", true);
    }
  });
  return G_SOURCE_CONTINUE;
}

gboolean on_class_bus(GstBus *, GstMessage *msg, gpointer data) {
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    g_autoptr(GError) err = nullptr;
    gst_message_parse_error(msg, &err, nullptr);
    log_media(LogLevel::kError, "class " + *static_cast<std::string *>(data) +
                                    " pipeline: " + (err ? err->message : "error"));
  }
  return G_SOURCE_CONTINUE;
}

GstElement *parse_bin(const std::string &description, std::string *why) {
  g_autoptr(GError) err = nullptr;
  GstElement *bin = gst_parse_bin_from_description_full(description.c_str(), TRUE, nullptr,
                                                        GST_PARSE_FLAG_FATAL_ERRORS, &err);
  if (!bin) *why = err ? err->message : "cannot parse";
  return bin;
}

}  // namespace

Result<ClassMedia *> MediaEngine::Impl::class_media(const std::string &class_id) {
  auto it = classes.find(class_id);
  if (it != classes.end()) return it->second.get();

  auto c = std::make_unique<ClassMedia>();
  c->id = class_id;
  c->pipeline = gst_pipeline_new(("class-" + class_id).c_str());
  share_clock(c->pipeline);
  GstElement *silence = gst_element_factory_make("audiotestsrc", nullptr);
  g_object_set(silence, "wave", 4 /* silence */, "is-live", TRUE, "samplesperbuffer", 480, nullptr);
  GstElement *silence_caps = gst_element_factory_make("capsfilter", nullptr);
  g_autoptr(GstCaps) raw = gst_caps_from_string(kRawCaps);
  g_object_set(silence_caps, "caps", raw, nullptr);
  GstElement *teacher = gst_element_factory_make("appsrc", "teacher");
  g_object_set(teacher, "is-live", TRUE, "format", GST_FORMAT_TIME, "caps", raw, "max-bytes",
               static_cast<guint64>(48000 * 2 / 4) /* 250 ms */, "block", FALSE, "min-latency",
               static_cast<gint64>(0), nullptr);
  gst_util_set_object_arg(G_OBJECT(teacher), "leaky-type", "downstream");
  GstElement *mixer = gst_element_factory_make("audiomixer", nullptr);
  // Start at the first buffer's time (now), not at running time 0: the pipelines share a base
  // time from the engine's start, and from 0 the mixer would first race through every second
  // since then (encoding it all, and giving early listeners a timestamp jump).
  gst_util_set_object_arg(G_OBJECT(mixer), "start-time-selection", "first");
  g_object_set(mixer, "latency", static_cast<guint64>(30 * GST_MSECOND), "output-buffer-duration",
               static_cast<guint64>(10 * GST_MSECOND), nullptr);
  GstElement *mixcaps = gst_element_factory_make("capsfilter", nullptr);
  g_object_set(mixcaps, "caps", raw, nullptr);
  GstElement *tee = gst_element_factory_make("tee", nullptr);
  g_object_set(tee, "allow-not-linked", TRUE, nullptr);
  gst_bin_add_many(GST_BIN(c->pipeline), silence, silence_caps, teacher, mixer, mixcaps, tee,
                   nullptr);
  bool ok = gst_element_link_many(silence, silence_caps, mixer, mixcaps, tee, nullptr) &&
            gst_element_link(teacher, mixer);
  c->teacher_src = GST_APP_SRC(gst_object_ref(teacher));
  c->tee = tee;

  for (const auto &profile : profiles.all()) {
    auto tier = std::make_unique<Tier>();
    tier->profile = &profile;
    std::string why;
    GstElement *queue = gst_element_factory_make("queue", nullptr);
    g_object_set(queue, "max-size-time", static_cast<guint64>(200 * GST_MSECOND), "max-size-bytes",
                 0u, "max-size-buffers", 0u, "leaky", 2 /* downstream */, nullptr);
    GstElement *enc = parse_bin(pipes.encoder(profile), &why);
    if (!enc) {
      gst_object_unref(c->pipeline);
      gst_object_unref(c->teacher_src);
      return media_error(ErrorKind::kInternal, "media_error",
                         "encoder for profile " + profile.name + ": " + why);
    }
    GstElement *sink = gst_element_factory_make("appsink", nullptr);
    g_object_set(sink, "sync", FALSE, "async", FALSE, "max-buffers", 16u, "drop", TRUE, nullptr);
    GstAppSinkCallbacks cb = {};
    cb.new_sample = on_tier_sample;
    gst_app_sink_set_callbacks(GST_APP_SINK(sink), &cb, tier.get(), nullptr);
    gst_bin_add_many(GST_BIN(c->pipeline), queue, enc, sink, nullptr);
    ok = ok && gst_element_link_many(tee, queue, enc, sink, nullptr);
    c->tiers.push_back(std::move(tier));
  }
  if (!ok) {
    gst_object_unref(c->pipeline);
    gst_object_unref(c->teacher_src);
    return media_error(ErrorKind::kInternal, "media_error", "cannot link the class pipeline");
  }
  auto *name = new std::string(class_id);
  GstBus *bus = gst_pipeline_get_bus(GST_PIPELINE(c->pipeline));
  c->bus_watch = gst_bus_add_watch_full(bus, G_PRIORITY_DEFAULT, on_class_bus, name,
                                        [](gpointer p) { delete static_cast<std::string *>(p); });
  gst_object_unref(bus);
  if (gst_element_set_state(c->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    g_source_remove(c->bus_watch);
    gst_object_unref(c->pipeline);
    gst_object_unref(c->teacher_src);
    return media_error(ErrorKind::kInternal, "media_error", "the class pipeline cannot start");
  }
  log_media(LogLevel::kInfo, "class " + class_id + ": media started (" +
                                 std::to_string(c->tiers.size()) + " profiles)");
  ClassMedia *raw_ptr = c.get();
  classes[class_id] = std::move(c);
  return raw_ptr;
}

void MediaEngine::Impl::destroy_class(ClassMedia *c, bool drain) {
  std::vector<PeerId> ids;
  if (c->publisher) ids.push_back(c->publisher);
  for (auto &[user, id] : c->listeners)
    ids.push_back(id);
  for (PeerId id : ids)
    if (Peer *p = find(id)) close_peer(p, "class-ended", true);
  auto it = classes.find(c->id);
  if (!drain || c->recorders.empty() || it == classes.end()) return teardown_class(c);
  // Recordings get their final page first; the pipeline goes when they have (or after 5 s).
  c->ended = true;
  draining.push_back(std::move(it->second));
  classes.erase(it);
  for (auto [id, r] : std::map<RecordingId, std::shared_ptr<Recorder>>(c->recorders))
    end_recorder(c, r);
  struct Drain {
    Impl *engine;
    ClassMedia *c;
    std::shared_ptr<bool> alive;
  };
  c->drain_timer = g_timeout_add_seconds_full(
      G_PRIORITY_DEFAULT, 5,
      [](gpointer d) -> gboolean {
        auto *x = static_cast<Drain *>(d);
        if (!*x->alive) return G_SOURCE_REMOVE;
        x->c->drain_timer = 0;
        for (auto &held : x->engine->draining)
          if (held.get() == x->c) {
            for (auto &[id, r] : std::map(x->c->recorders))
              x->engine->recorder_done(id, "failed", "the recording did not finish in time");
            break;
          }
        return G_SOURCE_REMOVE;
      },
      new Drain{this, c, alive}, [](gpointer d) { delete static_cast<Drain *>(d); });
}

void MediaEngine::Impl::teardown_class(ClassMedia *c) {
  for (auto &[id, r] : c->recorders) {
    recording_class.erase(id);
    if (r->observer) r->observer("failed", "the server stopped before the recording finished");
  }
  if (c->drain_timer) g_source_remove(c->drain_timer);
  c->drain_timer = 0;
  gst_element_set_state(c->pipeline, GST_STATE_NULL);
  for (auto &[id, r] : c->recorders)
    c->finished.push_back(r);
  c->recorders.clear();
  for (auto &r : c->finished)
    if (r->tee_pad) {
      gst_element_release_request_pad(c->tee, r->tee_pad);
      gst_object_unref(r->tee_pad);
      r->tee_pad = nullptr;
    }
  c->finished.clear();
  g_source_remove(c->bus_watch);
  gst_object_unref(c->teacher_src);
  gst_object_unref(c->pipeline);
  log_media(LogLevel::kInfo, "class " + c->id + ": media stopped");
  if (!c->ended) {
    classes.erase(c->id);
    return;
  }
  std::erase_if(draining, [c](const std::unique_ptr<ClassMedia> &d) { return d.get() == c; });
}

namespace {

struct RecorderRef {
  MediaEngine::Impl *engine;
  RecordingId id;
  std::shared_ptr<bool> alive;
};

// From a streaming thread to the main loop. Always queued (never run in the calling thread,
// even while nobody iterates the main context, as during shutdown).
void recorder_news(const RecorderRef &ref, const std::string &state, const std::string &detail) {
  struct News {
    RecorderRef ref;
    std::string state, detail;
  };
  g_idle_add_full(
      G_PRIORITY_DEFAULT,
      [](gpointer d) -> gboolean {
        auto *n = static_cast<News *>(d);
        if (*n->ref.alive) n->ref.engine->recorder_done(n->ref.id, n->state, n->detail);
        return G_SOURCE_REMOVE;
      },
      new News{ref, state, detail}, [](gpointer d) { delete static_cast<News *>(d); });
}

// The recording branch's streaming thread: write every Ogg page as it comes.
GstFlowReturn on_recorder_sample(GstAppSink *sink, gpointer data) {
  auto *ref = static_cast<std::pair<RecorderRef, std::shared_ptr<Recorder>> *>(data);
  Recorder &r = *ref->second;
  g_autoptr(GstSample) sample = gst_app_sink_pull_sample(sink);
  if (!sample || r.failed) return GST_FLOW_OK;
  GstBuffer *buffer = gst_sample_get_buffer(sample);
  GstMapInfo map;
  if (!buffer || !gst_buffer_map(buffer, &map, GST_MAP_READ)) return GST_FLOW_OK;
  size_t done = 0;
  int err = 0;
  while (done < map.size) {
    ssize_t n = write(r.fd, map.data + done, map.size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : ENOSPC;
      break;
    }
    done += static_cast<size_t>(n);
  }
  gst_buffer_unmap(buffer, &map);
  int64_t now = g_get_monotonic_time();
  if (!err && now - r.synced_at_us > 5 * G_USEC_PER_SEC) {
    if (fdatasync(r.fd) != 0 && errno != EINVAL) err = errno;
    r.synced_at_us = now;
  }
  if (err) {
    r.failed = true;
    r.finished = true;
    recorder_news(ref->first, "failed",
                  std::string("cannot write the recording: ") + strerror(err));
  } else if (!r.started) {
    r.started = true;
    r.synced_at_us = now;
    // The first page holds only headers; time 0 is about now, less the mixer's latency.
    recorder_news(ref->first, "recording", std::to_string(g_get_real_time() / 1000 - 40));
  }
  return GST_FLOW_OK;
}

void on_recorder_eos(GstAppSink *, gpointer data) {
  auto *ref = static_cast<std::pair<RecorderRef, std::shared_ptr<Recorder>> *>(data);
  Recorder &r = *ref->second;
  if (r.failed) return;
  if (fdatasync(r.fd) != 0 && errno != EINVAL) {
    r.failed = true;
    r.finished = true;
    return recorder_news(ref->first, "failed",
                         std::string("cannot write the recording: ") + strerror(errno));
  }
  r.finished = true;
  recorder_news(ref->first, "stopped", "");
}

}  // namespace

// Cuts the branch off the tee where no buffer is in flight, then sends it EOS so the encoder
// and the muxer write their last page; on_recorder_eos reports when that is on disk.
void MediaEngine::Impl::end_recorder(ClassMedia *, const std::shared_ptr<Recorder> &r) {
  if (r->ending) return;
  r->ending = true;
  gst_pad_add_probe(
      r->tee_pad, GST_PAD_PROBE_TYPE_IDLE,
      [](GstPad *pad, GstPadProbeInfo *, gpointer d) -> GstPadProbeReturn {
        Recorder &rec = **static_cast<std::shared_ptr<Recorder> *>(d);
        if (rec.unlinked.exchange(true)) return GST_PAD_PROBE_REMOVE;
        if (GstPad *peer = gst_pad_get_peer(pad)) {
          gst_pad_unlink(pad, peer);
          gst_pad_send_event(peer, gst_event_new_eos());
          gst_object_unref(peer);
        }
        return GST_PAD_PROBE_REMOVE;
      },
      new std::shared_ptr<Recorder>(r),
      [](gpointer d) { delete static_cast<std::shared_ptr<Recorder> *>(d); });
}

namespace {

// Takes a finished recording branch out of its pipeline once it is off the tee (the probe that
// cuts it may still be pending; then this looks again every 20 ms).
void remove_branch(GstElement *pipeline, GstElement *tee, std::shared_ptr<Recorder> r) {
  struct Job {
    GstElement *pipeline, *tee;
    std::shared_ptr<Recorder> r;
    int tries = 0;
  };
  auto *job = new Job{GST_ELEMENT(gst_object_ref(pipeline)), GST_ELEMENT(gst_object_ref(tee)),
                      std::move(r)};
  g_timeout_add_full(
      G_PRIORITY_DEFAULT, 20,
      [](gpointer d) -> gboolean {
        auto *j = static_cast<Job *>(d);
        if (!j->r->unlinked && ++j->tries < 250) return G_SOURCE_CONTINUE;
        Recorder &r = *j->r;
        for (GstElement *e : {r.queue, r.encoder, r.sink}) {
          gst_element_set_locked_state(e, TRUE);
          gst_element_set_state(e, GST_STATE_NULL);
        }
        gst_bin_remove_many(GST_BIN(j->pipeline), r.queue, r.encoder, r.sink, nullptr);
        gst_element_release_request_pad(j->tee, r.tee_pad);
        gst_object_unref(r.tee_pad);
        r.tee_pad = nullptr;
        return G_SOURCE_REMOVE;
      },
      job,
      [](gpointer d) {
        auto *j = static_cast<Job *>(d);
        gst_object_unref(j->tee);
        gst_object_unref(j->pipeline);
        delete j;
      });
}

}  // namespace

// On the main loop: a recording's news. Its last ("stopped"/"failed") removes the branch, and
// the class pipeline too if the class ended and this was its last recording.
void MediaEngine::Impl::recorder_done(RecordingId id, const std::string &state,
                                      const std::string &detail) {
  auto where = recording_class.find(id);
  if (where == recording_class.end()) return;
  ClassMedia *c = where->second;
  auto it = c->recorders.find(id);
  if (it == c->recorders.end()) return;
  std::shared_ptr<Recorder> r = it->second;
  if (state == "recording") {
    if (r->observer) r->observer(state, detail);
    return;
  }
  if (state == "failed")
    log_media(LogLevel::kError, "class " + c->id + ": recording " + r->path + ": " + detail);
  recording_class.erase(where);
  c->recorders.erase(it);
  if (!r->ending) end_recorder(c, r);
  if (c->ended)
    c->finished.push_back(r);  // the class's pipeline goes as a whole
  else
    remove_branch(c->pipeline, c->tee, r);
  RecordingObserver observer = std::move(r->observer);
  if (c->ended && c->recorders.empty()) teardown_class(c);
  if (observer) observer(state, detail);
}

void MediaEngine::Impl::setup_webrtc(Peer *p) {
  g_object_set(p->webrtc, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, nullptr);
  if (!ice.stun_server.empty())
    g_object_set(p->webrtc, "stun-server", ice.stun_server.c_str(), nullptr);
  if (p->publisher)
    g_object_set(p->webrtc, "latency", static_cast<guint>(ice.ingest_latency_ms), nullptr);
  GstWebRTCICE *agent = nullptr;
  g_object_get(p->webrtc, "ice-agent", &agent, nullptr);
  if (agent) {
    GObjectClass *k = G_OBJECT_GET_CLASS(agent);
    if (g_object_class_find_property(k, "ice-tcp")) g_object_set(agent, "ice-tcp", FALSE, nullptr);
    if (ice.port_min > 0 && g_object_class_find_property(k, "min-rtp-port"))
      g_object_set(agent, "min-rtp-port", static_cast<guint>(ice.port_min), "max-rtp-port",
                   static_cast<guint>(ice.port_max), nullptr);
    if (g_object_class_find_property(k, "agent")) {
      GObject *nice = nullptr;
      g_object_get(agent, "agent", &nice, nullptr);
      if (nice) {
        if (g_object_class_find_property(G_OBJECT_GET_CLASS(nice), "upnp"))
          g_object_set(nice, "upnp", FALSE, nullptr);
        g_object_unref(nice);
      }
    }
    for (const auto &addr : ice.local_addresses) {
      gboolean ok = FALSE;
      g_signal_emit_by_name(agent, "add-local-ip-address", addr.c_str(), &ok);
      if (!ok) log_media(LogLevel::kWarning, "cannot gather on " + addr);
    }
    gst_object_unref(agent);
  }
  g_signal_connect_data(p->webrtc, "on-ice-candidate", G_CALLBACK(on_ice_candidate), peer_ref(p),
                        free_peer_ref, GConnectFlags(0));
  g_signal_connect_data(p->webrtc, "notify::ice-gathering-state",
                        G_CALLBACK(on_ice_gathering_state), peer_ref(p), free_peer_ref,
                        GConnectFlags(0));
  g_signal_connect_data(p->webrtc, "notify::connection-state", G_CALLBACK(on_connection_state),
                        peer_ref(p), free_peer_ref, GConnectFlags(0));
  GstBus *bus = gst_pipeline_get_bus(GST_PIPELINE(p->pipeline));
  p->bus_watch = gst_bus_add_watch_full(bus, G_PRIORITY_DEFAULT, on_bus, peer_ref(p),
                                        [](gpointer d) { delete static_cast<PeerRef *>(d); });
  gst_object_unref(bus);
}

Result<Peer *> MediaEngine::Impl::new_peer(const std::string &class_id, const std::string &user_id,
                                           bool publisher, PeerObserver observer,
                                           bool with_webrtcbin) {
  auto c = class_media(class_id);
  if (!c) return c.error();
  auto p = std::make_unique<Peer>();
  p->engine = this;
  p->id = next_id++;
  p->publisher = publisher;
  p->class_id = class_id;
  p->user_id = user_id;
  p->observer = std::move(observer);
  if (!with_webrtcbin) {
    Peer *raw = p.get();
    peers[p->id] = std::move(p);
    return raw;
  }
  p->pipeline =
      gst_pipeline_new(((publisher ? "publisher-" : "listener-") + std::to_string(p->id)).c_str());
  share_clock(p->pipeline);
  p->webrtc = gst_element_factory_make("webrtcbin", nullptr);
  if (!p->webrtc) {
    gst_object_unref(p->pipeline);
    return media_error(ErrorKind::kInternal, "media_error", "webrtcbin is not installed");
  }
  gst_bin_add(GST_BIN(p->pipeline), p->webrtc);
  Peer *raw = p.get();
  peers[p->id] = std::move(p);
  setup_webrtc(raw);
  return raw;
}

void MediaEngine::Impl::set_state(Peer *p, const std::string &state, const std::string &detail) {
  if (p->state == state) return;
  p->state = state;
  log_media(LogLevel::kDebug, "peer " + std::to_string(p->id) + " (" + p->user_id + "): " + state);
  if (p->observer.state) p->observer.state(state, detail);
}

void MediaEngine::Impl::close_peer(Peer *p, const std::string &detail, bool notify) {
  if (p->closed) return;
  p->closed = true;
  p->alive->store(false);
  auto cit = classes.find(p->class_id);
  if (cit != classes.end()) {
    ClassMedia *c = cit->second.get();
    if (p->publisher && c->publisher == p->id) c->publisher = 0;
    if (!p->publisher) {
      auto lit = c->listeners.find(p->user_id);
      if (lit != c->listeners.end() && lit->second == p->id) c->listeners.erase(lit);
      if (p->feed && p->tier < c->tiers.size()) c->tiers[p->tier]->remove(p->feed);
    }
  }
  log_media(LogLevel::kDebug,
            "peer " + std::to_string(p->id) + " (" + p->user_id + "): closed (" + detail + ")");
  if (p->bus_watch) g_source_remove(p->bus_watch);
  p->bus_watch = 0;
  if (p->pipeline) {
    gst_element_set_state(p->pipeline, GST_STATE_NULL);
    gst_object_unref(p->pipeline);
  }
  p->pipeline = p->webrtc = nullptr;
  if (p->lite && lite) lite->remove(p->lite);
  PeerObserver observer = std::move(p->observer);
  PeerId id = p->id;
  if (notify && observer.state) observer.state("closed", detail);
  // Free the peer later: we may be inside one of its own callbacks.
  run_later([this, id, alive = alive] {
    if (*alive) peers.erase(id);
  });
}

void MediaEngine::Impl::switch_tier(Peer *p, size_t tier, const std::string &reason) {
  auto cit = classes.find(p->class_id);
  if (cit == classes.end() || tier >= cit->second->tiers.size()) return;
  ClassMedia *c = cit->second.get();
  if (tier != p->tier) {
    c->tiers[p->tier]->remove(p->feed);
    c->tiers[tier]->add(p->feed);
    p->tier = tier;
    log_media(LogLevel::kInfo, "listener " + p->user_id + " in " + p->class_id + " -> " +
                                   c->tiers[tier]->profile->name + " (" + reason + ")");
  }
  if (p->observer.profile_changed)
    p->observer.profile_changed(c->tiers[tier]->profile->name, reason);
}

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

// Reads the listener's RTCP receiver reports (webrtcbin's remote-inbound-rtp stats) and feeds
// the controller. A report only counts when it is new: the RR's values change.
void MediaEngine::Impl::poll_stats(Peer *p) {
  if (p->stats_pending || !p->webrtc) return;
  p->stats_pending = true;
  GstPromise *promise = gst_promise_new_with_change_func(
      [](GstPromise *promise, gpointer data) {
        RemoteInbound r;
        if (const GstStructure *reply = gst_promise_get_reply(promise))
          gst_structure_foreach(reply, find_remote_inbound, &r);
        gst_promise_unref(promise);
        PeerRef ref = *static_cast<PeerRef *>(data);
        delete static_cast<PeerRef *>(data);
        with_peer(ref, [r](Peer *peer) {
          peer->stats_pending = false;
          if (r.loss < 0) return;
          if (r.loss == peer->loss && r.rtt_s * 1000 == peer->rtt_ms &&
              r.jitter_s == peer->jitter_s)
            return;  // the same receiver report as last time
          log_media(LogLevel::kDebug, "listener " + peer->user_id + ": receiver report loss " +
                                          std::to_string(r.loss) + " rtt " +
                                          std::to_string(r.rtt_s));
          peer->loss = r.loss;
          peer->rtt_ms = r.rtt_s >= 0 ? r.rtt_s * 1000 : -1;
          peer->jitter_s = r.jitter_s;
          LinkReport report;
          report.now_ms = g_get_monotonic_time() / 1000;
          report.loss_fraction = r.loss;
          if (r.rtt_s >= 0) report.rtt_ms = r.rtt_s * 1000;
          if (r.jitter_s >= 0) report.jitter_ms = r.jitter_s * 1000;
          if (auto d = peer->controller->report(report))
            peer->engine->switch_tier(peer, d->index, d->reason);
        });
      },
      peer_ref(p), nullptr);
  g_signal_emit_by_name(p->webrtc, "get-stats", nullptr, promise);
}

void MediaEngine::Impl::on_tick() {
  int64_t now = g_get_monotonic_time() / 1000;
  for (auto &[id, peer] : peers) {
    Peer *p = peer.get();
    if (p->closed || p->publisher || !p->controller) continue;
    if (!p->lite) poll_stats(p);  // lite listeners' reports arrive as they come
    if (auto d = p->controller->tick(now)) switch_tier(p, d->index, d->reason);
  }
}

MediaEngine::MediaEngine(const ProfileSet &profiles, MediaPipelines pipelines, IceSettings ice,
                         std::unique_ptr<LiteTransport> lite)
    : impl_(
          std::make_unique<Impl>(profiles, std::move(pipelines), std::move(ice), std::move(lite))) {
  impl_->clock = gst_system_clock_obtain();
  impl_->base_time = gst_clock_get_time(impl_->clock);
  impl_->tick = g_timeout_add(
      impl_->ice.stats_interval_ms,
      [](gpointer d) -> gboolean {
        static_cast<Impl *>(d)->on_tick();
        return G_SOURCE_CONTINUE;
      },
      impl_.get());
}

MediaEngine::~MediaEngine() {
  g_source_remove(impl_->tick);
  *impl_->alive = false;
  // Recordings get their last page written (up to 2 s), so they end complete; their owners
  // (plugins, shutting down) are not called any more.
  std::vector<std::shared_ptr<Recorder>> open;
  auto finish = [&](ClassMedia *c) {
    for (auto &[id, r] : c->recorders) {
      r->observer = nullptr;
      impl_->end_recorder(c, r);
      open.push_back(r);
    }
  };
  for (auto &[id, c] : impl_->classes)
    finish(c.get());
  for (auto &c : impl_->draining)
    finish(c.get());
  for (int i = 0; i < 200 && !std::all_of(open.begin(), open.end(),
                                          [](auto &r) { return r->finished.load(); });
       i++)
    g_usleep(10000);
  while (!impl_->classes.empty())
    impl_->destroy_class(impl_->classes.begin()->second.get(), false);
  while (!impl_->draining.empty())
    impl_->teardown_class(impl_->draining.back().get());
  impl_->peers.clear();
  gst_object_unref(impl_->clock);
}

Result<PeerId> MediaEngine::publish(const std::string &class_id, const std::string &user_id,
                                    const std::string &offer_sdp, PeerObserver observer) {
  GstSDPMessage *sdp = nullptr;
  if (gst_sdp_message_new_from_text(offer_sdp.c_str(), &sdp) != GST_SDP_OK || !sdp ||
      gst_sdp_message_medias_len(sdp) == 0) {
    if (sdp) gst_sdp_message_free(sdp);
    return media_error(ErrorKind::kInvalid, "invalid_sdp", "The offer is not a usable SDP.");
  }
  bool has_opus = false;
  for (guint i = 0; i < gst_sdp_message_medias_len(sdp); i++) {
    const GstSDPMedia *m = gst_sdp_message_get_media(sdp, i);
    if (g_strcmp0(gst_sdp_media_get_media(m), "audio") != 0) continue;
    for (guint a = 0; a < gst_sdp_media_attributes_len(m); a++) {
      const GstSDPAttribute *attr = gst_sdp_media_get_attribute(m, a);
      if (g_strcmp0(attr->key, "rtpmap") != 0 || !attr->value) continue;
      g_autofree char *lower = g_ascii_strdown(attr->value, -1);
      if (g_strrstr(lower, "opus/48000")) has_opus = true;
    }
  }
  if (!has_opus) {
    gst_sdp_message_free(sdp);
    return media_error(ErrorKind::kInvalid, "invalid_sdp",
                       "The offer has no Opus audio; send audio with Opus.");
  }
  auto c = impl_->class_media(class_id);
  if (!c) {
    gst_sdp_message_free(sdp);
    return c.error();
  }
  if ((*c)->publisher)
    if (Peer *old = impl_->find((*c)->publisher)) impl_->close_peer(old, "replaced", true);
  auto made = impl_->new_peer(class_id, user_id, true, std::move(observer));
  if (!made) {
    gst_sdp_message_free(sdp);
    return made.error();
  }
  Peer *p = *made;
  (*c)->publisher = p->id;

  // The teacher's stream: webrtcbin pad -> decode -> appsink -> the class mixer.
  std::string why;
  GstElement *decode = parse_bin(impl_->pipes.decode(), &why);
  GstElement *sink = gst_element_factory_make("appsink", nullptr);
  g_object_set(sink, "sync", FALSE, "async", FALSE, "max-buffers", 32u, "drop", TRUE, nullptr);
  GstAppSinkCallbacks cb = {};
  cb.new_sample = on_ingest_sample;
  auto *ingest = new IngestFeed{GST_APP_SRC(gst_object_ref((*c)->teacher_src))};
  gst_app_sink_set_callbacks(GST_APP_SINK(sink), &cb, ingest,
                             [](gpointer d) { delete static_cast<IngestFeed *>(d); });
  gst_bin_add_many(GST_BIN(p->pipeline), decode, sink, nullptr);
  gst_element_link(decode, sink);
  // The first audio stream is the teacher's voice. Any further one (a client offering more
  // than one audio m-line) goes to a fakesink, so it cannot stall or error the session.
  g_signal_connect(p->webrtc, "pad-added",
                   G_CALLBACK(+[](GstElement *webrtc, GstPad *pad, gpointer d) {
                     if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
                     auto *dec = static_cast<GstElement *>(d);
                     GstPad *sinkpad = gst_element_get_static_pad(dec, "sink");
                     if (!gst_pad_is_linked(sinkpad)) {
                       gst_pad_link(pad, sinkpad);
                     } else {
                       log_media(LogLevel::kWarning,
                                 "publisher sent a second audio stream; only the first is used");
                       GstElement *sink = gst_element_factory_make("fakesink", nullptr);
                       g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
                       GstObject *parent = gst_element_get_parent(webrtc);
                       gst_bin_add(GST_BIN(parent), sink);
                       gst_object_unref(parent);
                       gst_element_sync_state_with_parent(sink);
                       GstPad *fake = gst_element_get_static_pad(sink, "sink");
                       gst_pad_link(pad, fake);
                       gst_object_unref(fake);
                     }
                     gst_object_unref(sinkpad);
                   }),
                   decode);
  gst_element_set_state(p->pipeline, GST_STATE_PLAYING);

  GstWebRTCSessionDescription *offer =
      gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, sdp);
  PeerRef *ref = peer_ref(p);
  GstPromise *set_remote = gst_promise_new_with_change_func(
      [](GstPromise *promise, gpointer data) {
        gst_promise_unref(promise);
        PeerRef r = *static_cast<PeerRef *>(data);
        with_peer(r, [](Peer *peer) {
          // Receive only: the server sends nothing back to the teacher.
          GArray *transceivers = nullptr;
          g_signal_emit_by_name(peer->webrtc, "get-transceivers", &transceivers);
          for (guint i = 0; transceivers && i < transceivers->len; i++) {
            auto *t = g_array_index(transceivers, GstWebRTCRTPTransceiver *, i);
            g_object_set(t, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, nullptr);
          }
          if (transceivers) g_array_unref(transceivers);
          PeerRef *inner = peer_ref(peer);
          GstPromise *answer_promise = gst_promise_new_with_change_func(
              [](GstPromise *pr, gpointer d2) {
                GstWebRTCSessionDescription *answer = nullptr;
                const GstStructure *reply = gst_promise_get_reply(pr);
                if (reply)
                  gst_structure_get(reply, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &answer,
                                    nullptr);
                gst_promise_unref(pr);
                PeerRef r2 = *static_cast<PeerRef *>(d2);
                delete static_cast<PeerRef *>(d2);
                if (!answer) {
                  with_peer(r2, [](Peer *pp) {
                    pp->engine->set_state(pp, "failed", "cannot answer the offer");
                    pp->engine->close_peer(pp, "negotiation-failed", true);
                  });
                  return;
                }
                gchar *text = gst_sdp_message_as_text(answer->sdp);
                std::string sdp_text = text;
                g_free(text);
                with_peer(r2, [answer, sdp_text](Peer *pp) {
                  g_signal_emit_by_name(pp->webrtc, "set-local-description", answer, nullptr);
                  gst_webrtc_session_description_free(answer);
                  if (pp->observer.local_description)
                    pp->observer.local_description("answer", sdp_text);
                });
              },
              inner, nullptr);
          g_signal_emit_by_name(peer->webrtc, "create-answer", nullptr, answer_promise);
        });
      },
      ref, [](gpointer d) { delete static_cast<PeerRef *>(d); });
  g_signal_emit_by_name(p->webrtc, "set-remote-description", offer, set_remote);
  gst_webrtc_session_description_free(offer);
  return p->id;
}

Result<PeerId> MediaEngine::listen(const std::string &class_id, const std::string &user_id,
                                   const std::string &profile, PeerObserver observer) {
  size_t tier = 0;
  bool pinned = false;
  const auto &all = impl_->profiles.all();
  if (profile != "auto") {
    const BandwidthProfile *bp = impl_->profiles.find(profile);
    if (!bp)
      return media_error(ErrorKind::kInvalid, "invalid_field",
                         "Field 'profile' must be one of: " + impl_->profiles.names_joined() + ".");
    tier = static_cast<size_t>(bp - all.data());
    pinned = true;
  } else {
    // Start low and let the controller climb: a 2G student must hear the first words.
    tier = all.size() > 1 ? 1 : 0;
  }
  auto c = impl_->class_media(class_id);
  if (!c) return c.error();
  auto existing = (*c)->listeners.find(user_id);
  if (existing != (*c)->listeners.end())
    if (Peer *old = impl_->find(existing->second)) impl_->close_peer(old, "replaced", true);

  auto made = impl_->new_peer(class_id, user_id, false, std::move(observer), !impl_->lite);
  if (!made) return made.error();
  Peer *p = *made;
  (*c)->listeners[user_id] = p->id;
  p->feed = std::make_shared<Feed>();
  p->tier = tier;
  p->controller = std::make_unique<BandwidthController>(impl_->profiles, tier);
  if (pinned) p->controller->pin(tier, g_get_monotonic_time() / 1000);
  unsigned ssrc = g_random_int();
  if (impl_->lite)
    impl_->listen_lite(p, ssrc);
  else
    impl_->listen_webrtcbin(p, ssrc);
  (*c)->tiers[tier]->add(p->feed);
  return p->id;
}

void MediaEngine::Impl::listen_lite(Peer *p, unsigned ssrc) {
  PeerRef ref = {this, p->id, p->alive};
  LiteEvents events;
  events.state = [ref](const std::string &state, const std::string &detail) {
    with_peer(ref, [state, detail](Peer *peer) { peer->engine->set_state(peer, state, detail); });
  };
  events.report = [ref](double loss, double jitter_ms, double rtt_ms) {
    with_peer(ref,
              [=](Peer *peer) { peer->engine->on_receiver_report(peer, loss, jitter_ms, rtt_ms); });
  };
  p->lite = lite->create(ssrc, kOpusPt, "gramothi-" + std::to_string(p->id), std::move(events));
  p->feed->lite = p->lite;
  // The offer carries every candidate (ICE-lite gathers nothing): end-of-candidates follows.
  run_later([ref] {
    if (!ref.alive->load()) return;
    Peer *peer = ref.engine->find(ref.id);
    if (!peer) return;
    if (peer->observer.local_description)
      peer->observer.local_description("offer", peer->lite->offer_sdp());
    if (peer->observer.local_candidate) peer->observer.local_candidate(0, "");
    peer->engine->switch_tier(peer, peer->tier, peer->controller->pinned() ? "pinned" : "initial");
  });
}

void MediaEngine::Impl::on_receiver_report(Peer *p, double loss, double jitter_ms, double rtt_ms) {
  p->loss = loss;
  p->rtt_ms = rtt_ms;
  p->jitter_s = jitter_ms / 1000;
  LinkReport report;
  report.now_ms = g_get_monotonic_time() / 1000;
  report.loss_fraction = loss;
  if (rtt_ms >= 0) report.rtt_ms = rtt_ms;
  if (jitter_ms >= 0) report.jitter_ms = jitter_ms;
  if (auto d = p->controller->report(report)) switch_tier(p, d->index, d->reason);
}

void MediaEngine::Impl::listen_webrtcbin(Peer *p, unsigned ssrc) {
  std::string why;
  GstElement *src = gst_element_factory_make("appsrc", nullptr);
  g_autoptr(GstCaps) opus = gst_caps_from_string(kOpusCaps);
  // About 1 s of the listener's Opus may wait; beyond that the oldest frames are dropped.
  g_object_set(src, "is-live", TRUE, "format", GST_FORMAT_TIME, "caps", opus, "block", FALSE,
               "max-bytes", static_cast<guint64>(16 * 1024), nullptr);
  gst_util_set_object_arg(G_OBJECT(src), "leaky-type", "downstream");
  GstElement *pay = parse_bin(pipes.payloader(kOpusPt, ssrc), &why);
  gst_bin_add_many(GST_BIN(p->pipeline), src, pay, nullptr);
  gst_element_link(src, pay);

  // One send-only audio m-line: the requested pad creates the transceiver, then we set its
  // direction and codec (with the SSRC, so the offer carries a=ssrc).
  g_autofree char *prefs = g_strdup_printf(
      "application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=%u,"
      "encoding-params=(string)2,ssrc=(uint)%u,useinbandfec=(string)1,minptime=(string)10",
      kOpusPt, ssrc);
  g_autoptr(GstCaps) prefs_caps = gst_caps_from_string(prefs);
  GstPad *wsink = gst_element_request_pad_simple(p->webrtc, "sink_%u");
  GstWebRTCRTPTransceiver *trans = nullptr;
  g_object_get(wsink, "transceiver", &trans, nullptr);
  if (trans) {
    g_object_set(trans, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY,
                 "codec-preferences", prefs_caps, nullptr);
    gst_object_unref(trans);
  }
  GstPad *paysrc = gst_element_get_static_pad(pay, "src");
  gst_pad_link(paysrc, wsink);
  gst_object_unref(paysrc);
  gst_object_unref(wsink);

  p->feed->src = GST_APP_SRC(gst_object_ref(src));
  gst_element_set_state(p->pipeline, GST_STATE_PLAYING);

  // Offer from the main loop, after setup (not from on-negotiation-needed).
  PeerRef ref = {p->engine, p->id, p->alive};
  run_later([ref] {
    if (!ref.alive->load()) return;
    Peer *peer = ref.engine->find(ref.id);
    if (!peer) return;
    GstPromise *promise = gst_promise_new_with_change_func(
        [](GstPromise *pr, gpointer d) {
          GstWebRTCSessionDescription *offer = nullptr;
          const GstStructure *reply = gst_promise_get_reply(pr);
          if (reply)
            gst_structure_get(reply, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &offer, nullptr);
          gst_promise_unref(pr);
          PeerRef r = *static_cast<PeerRef *>(d);
          delete static_cast<PeerRef *>(d);
          with_peer(r, [offer](Peer *pp) {
            if (!offer) {
              pp->engine->set_state(pp, "failed", "cannot create an offer");
              pp->engine->close_peer(pp, "negotiation-failed", true);
              return;
            }
            g_signal_emit_by_name(pp->webrtc, "set-local-description", offer, nullptr);
            gchar *text = gst_sdp_message_as_text(offer->sdp);
            std::string sdp_text = text;
            g_free(text);
            gst_webrtc_session_description_free(offer);
            if (pp->observer.local_description) pp->observer.local_description("offer", sdp_text);
          });
        },
        new PeerRef(ref), nullptr);
    g_signal_emit_by_name(peer->webrtc, "create-offer", nullptr, promise);
    // Tell the student where they start.
    peer->engine->switch_tier(peer, peer->tier, peer->controller->pinned() ? "pinned" : "initial");
  });
}

std::optional<Error> MediaEngine::remote_answer(PeerId id, const std::string &sdp_text) {
  Peer *p = impl_->find(id);
  if (!p) return media_error(ErrorKind::kConflict, "no_session", "No media session to answer.");
  if (p->publisher)
    return media_error(ErrorKind::kConflict, "unexpected_answer",
                       "The publisher sends an offer, not an answer.");
  if (p->lite) return p->lite->set_answer(sdp_text);
  GstSDPMessage *sdp = nullptr;
  if (gst_sdp_message_new_from_text(sdp_text.c_str(), &sdp) != GST_SDP_OK || !sdp ||
      gst_sdp_message_medias_len(sdp) == 0) {
    if (sdp) gst_sdp_message_free(sdp);
    return media_error(ErrorKind::kInvalid, "invalid_sdp", "The answer is not a usable SDP.");
  }
  GstWebRTCSessionDescription *answer =
      gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_ANSWER, sdp);
  g_signal_emit_by_name(p->webrtc, "set-remote-description", answer, nullptr);
  gst_webrtc_session_description_free(answer);
  return std::nullopt;
}

std::optional<Error> MediaEngine::remote_candidate(PeerId id, unsigned mline,
                                                   const std::string &candidate) {
  Peer *p = impl_->find(id);
  if (!p) return media_error(ErrorKind::kConflict, "no_session", "No media session for ICE.");
  if (mline > 16)
    return media_error(ErrorKind::kInvalid, "invalid_field", "Field 'sdpMLineIndex' is too big.");
  // ICE-lite: the listener's own checks find the path, so its candidates are not needed.
  if (p->lite) return std::nullopt;
  // An empty candidate marks the end of the remote candidates.
  g_signal_emit_by_name(p->webrtc, "add-ice-candidate", mline,
                        candidate.empty() ? nullptr : candidate.c_str());
  return std::nullopt;
}

std::optional<Error> MediaEngine::set_profile(PeerId id, const std::string &profile) {
  Peer *p = impl_->find(id);
  if (!p || p->publisher)
    return media_error(ErrorKind::kConflict, "not_listening", "Send 'listen' first.");
  int64_t now = g_get_monotonic_time() / 1000;
  if (profile == "auto") {
    if (!p->controller->pinned()) return std::nullopt;  // already automatic
    p->controller->pin(std::nullopt, now);
    impl_->switch_tier(p, p->tier, "auto");
    return std::nullopt;
  }
  const BandwidthProfile *bp = impl_->profiles.find(profile);
  if (!bp)
    return media_error(ErrorKind::kInvalid, "invalid_field",
                       "Field 'profile' must be one of: " + impl_->profiles.names_joined() + ".");
  size_t index = static_cast<size_t>(bp - impl_->profiles.all().data());
  // The same pin again (the WebSocket choice echoed by the REST pin event) changes nothing.
  if (p->controller->pinned() && p->tier == index) return std::nullopt;
  p->controller->pin(index, now);
  impl_->switch_tier(p, index, "pinned");
  return std::nullopt;
}

std::optional<Error> MediaEngine::client_report(PeerId id, int downlink_kbps, int rtt_ms,
                                                double loss) {
  Peer *p = impl_->find(id);
  if (!p || p->publisher)
    return media_error(ErrorKind::kConflict, "not_listening", "Send 'listen' first.");
  LinkReport r;
  r.now_ms = g_get_monotonic_time() / 1000;
  if (downlink_kbps >= 0) r.downlink_kbps = downlink_kbps;
  if (rtt_ms >= 0) r.rtt_ms = rtt_ms;
  if (loss >= 0) r.loss_fraction = loss;
  if (auto d = p->controller->report(r)) impl_->switch_tier(p, d->index, d->reason);
  return std::nullopt;
}

void MediaEngine::pin_user(const std::string &class_id, const std::string &user_id,
                           const std::string &profile) {
  auto c = impl_->classes.find(class_id);
  if (c == impl_->classes.end()) return;
  auto l = c->second->listeners.find(user_id);
  if (l != c->second->listeners.end()) set_profile(l->second, profile);
}

void MediaEngine::close(PeerId id) {
  if (Peer *p = impl_->find(id)) impl_->close_peer(p, "closed", false);
}

void MediaEngine::end_class(const std::string &class_id) {
  auto it = impl_->classes.find(class_id);
  if (it != impl_->classes.end()) impl_->destroy_class(it->second.get());
}

Result<RecordingId> MediaEngine::record(const std::string &class_id, const std::string &path,
                                        int bitrate_bps, RecordingObserver observer) {
  auto cm = impl_->class_media(class_id);
  if (!cm) return cm.error();
  ClassMedia *c = *cm;
  auto r = std::make_shared<Recorder>();
  r->id = impl_->next_recording++;
  r->path = path;
  r->observer = std::move(observer);
  r->fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (r->fd < 0)
    return media_error(ErrorKind::kUnavailable, "recording_failed",
                       "cannot create " + path + ": " + strerror(errno));
  std::string why;
  r->encoder = parse_bin(impl_->pipes.recorder(bitrate_bps), &why);
  if (!r->encoder)
    return media_error(ErrorKind::kInternal, "media_error", "recording encoder: " + why);
  r->queue = gst_element_factory_make("queue", nullptr);
  g_object_set(r->queue, "max-size-time", static_cast<guint64>(5 * GST_SECOND), "max-size-bytes",
               0u, "max-size-buffers", 0u, "leaky", 2 /* downstream */, nullptr);
  r->sink = gst_element_factory_make("appsink", nullptr);
  g_object_set(r->sink, "sync", FALSE, "async", FALSE, nullptr);
  GstAppSinkCallbacks cb = {};
  cb.new_sample = on_recorder_sample;
  cb.eos = on_recorder_eos;
  gst_app_sink_set_callbacks(
      GST_APP_SINK(r->sink), &cb,
      new std::pair<RecorderRef, std::shared_ptr<Recorder>>(
          RecorderRef{impl_.get(), r->id, impl_->alive}, r),
      [](gpointer d) {
        delete static_cast<std::pair<RecorderRef, std::shared_ptr<Recorder>> *>(d);
      });
  gst_bin_add_many(GST_BIN(c->pipeline), r->queue, r->encoder, r->sink, nullptr);
  bool ok = gst_element_link_many(r->queue, r->encoder, r->sink, nullptr);
  // The branch runs before the tee feeds it, so the shared source never waits for it.
  for (GstElement *e : {r->sink, r->encoder, r->queue})
    ok = ok && gst_element_sync_state_with_parent(e);
  GstPad *sinkpad = gst_element_get_static_pad(r->queue, "sink");
  r->tee_pad = gst_element_request_pad_simple(c->tee, "src_%u");
  ok = ok && r->tee_pad && gst_pad_link(r->tee_pad, sinkpad) == GST_PAD_LINK_OK;
  gst_object_unref(sinkpad);
  if (!ok) {
    for (GstElement *e : {r->queue, r->encoder, r->sink})
      gst_element_set_state(e, GST_STATE_NULL);
    gst_bin_remove_many(GST_BIN(c->pipeline), r->queue, r->encoder, r->sink, nullptr);
    if (r->tee_pad) {
      gst_element_release_request_pad(c->tee, r->tee_pad);
      gst_object_unref(r->tee_pad);
    }
    return media_error(ErrorKind::kInternal, "media_error", "cannot start the recording branch");
  }
  c->recorders[r->id] = r;
  impl_->recording_class[r->id] = c;
  log_media(LogLevel::kInfo, "class " + class_id + ": recording to " + path);
  return r->id;
}

void MediaEngine::stop_recording(RecordingId id) {
  auto it = impl_->recording_class.find(id);
  if (it == impl_->recording_class.end()) return;
  auto r = it->second->recorders.find(id);
  if (r != it->second->recorders.end()) impl_->end_recorder(it->second, r->second);
}

std::optional<ListenerStats> MediaEngine::stats(PeerId id) const {
  Peer *p = impl_->find(id);
  if (!p || p->publisher) return std::nullopt;
  ListenerStats s;
  auto c = impl_->classes.find(p->class_id);
  if (c != impl_->classes.end()) s.profile = c->second->tiers[p->tier]->profile->name;
  s.pinned = p->controller->pinned();
  s.frames_sent = p->feed->sent.load();
  s.loss_fraction = p->loss;
  s.rtt_ms = p->rtt_ms;
  return s;
}

size_t MediaEngine::listener_count(const std::string &class_id) const {
  auto c = impl_->classes.find(class_id);
  return c == impl_->classes.end() ? 0 : c->second->listeners.size();
}

}  // namespace gramothi
