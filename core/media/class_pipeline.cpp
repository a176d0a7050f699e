#include "media/class_pipeline.hpp"

#include <gst/app/gstappsink.h>

#include "media/gst_support.hpp"

namespace gramothi {
namespace {

// Before a profile's queue: the class's audio goes on only while the profile's encoder is on.
GstPadProbeReturn on_tier_input(GstPad *, GstPadProbeInfo *, gpointer data) {
  return static_cast<Tier *>(data)->accepting() ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
}

GstFlowReturn on_tier_sample(GstAppSink *sink, gpointer data) {
  g_autoptr(GstSample) sample = gst_app_sink_pull_sample(sink);
  if (sample) static_cast<Tier *>(data)->deliver(gst_sample_get_buffer(sample));
  return GST_FLOW_OK;
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

}  // namespace

Result<std::unique_ptr<ClassPipeline>> ClassPipeline::start(const std::string &class_id,
                                                            const ProfileSet &profiles,
                                                            const MediaPipelines &pipes,
                                                            const SharedClock &clock) {
  std::unique_ptr<ClassPipeline> c(new ClassPipeline(class_id));
  c->pipeline_ = GRef<GstElement>::adopt(
      GST_ELEMENT(gst_object_ref_sink(gst_pipeline_new(("class-" + class_id).c_str()))));
  GstElement *pipeline = c->pipeline_.get();
  clock.apply(pipeline);
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
  gst_bin_add_many(GST_BIN(pipeline), silence, silence_caps, teacher, mixer, mixcaps, tee, nullptr);
  bool ok = gst_element_link_many(silence, silence_caps, mixer, mixcaps, tee, nullptr) &&
            gst_element_link(teacher, mixer);
  c->teacher_src_ = GRef<GstAppSrc>::ref(GST_APP_SRC(teacher));
  c->tee_ = tee;

  for (const auto &profile : profiles.all()) {
    auto tier = std::make_unique<Tier>(profile, "class " + class_id + ", profile " + profile.name);
    std::string why;
    GstElement *queue = gst_element_factory_make("queue", nullptr);
    g_object_set(queue, "max-size-time", static_cast<guint64>(200 * GST_MSECOND), "max-size-bytes",
                 0u, "max-size-buffers", 0u, "leaky", 2 /* downstream */, nullptr);
    GstElement *enc = parse_bin(pipes.encoder(profile), &why);
    if (!enc) {
      gst_object_unref(queue);
      return media_error(ErrorKind::kInternal, "media_error",
                         "encoder for profile " + profile.name + ": " + why);
    }
    tier->set_opus_encoder(find_by_factory(enc, "opusenc"));
    GstElement *sink = gst_element_factory_make("appsink", nullptr);
    g_object_set(sink, "sync", FALSE, "async", FALSE, "max-buffers", 16u, "drop", TRUE, nullptr);
    GstAppSinkCallbacks cb = {};
    cb.new_sample = on_tier_sample;
    gst_app_sink_set_callbacks(GST_APP_SINK(sink), &cb, tier.get(), nullptr);
    gst_bin_add_many(GST_BIN(pipeline), queue, enc, sink, nullptr);
    ok = ok && gst_element_link_many(tee, queue, enc, sink, nullptr);
    g_autoptr(GstPad) input = gst_element_get_static_pad(queue, "sink");
    gst_pad_add_probe(
        input,
        static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
        on_tier_input, tier.get(), nullptr);
    c->tiers_.push_back(std::move(tier));
  }
  if (!ok)
    return media_error(ErrorKind::kInternal, "media_error", "cannot link the class pipeline");
  g_autoptr(GstBus) bus = gst_pipeline_get_bus(GST_PIPELINE(pipeline));
  c->bus_watch_ =
      gst_bus_add_watch_full(bus, G_PRIORITY_DEFAULT, on_class_bus, new std::string(class_id),
                             [](gpointer p) { delete static_cast<std::string *>(p); });
  // Ready, not running: it runs while a teacher publishes (set_running).
  if (gst_element_set_state(pipeline, GST_STATE_READY) == GST_STATE_CHANGE_FAILURE)
    return media_error(ErrorKind::kInternal, "media_error", "the class pipeline cannot start");
  c->started_ = true;
  log_media(LogLevel::kInfo, "class " + class_id + ": media ready (" +
                                 std::to_string(c->tiers_.size()) + " profiles)");
  return c;
}

bool ClassPipeline::set_running(bool on) {
  if (on == running_) return true;
  if (gst_element_set_state(pipeline_.get(), on ? GST_STATE_PLAYING : GST_STATE_READY) ==
      GST_STATE_CHANGE_FAILURE) {
    log_media(LogLevel::kError,
              "class " + id_ + ": the pipeline cannot " + (on ? "start" : "stop"));
    return false;
  }
  running_ = on;
  if (!on)
    for (auto &t : tiers_)
      t->cool();
  log_media(
      LogLevel::kInfo,
      "class " + id_ + (on ? ": audio on (a teacher publishes)" : ": audio off (no teacher)"));
  return true;
}

ClassPipeline::~ClassPipeline() {
  if (drain_timer) g_source_remove(drain_timer);
  if (pipeline_) gst_element_set_state(pipeline_.get(), GST_STATE_NULL);
  for (auto &[id, r] : recorders)
    finished.push_back(r);
  recorders.clear();
  for (auto &r : finished) {
    r->release_tee_pad(tee_);
    r->shutdown();
  }
  finished.clear();
  if (bus_watch_) g_source_remove(bus_watch_);
  if (started_) log_media(LogLevel::kInfo, "class " + id_ + ": media stopped");
}

}  // namespace gramothi
