// Recorder: one recording of a class, a branch off the class's raw-audio tee
//   tee -> queue -> [recording] encoder (media.ini) -> appsink
// whose Ogg bytes are written to a file on the branch's own streaming thread, so a slow or
// failing disk holds up nothing but the recording. Pages are synced to disk every 5 s.
//
// Ownership: the class pipeline holds Recorders by shared_ptr (the appsink's callbacks hold one
// too); the branch's elements belong to the class's pipeline, the tee pad to the Recorder.
// Threading: attach, end, remove_from and release_tee_pad run on the main loop; `news` is called
// on the streaming thread, and its owner must queue it to the main loop.
#pragma once

#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "base/error.hpp"
#include "base/gref.hpp"
#include "media/media_types.hpp"

namespace gramothi {

class Recorder : public std::enable_shared_from_this<Recorder> {
 public:
  using News = std::function<void(RecordingState state, const std::string &detail)>;

  // Opens `path` (created or truncated) and links the branch, running before the tee feeds it.
  // Errors: "recording_failed" (the file), "media_error" (the encoder or the branch).
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

  // Cuts the branch off the tee where no buffer is in flight, then sends it EOS so the encoder
  // and the muxer write their last page; `news` says kStopped when that is on disk.
  void end();
  // Takes the finished branch out of its (running) pipeline once it is off the tee; the probe
  // that cuts it may still be pending, so this looks again every 20 ms (5 s at most).
  static void remove_from(std::shared_ptr<Recorder> recorder, GstElement *pipeline,
                          GstElement *tee);
  // Gives the tee its pad back (the class pipeline is stopped, or the branch is removed).
  void release_tee_pad(GstElement *tee);

  RecordingObserver observer;  // the owner's, called on the main loop by the engine

 private:
  Recorder(RecordingId id, std::string path, News news)
      : id_(id), path_(std::move(path)), news_(std::move(news)) {}
  static GstFlowReturn on_sample(GstAppSink *sink, gpointer data);
  static void on_eos(GstAppSink *sink, gpointer data);
  void fail(int err);
  void start_at_first_buffer();

  RecordingId id_;
  std::string path_;
  News news_;
  // Borrowed: the elements belong to the class pipeline.
  GstElement *queue_ = nullptr, *encoder_ = nullptr, *sink_ = nullptr;
  GRef<GstPad> tee_pad_;
  bool ending_ = false;  // main loop: EOS sent or failed
  // Streaming thread:
  int fd_ = -1;
  bool started_ = false, failed_ = false;
  int64_t synced_at_us_ = 0;
  std::atomic<bool> finished_{false};
  std::atomic<bool> unlinked_{false};  // off the tee: the branch may leave the pipeline
};

}  // namespace gramothi
