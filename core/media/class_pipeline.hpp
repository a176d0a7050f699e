// ClassPipeline: the live audio of one class, shared by everyone in it:
//   live silence, teacher (appsrc) -> audiomixer -> tee -> per profile: queue -> [encoder]
//                                                          -> appsink => Tier
//                                                      tee -> recordings (Recorder branches)
// The teacher's decoded audio comes in through `teacher_src` over a live silence source, so
// listeners hear silence while the teacher is away. A profile's encoder works only while the
// profile has listeners (Tier::use): a probe before its queue drops the audio otherwise.
//
// Ownership: the engine owns ClassPipelines (unique_ptr); a ClassPipeline owns its GStreamer
// pipeline, its Tiers and its Recorders (shared with their branches' callbacks). It knows its
// peers by id only. Threading: main loop, except the Tiers' deliver (encoder threads).
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
  // Builds and starts the pipeline, one Tier per profile. Errors: "media_error".
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
};

}  // namespace gramothi
