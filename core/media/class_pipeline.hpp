// ClassPipeline: the live audio of one class, shared by everyone in it:
//   live silence, teacher (appsrc) -> audiomixer -> tee -> per profile: queue -> [encoder]
//                                                          -> appsink => Tier
//                                                      tee -> tap => a recording (Recorder)
// The teacher's decoded audio comes in through `teacher_src` over a live silence source (the
// teacher's own gaps). The pipeline runs only while a teacher publishes (set_running): a class
// with no teacher keeps no streaming threads and encodes nothing for listeners, who are sent
// nothing; its recordings get the gap as silence, encoded in 5 s batches (Recorder). A
// profile's encoder works only while the profile has listeners (Tier::use): a probe before its
// queue drops the audio otherwise.
//
// Ownership: the engine owns ClassPipelines (unique_ptr); a ClassPipeline owns its GStreamer
// pipeline, its Tiers and its Recorders (shared with their own pipelines' callbacks). It knows
// its peers by id only. Threading: main loop, except the Tiers' deliver (encoder threads) and
// the recordings' taps (the mixer's thread).
#pragma once

#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/gref.hpp"
#include "config/profiles.hpp"
#include "media/media_pipelines.hpp"
#include "media/media_types.hpp"
#include "media/recorder.hpp"
#include "media/tier.hpp"

namespace gramothi {

class SharedClock;

class ClassPipeline {
 public:
  // Builds the pipeline, one Tier per profile, ready but not running. Errors: "media_error".
  static Result<std::unique_ptr<ClassPipeline>> start(const std::string &class_id,
                                                      const ProfileSet &profiles,
                                                      const MediaPipelines &pipes,
                                                      const SharedClock &clock);
  ClassPipeline(const ClassPipeline &) = delete;
  ClassPipeline &operator=(const ClassPipeline &) = delete;
  // Stops the pipeline; gives back the tee pads of recordings that ended with the class.
  ~ClassPipeline();

  const std::string &id() const { return id_; }
  GstElement *pipeline() const { return pipeline_.get(); }
  GstElement *tee() const { return tee_; }
  GstAppSrc *teacher_src() const { return teacher_src_.get(); }
  Tier &tier(size_t index) { return *tiers_.at(index); }
  // Runs the pipeline (a teacher publishes) or stops it to READY (no teacher): its streaming
  // threads end, and it costs nothing until the next teacher.
  bool set_running(bool on);
  bool running() const { return running_; }
  size_t tier_count() const { return tiers_.size(); }

  PeerId publisher = 0;
  std::map<std::string, PeerId> listeners;  // user -> peer
  std::map<RecordingId, std::shared_ptr<Recorder>> recorders;
  std::vector<std::shared_ptr<Recorder>> finished;  // ended with the class; pads go with it
  guint drain_timer = 0;
  bool ended = false;  // end_class ran; the pipeline lives on until its recordings are final

 private:
  explicit ClassPipeline(std::string id) : id_(std::move(id)) {}

  std::string id_;
  GRef<GstElement> pipeline_;
  GstElement *tee_ = nullptr;  // borrowed: belongs to the pipeline
  GRef<GstAppSrc> teacher_src_;
  std::vector<std::unique_ptr<Tier>> tiers_;
  guint bus_watch_ = 0;
  bool started_ = false;
  bool running_ = false;
};

}  // namespace gramothi
