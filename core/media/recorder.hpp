// Recorder: one recording of a class. A tap on the class's raw-audio tee (an appsink) hands the
// audio to the recording's own small pipeline
//   appsrc -> [recording] encoder (media.ini) -> appsink
// whose Ogg bytes are written to a file on that pipeline's streaming thread, so a slow or
// failing disk holds up nothing but the recording. Pages are synced to disk every 5 s.
//
// The class pipeline runs only while a teacher publishes (ClassPipeline::set_running): in
// between, the recording is sent nothing and encodes nothing. When audio comes again, the gap
// is filled with silence first (buffers sharing one block of zeros, encoded at once), and a
// recording that ends during a gap is filled up to its end: the file's time stays the wall
// clock's, as the recording's timeline (wall-clock milliseconds from its start) expects.
//
// Ownership: the class pipeline holds Recorders by shared_ptr, and so do the callbacks of the
// recording's appsink until shutdown() (the owner calls it once the recording is finished, or
// the class goes). The tap belongs to the class's pipeline, the tee pad and the recording's
// pipeline to the Recorder. Threading: attach, end, remove_from, release_tee_pad and shutdown
// run on the main loop; feeding runs on the class's streaming thread; `news` is called on the
// recording's streaming thread, and its owner must queue it to the main loop.
#pragma once

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "base/error.hpp"
#include "base/gref.hpp"
#include "media/media_types.hpp"

namespace gramothi {

class Recorder : public std::enable_shared_from_this<Recorder> {
 public:
  using News = std::function<void(RecordingState state, const std::string &detail)>;

  // Opens `path` (created or truncated), starts the recording's pipeline and taps the class's
  // tee. Errors: "recording_failed" (the file), "media_error" (the encoder or the pipeline).
  static Result<std::shared_ptr<Recorder>> attach(GstElement *pipeline, GstElement *tee,
                                                  RecordingId id, const std::string &path,
                                                  const std::string &encoder, News news);
  Recorder(const Recorder &) = delete;
  Recorder &operator=(const Recorder &) = delete;
  ~Recorder();

  RecordingId id() const { return id_; }
  const std::string &path() const { return path_; }
  bool ending() const { return ending_; }
  // The last page is on disk, or writing failed.
  bool finished() const { return finished_.load(); }

  // Takes no more audio from the class, fills silence up to now when the class is between two
  // teachers, and ends the stream so the encoder and the muxer write their last page; `news`
  // says kStopped when that is on disk. The tap comes off the tee where no buffer is in flight.
  void end();
  // Takes the finished tap out of its (running) pipeline once it is off the tee; the probe
  // that cuts it may still be pending, so this looks again every 20 ms (5 s at most).
  static void remove_from(std::shared_ptr<Recorder> recorder, GstElement *pipeline,
                          GstElement *tee);
  // Gives the tee its pad back (the class pipeline is stopped, or the tap is removed).
  void release_tee_pad(GstElement *tee);
  // Stops the recording's pipeline and lets go of the callbacks' references (main loop).
  void shutdown();
  // Between teachers: the silence up to now, so that a server that dies in a long gap leaves
  // a file that lasts up to its last catch-up (main loop; nothing while the class runs).
  void catch_up();

  RecordingObserver observer;  // the owner's, called on the main loop by the engine

  // The samples (48 kHz) of silence a recording fills in before audio at `at_ns` of the
  // class's running time, when `written` samples followed `origin_ns`: none for less than
  // 100 ms (the mixer's own jitter; the audio then follows on).
  static uint64_t gap_samples(uint64_t origin_ns, uint64_t at_ns, uint64_t written);

 private:
  Recorder(RecordingId id, std::string path, News news)
      : id_(id), path_(std::move(path)), news_(std::move(news)) {}
  static GstFlowReturn on_tap(GstAppSink *sink, gpointer data);
  static GstFlowReturn on_sample(GstAppSink *sink, gpointer data);
  static void on_eos(GstAppSink *sink, gpointer data);
  void fail(int err);
  // Feeding (under feed_mutex_): `samples` of silence, then the class's audio.
  void push_silence(uint64_t samples);
  // Between teachers (the class pipeline not running): the silence up to the class's now.
  void fill_to_now();
  void push_audio(GstBuffer *buffer);
  // The class's running time now, or GST_CLOCK_TIME_NONE.
  GstClockTime class_now() const;
  // File time 0 is the class's running time `at` (under feed_mutex_); notes its wall-clock
  // time for the "recording" news.
  void set_origin(GstClockTime at);

  RecordingId id_;
  std::string path_;
  News news_;
  GRef<GstElement> class_pipeline_;
  GstElement *tap_ = nullptr;  // borrowed: belongs to the class pipeline
  GRef<GstPad> tee_pad_;
  GRef<GstElement> pipeline_;  // the recording's own: appsrc -> encoder -> appsink
  GRef<GstAppSrc> src_;
  GstElement *sink_ = nullptr;  // borrowed: belongs to pipeline_
  guint bus_watch_ = 0;         // pipeline_'s errors fail the recording
  bool ending_ = false;         // main loop: EOS sent or failed
  // Feeding, from the class's streaming thread (and end()):
  std::mutex feed_mutex_;
  bool feed_closed_ = false;
  GstClockTime origin_ = GST_CLOCK_TIME_NONE;  // the class's running time of file time 0
  uint64_t written_ = 0;                       // samples handed to the encoder
  std::atomic<int64_t> origin_epoch_ms_{0};    // the wall clock's ms at file time 0
  // The recording's streaming thread:
  int fd_ = -1;
  bool started_ = false, failed_ = false;
  int64_t synced_at_us_ = 0;
  std::atomic<bool> finished_{false};
  std::atomic<bool> unlinked_{false};  // off the tee: the tap may leave the pipeline
};

}  // namespace gramothi
