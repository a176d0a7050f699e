#include "media/recorder.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "media/gst_support.hpp"

namespace gramothi {

Result<std::shared_ptr<Recorder>> Recorder::attach(GstElement *pipeline, GstElement *tee,
                                                   RecordingId id, const std::string &path,
                                                   const std::string &encoder, News news) {
  std::shared_ptr<Recorder> r(new Recorder(id, path, std::move(news)));
  r->fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (r->fd_ < 0)
    return media_error(ErrorKind::kUnavailable, "recording_failed",
                       "cannot create " + path + ": " + strerror(errno));
  std::string why;
  r->encoder_ = parse_bin(encoder, &why);
  if (!r->encoder_)
    return media_error(ErrorKind::kInternal, "media_error", "recording encoder: " + why);
  r->queue_ = gst_element_factory_make("queue", nullptr);
  g_object_set(r->queue_, "max-size-time", static_cast<guint64>(5 * GST_SECOND), "max-size-bytes",
               0u, "max-size-buffers", 0u, "leaky", 2 /* downstream */, nullptr);
  r->sink_ = gst_element_factory_make("appsink", nullptr);
  g_object_set(r->sink_, "sync", FALSE, "async", FALSE, nullptr);
  GstAppSinkCallbacks cb = {};
  cb.new_sample = on_sample;
  cb.eos = on_eos;
  gst_app_sink_set_callbacks(
      GST_APP_SINK(r->sink_), &cb, new std::shared_ptr<Recorder>(r),
      [](gpointer d) { delete static_cast<std::shared_ptr<Recorder> *>(d); });
  gst_bin_add_many(GST_BIN(pipeline), r->queue_, r->encoder_, r->sink_, nullptr);
  bool ok = gst_element_link_many(r->queue_, r->encoder_, r->sink_, nullptr);
  r->start_at_first_buffer();
  // The branch runs before the tee feeds it, so the shared source never waits for it.
  for (GstElement *e : {r->sink_, r->encoder_, r->queue_})
    ok = ok && gst_element_sync_state_with_parent(e);
  g_autoptr(GstPad) sinkpad = gst_element_get_static_pad(r->queue_, "sink");
  r->tee_pad_ = GRef<GstPad>::adopt(gst_element_request_pad_simple(tee, "src_%u"));
  ok = ok && r->tee_pad_ && gst_pad_link(r->tee_pad_.get(), sinkpad) == GST_PAD_LINK_OK;
  if (!ok) {
    for (GstElement *e : {r->queue_, r->encoder_, r->sink_})
      gst_element_set_state(e, GST_STATE_NULL);
    gst_bin_remove_many(GST_BIN(pipeline), r->queue_, r->encoder_, r->sink_, nullptr);
    r->release_tee_pad(tee);
    return media_error(ErrorKind::kInternal, "media_error", "cannot start the recording branch");
  }
  return r;
}

// The file's time 0 is the recording's start (the timeline's t_ms 0). The class's buffers carry
// the engine's running time (since the server started, as the pipelines share a base time), and
// the muxer makes granule positions of it: without this the audio would begin at the server's
// uptime, and players, which go by the Ogg's own times, would put every slide and chat message
// that far before its audio. The first buffer through the queue sets the offset.
void Recorder::start_at_first_buffer() {
  g_autoptr(GstPad) queue_src = gst_element_get_static_pad(queue_, "src");
  gst_pad_add_probe(
      queue_src, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad *pad, GstPadProbeInfo *info, gpointer) -> GstPadProbeReturn {
        GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER(info);
        g_autoptr(GstEvent) event = gst_pad_get_sticky_event(pad, GST_EVENT_SEGMENT, 0);
        const GstSegment *segment = nullptr;
        if (!buffer || !GST_BUFFER_PTS_IS_VALID(buffer) || !event) return GST_PAD_PROBE_OK;
        gst_event_parse_segment(event, &segment);
        guint64 at = gst_segment_to_running_time(segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buffer));
        if (GST_CLOCK_TIME_IS_VALID(at)) gst_pad_set_offset(pad, -static_cast<gint64>(at));
        return GST_PAD_PROBE_REMOVE;
      },
      nullptr, nullptr);
}

Recorder::~Recorder() {
  if (fd_ >= 0) close(fd_);
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
    // The first page holds only headers; time 0 is about now, less the mixer's latency.
    r.news_(RecordingState::kRecording, std::to_string(g_get_real_time() / 1000 - 40));
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

void Recorder::end() {
  if (ending_) return;
  ending_ = true;
  gst_pad_add_probe(
      tee_pad_.get(), GST_PAD_PROBE_TYPE_IDLE,
      [](GstPad *pad, GstPadProbeInfo *, gpointer d) -> GstPadProbeReturn {
        Recorder &rec = **static_cast<std::shared_ptr<Recorder> *>(d);
        if (rec.unlinked_.exchange(true)) return GST_PAD_PROBE_REMOVE;
        if (g_autoptr(GstPad) peer = gst_pad_get_peer(pad)) {
          gst_pad_unlink(pad, peer);
          gst_pad_send_event(peer, gst_event_new_eos());
        }
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
        for (GstElement *e : {r.queue_, r.encoder_, r.sink_}) {
          gst_element_set_locked_state(e, TRUE);
          gst_element_set_state(e, GST_STATE_NULL);
        }
        gst_bin_remove_many(GST_BIN(j->pipeline.get()), r.queue_, r.encoder_, r.sink_, nullptr);
        r.release_tee_pad(j->tee.get());
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
