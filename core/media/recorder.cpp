#include "media/recorder.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "media/gst_support.hpp"

namespace gramothi {
namespace {

constexpr uint64_t kRate = 48000;          // samples a second (kRawCaps)
constexpr uint64_t kBytesPerSample = 2;    // S16LE mono
constexpr uint64_t kSilenceChunk = kRate;  // filler buffers hold at most a second

// One second of silence, shared read-only by every filler buffer of every recording.
GstMemory *silence_second() {
  static GstMemory *zeros = [] {
    GstMemory *m = gst_allocator_alloc(nullptr, kSilenceChunk * kBytesPerSample, nullptr);
    GstMapInfo map;
    if (gst_memory_map(m, &map, GST_MAP_WRITE)) {
      memset(map.data, 0, map.size);
      gst_memory_unmap(m, &map);
    }
    return m;
  }();
  return zeros;
}

}  // namespace

uint64_t Recorder::gap_samples(uint64_t origin_ns, uint64_t at_ns, uint64_t written) {
  uint64_t want =
      at_ns > origin_ns ? gst_util_uint64_scale(at_ns - origin_ns, kRate, GST_SECOND) : 0;
  return want > written + kRate / 10 ? want - written : 0;
}

Result<std::shared_ptr<Recorder>> Recorder::attach(GstElement *pipeline, GstElement *tee,
                                                   RecordingId id, const std::string &path,
                                                   const std::string &encoder, News news) {
  std::shared_ptr<Recorder> r(new Recorder(id, path, std::move(news)));
  r->fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (r->fd_ < 0)
    return media_error(ErrorKind::kUnavailable, "recording_failed",
                       "cannot create " + path + ": " + strerror(errno));
  std::string why;
  GstElement *enc = parse_bin(encoder, &why);
  if (!enc) return media_error(ErrorKind::kInternal, "media_error", "recording encoder: " + why);

  // The recording's own pipeline: not live, nothing synced to a clock; it runs as fast as the
  // class (or a gap's silence) feeds it.
  r->pipeline_ = GRef<GstElement>::adopt(GST_ELEMENT(
      gst_object_ref_sink(gst_pipeline_new(("recording-" + std::to_string(id)).c_str()))));
  GstElement *src = gst_element_factory_make("appsrc", nullptr);
  g_autoptr(GstCaps) raw = gst_caps_from_string(kRawCaps);
  // At most 30 s of audio waits for the encoder and the disk (a gap's silence comes in 5 s
  // batches): on a stalled disk the oldest goes, not the server's memory.
  g_object_set(src, "caps", raw, "format", GST_FORMAT_TIME, "is-live", FALSE, "max-bytes",
               static_cast<guint64>(30 * kRate * kBytesPerSample), "block", FALSE, nullptr);
  gst_util_set_object_arg(G_OBJECT(src), "leaky-type", "downstream");
  r->src_ = GRef<GstAppSrc>::ref(GST_APP_SRC(src));
  r->sink_ = gst_element_factory_make("appsink", nullptr);
  g_object_set(r->sink_, "sync", FALSE, "async", FALSE, nullptr);
  GstAppSinkCallbacks cb = {};
  cb.new_sample = on_sample;
  cb.eos = on_eos;
  gst_app_sink_set_callbacks(
      GST_APP_SINK(r->sink_), &cb, new std::shared_ptr<Recorder>(r),
      [](gpointer d) { delete static_cast<std::shared_ptr<Recorder> *>(d); });
  gst_bin_add_many(GST_BIN(r->pipeline_.get()), src, enc, r->sink_, nullptr);
  // An error in the recording's pipeline (the encoder, the muxer) fails the recording.
  g_autoptr(GstBus) bus = gst_pipeline_get_bus(GST_PIPELINE(r->pipeline_.get()));
  r->bus_watch_ = gst_bus_add_watch_full(
      bus, G_PRIORITY_DEFAULT,
      [](GstBus *, GstMessage *msg, gpointer d) -> gboolean {
        if (GST_MESSAGE_TYPE(msg) != GST_MESSAGE_ERROR) return G_SOURCE_CONTINUE;
        std::shared_ptr<Recorder> rec = static_cast<std::weak_ptr<Recorder> *>(d)->lock();
        g_autoptr(GError) err = nullptr;
        gst_message_parse_error(msg, &err, nullptr);
        if (rec && !rec->finished_.exchange(true)) {
          rec->news_(RecordingState::kFailed, std::string("the recording's encoder failed: ") +
                                                  (err ? err->message : "error"));
        }
        return G_SOURCE_CONTINUE;
      },
      new std::weak_ptr<Recorder>(r),
      [](gpointer d) { delete static_cast<std::weak_ptr<Recorder> *>(d); });
  bool ok =
      gst_element_link_many(src, enc, r->sink_, nullptr) &&
      gst_element_set_state(r->pipeline_.get(), GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE;

  // The file's time 0 is now (the timeline's t_ms 0), or a little earlier when the class's
  // first buffers say so (the mixer's latency): set before the tap can feed.
  r->class_pipeline_ = GRef<GstElement>::ref(pipeline);
  {
    std::lock_guard lock(r->feed_mutex_);
    r->set_origin(r->class_now());
  }
  // The tap on the class's tee. Its callbacks hold the Recorder weakly: the class pipeline,
  // which owns the tap, must not keep it alive.
  r->tap_ = gst_element_factory_make("appsink", nullptr);
  g_object_set(r->tap_, "sync", FALSE, "async", FALSE, nullptr);
  GstAppSinkCallbacks tap_cb = {};
  tap_cb.new_sample = on_tap;
  gst_app_sink_set_callbacks(GST_APP_SINK(r->tap_), &tap_cb, new std::weak_ptr<Recorder>(r),
                             [](gpointer d) { delete static_cast<std::weak_ptr<Recorder> *>(d); });
  gst_bin_add(GST_BIN(pipeline), r->tap_);
  ok = ok && gst_element_sync_state_with_parent(r->tap_);
  g_autoptr(GstPad) sinkpad = gst_element_get_static_pad(r->tap_, "sink");
  r->tee_pad_ = GRef<GstPad>::adopt(gst_element_request_pad_simple(tee, "src_%u"));
  ok = ok && r->tee_pad_ && gst_pad_link(r->tee_pad_.get(), sinkpad) == GST_PAD_LINK_OK;
  if (!ok) {
    gst_element_set_state(r->tap_, GST_STATE_NULL);
    gst_bin_remove(GST_BIN(pipeline), r->tap_);
    r->tap_ = nullptr;
    r->release_tee_pad(tee);
    r->shutdown();
    return media_error(ErrorKind::kInternal, "media_error", "cannot start the recording");
  }
  // Between teachers the class sends nothing: a moment of silence gets the file's headers out
  // (and with them the "recording" news); the rest of the gap is filled when audio comes, every
  // 5 s (catch_up) and when the recording ends.
  std::lock_guard lock(r->feed_mutex_);
  if (GST_STATE(pipeline) != GST_STATE_PLAYING) r->push_silence(kRate / 10);
  return r;
}

void Recorder::set_origin(GstClockTime at) {
  origin_ = at;
  GstClockTime now = class_now();
  int64_t behind_ms = GST_CLOCK_TIME_IS_VALID(at) && GST_CLOCK_TIME_IS_VALID(now) && now > at
                          ? static_cast<int64_t>((now - at) / GST_MSECOND)
                          : 0;
  origin_epoch_ms_.store(g_get_real_time() / 1000 - behind_ms);
}

GstClockTime Recorder::class_now() const {
  g_autoptr(GstClock) clock = gst_pipeline_get_clock(GST_PIPELINE(class_pipeline_.get()));
  if (!clock) return GST_CLOCK_TIME_NONE;
  GstClockTime now = gst_clock_get_time(clock);
  GstClockTime base = gst_element_get_base_time(class_pipeline_.get());
  return GST_CLOCK_TIME_IS_VALID(base) && now >= base ? now - base : GST_CLOCK_TIME_NONE;
}

// The class's streaming thread: its audio, after the silence of a gap before it.
GstFlowReturn Recorder::on_tap(GstAppSink *sink, gpointer data) {
  g_autoptr(GstSample) sample = gst_app_sink_pull_sample(sink);
  std::shared_ptr<Recorder> r = static_cast<std::weak_ptr<Recorder> *>(data)->lock();
  if (!sample || !r) return GST_FLOW_OK;
  GstBuffer *buffer = gst_sample_get_buffer(sample);
  const GstSegment *segment = gst_sample_get_segment(sample);
  if (!buffer || !segment || !GST_BUFFER_PTS_IS_VALID(buffer)) return GST_FLOW_OK;
  GstClockTime at = gst_segment_to_running_time(segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buffer));
  if (!GST_CLOCK_TIME_IS_VALID(at)) return GST_FLOW_OK;
  std::lock_guard lock(r->feed_mutex_);
  if (r->feed_closed_ || !r->src_) return GST_FLOW_OK;
  // Time 0 is the class's first buffer when it is older than the attach (the mixer's latency).
  if (!GST_CLOCK_TIME_IS_VALID(r->origin_) || (r->written_ == 0 && at < r->origin_))
    r->set_origin(at);
  r->push_silence(gap_samples(r->origin_, at, r->written_));
  r->push_audio(buffer);
  return GST_FLOW_OK;
}

void Recorder::push_silence(uint64_t samples) {
  while (samples > 0) {
    uint64_t n = std::min(samples, kSilenceChunk);
    GstBuffer *b = gst_buffer_new();
    gst_buffer_append_memory(
        b, gst_memory_share(silence_second(), 0, static_cast<gssize>(n * kBytesPerSample)));
    GST_BUFFER_PTS(b) = gst_util_uint64_scale(written_, GST_SECOND, kRate);
    GST_BUFFER_DURATION(b) = gst_util_uint64_scale(n, GST_SECOND, kRate);
    written_ += n;
    samples -= n;
    gst_app_src_push_buffer(src_.get(), b);
  }
}

// The class's timestamps become the file's: one buffer after the other from written_ (the
// mixer's own jitter, a few milliseconds, is no gap).
void Recorder::push_audio(GstBuffer *buffer) {
  uint64_t n = gst_buffer_get_size(buffer) / kBytesPerSample;
  if (n == 0) return;
  GstBuffer *out = gst_buffer_copy(buffer);  // the metadata; the samples are shared
  GST_BUFFER_PTS(out) = gst_util_uint64_scale(written_, GST_SECOND, kRate);
  GST_BUFFER_DTS(out) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION(out) = gst_util_uint64_scale(n, GST_SECOND, kRate);
  GST_BUFFER_FLAG_UNSET(out, GST_BUFFER_FLAG_DISCONT);
  written_ += n;
  gst_app_src_push_buffer(src_.get(), out);
}

Recorder::~Recorder() {
  shutdown();
  if (fd_ >= 0) close(fd_);
}

void Recorder::shutdown() {
  if (!pipeline_) return;
  {
    std::lock_guard lock(feed_mutex_);
    feed_closed_ = true;
    src_.reset();
  }
  if (bus_watch_) g_source_remove(bus_watch_);
  bus_watch_ = 0;
  gst_element_set_state(pipeline_.get(), GST_STATE_NULL);
  // Drops the callbacks' reference to this Recorder: nothing runs them any more.
  GstAppSinkCallbacks none = {};
  gst_app_sink_set_callbacks(GST_APP_SINK(sink_), &none, nullptr, nullptr);
  sink_ = nullptr;
  pipeline_.reset();
}

void Recorder::fail(int err) {
  failed_ = true;
  finished_ = true;
  news_(RecordingState::kFailed, std::string("cannot write the recording: ") + strerror(err));
}

// The branch's streaming thread: write every Ogg page as it comes.
GstFlowReturn Recorder::on_sample(GstAppSink *sink, gpointer data) {
  Recorder &r = **static_cast<std::shared_ptr<Recorder> *>(data);
  g_autoptr(GstSample) sample = gst_app_sink_pull_sample(sink);
  if (!sample || r.failed_) return GST_FLOW_OK;
  GstBuffer *buffer = gst_sample_get_buffer(sample);
  GstMapInfo map;
  if (!buffer || !gst_buffer_map(buffer, &map, GST_MAP_READ)) return GST_FLOW_OK;
  size_t done = 0;
  int err = 0;
  while (done < map.size) {
    ssize_t n = write(r.fd_, map.data + done, map.size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : ENOSPC;
      break;
    }
    done += static_cast<size_t>(n);
  }
  gst_buffer_unmap(buffer, &map);
  int64_t now = g_get_monotonic_time();
  if (!err && now - r.synced_at_us_ > 5 * G_USEC_PER_SEC) {
    if (fdatasync(r.fd_) != 0 && errno != EINVAL) err = errno;
    r.synced_at_us_ = now;
  }
  if (err) {
    r.fail(err);
  } else if (!r.started_) {
    r.started_ = true;
    r.synced_at_us_ = now;
    // The first page holds only headers; time 0 is the class's moment set_origin noted.
    r.news_(RecordingState::kRecording, std::to_string(r.origin_epoch_ms_.load()));
  }
  return GST_FLOW_OK;
}

void Recorder::on_eos(GstAppSink *, gpointer data) {
  Recorder &r = **static_cast<std::shared_ptr<Recorder> *>(data);
  if (r.failed_) return;
  if (fdatasync(r.fd_) != 0 && errno != EINVAL) return r.fail(errno);
  r.finished_ = true;
  r.news_(RecordingState::kStopped, "");
}

void Recorder::fill_to_now() {
  if (!src_ || GST_STATE(class_pipeline_.get()) == GST_STATE_PLAYING) return;
  GstClockTime now = class_now();
  if (GST_CLOCK_TIME_IS_VALID(now) && GST_CLOCK_TIME_IS_VALID(origin_))
    push_silence(gap_samples(origin_, now, written_));
}

void Recorder::catch_up() {
  std::lock_guard lock(feed_mutex_);
  if (!feed_closed_) fill_to_now();
}

void Recorder::end() {
  if (ending_) return;
  ending_ = true;
  {
    std::lock_guard lock(feed_mutex_);
    feed_closed_ = true;
    fill_to_now();  // ended between teachers: the file lasts as long as the class
    if (src_) gst_app_src_end_of_stream(src_.get());
  }
  if (!tee_pad_) {
    unlinked_ = true;
    return;
  }
  gst_pad_add_probe(
      tee_pad_.get(), GST_PAD_PROBE_TYPE_IDLE,
      [](GstPad *pad, GstPadProbeInfo *, gpointer d) -> GstPadProbeReturn {
        Recorder &rec = **static_cast<std::shared_ptr<Recorder> *>(d);
        if (rec.unlinked_.exchange(true)) return GST_PAD_PROBE_REMOVE;
        if (g_autoptr(GstPad) peer = gst_pad_get_peer(pad)) gst_pad_unlink(pad, peer);
        return GST_PAD_PROBE_REMOVE;
      },
      new std::shared_ptr<Recorder>(shared_from_this()),
      [](gpointer d) { delete static_cast<std::shared_ptr<Recorder> *>(d); });
}

void Recorder::remove_from(std::shared_ptr<Recorder> recorder, GstElement *pipeline,
                           GstElement *tee) {
  struct Job {
    GRef<GstElement> pipeline, tee;
    std::shared_ptr<Recorder> r;
    int tries = 0;
  };
  auto *job =
      new Job{GRef<GstElement>::ref(pipeline), GRef<GstElement>::ref(tee), std::move(recorder)};
  g_timeout_add_full(
      G_PRIORITY_DEFAULT, 20,
      [](gpointer d) -> gboolean {
        auto *j = static_cast<Job *>(d);
        if (!j->r->unlinked_ && ++j->tries < 250) return G_SOURCE_CONTINUE;
        Recorder &r = *j->r;
        if (r.tap_) {
          gst_element_set_locked_state(r.tap_, TRUE);
          gst_element_set_state(r.tap_, GST_STATE_NULL);
          gst_bin_remove(GST_BIN(j->pipeline.get()), r.tap_);
          r.tap_ = nullptr;
        }
        r.release_tee_pad(j->tee.get());
        r.shutdown();
        return G_SOURCE_REMOVE;
      },
      job, [](gpointer d) { delete static_cast<Job *>(d); });
}

void Recorder::release_tee_pad(GstElement *tee) {
  if (!tee_pad_) return;
  gst_element_release_request_pad(tee, tee_pad_.get());
  tee_pad_.reset();
}

}  // namespace gramothi
