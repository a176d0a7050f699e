// ClassRecorder: the recordings in progress. A class that goes live is recorded (unless its
// teacher or the config says not to): a folder and recording.json for it, the audio written by
// the host's media engine, and a timeline line for each slide change and chat message. When the
// class ends the recording is finalized. Each change of state is published on the bus as
// "recording.state" {class_id, recording_id, state, error}, which reaches the class's teachers
// over the WebSocket.
//
// Everything here runs on the main loop; file work goes to the writer thread, in order.
#pragma once

#include <json-glib/json-glib.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "host.hpp"
#include "index.hpp"
#include "ogg_pages.hpp"
#include "worker.hpp"

namespace gramothi::recording {

// Owned by the plugin through shared_ptr: host callbacks and file work report back through a
// weak_ptr. The index and the writer are borrowed; the plugin keeps them longer.
class ClassRecorder : public std::enable_shared_from_this<ClassRecorder> {
 public:
  ClassRecorder(HostLink host, RecordingIndex *index, FileWorker *writer, bool record_by_default,
                int bitrate_kbps);

  // Follows classes, slides and chat on the bus.
  void subscribe();
  // The teacher's choice for the class: for its live session now (if any) and its next start.
  void set_choice(const std::string &class_id, bool record);
  bool is_recording(const std::string &class_id) const { return active_.count(class_id) != 0; }

 private:
  // What the media engine says of one recording: "recording", then "stopped" or "failed".
  using MediaNews = std::function<void(const char *state, const char *detail)>;

  void start(const std::string &class_id, const std::string &session_id,
             const std::string &teacher_id);
  void on_folder_made(const std::string &id, const std::string &error);
  void start_if_live(const std::string &class_id);
  void stop(const std::string &class_id);
  static void on_media_news(const char *state, const char *detail, void *news);
  void on_media_state(const std::string &id, const char *state, const char *detail);
  void on_finalized(const std::string &id, RecordingState state, const OggInfo &info);
  void forget_active(const Recording &r);  // the class is free for its next recording
  void announce(const Recording &r);

  // Timeline lines, written by the writer in order.
  void append(const std::string &id, const std::string &line);
  void add_slide(Recording &r, int64_t t_ms, const char *action, JsonNode *slide);
  void note_current_slide(const std::string &id);
  Recording *recording_of(JsonObject *event);

  // Bus events: `on_bus` parses the payload and calls the handler with its object.
  template <void (ClassRecorder::*handler)(const char *topic, JsonObject *event)>
  static void on_bus(const char *topic, const char *payload, void *self);
  void on_class_started(const char *topic, JsonObject *event);
  void on_class_stopped(const char *topic, JsonObject *event);
  void on_slides_sync(const char *topic, JsonObject *event);
  void on_chat(const char *topic, JsonObject *event);

  HostLink host_;
  RecordingIndex *index_;  // borrowed
  FileWorker *writer_;     // borrowed
  bool record_by_default_;
  int bitrate_kbps_;
  std::map<std::string, std::string> active_;  // class id -> recording id, while recording
  std::map<std::string, uint64_t> media_ids_;  // recording id -> the host's recording id
  std::map<std::string, bool> class_choice_;   // class id -> record? (REST, for the next start)
  bool said_no_media_ = false;                 // the "no live audio" line is logged once
};

}  // namespace gramothi::recording
