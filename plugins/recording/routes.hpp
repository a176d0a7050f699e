// RecordingRoutes: the plugin's HTTP side (api/rest.md, "Recordings").
//   GET  /api/v1/recordings/{class_id}                  the class's recordings, newest first
//   POST /api/v1/recordings/{class_id}                  {"record": bool}: on or off, now and next
//   GET  /api/v1/recordings/{recording_id}/timeline     the player's timeline, ?profile=
//   GET  /api/v1/recordings/{recording_id}/audio        audio.ogg, single byte ranges
//   GET  /api/v1/recordings/{recording_id}/package      the lecture package, ?profile=
//   POST /api/v1/recordings/{recording_id}/links        ticketed audio and package links
//   GET  /recordings/{recording_id}                     the player page
// Every route but the page checks access (access.hpp); audio and package also take a ticket. Audio
// reads and packages each hold their bytes in memory until sent, so at most 8 run at once; beyond
// that, 503 `busy`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "host.hpp"
#include "index.hpp"
#include "package.hpp"
#include "worker.hpp"
#include "writer.hpp"

namespace gramothi::recording {

// Owned by the plugin through shared_ptr: answers that wait for the host or the reader get back
// through a weak_ptr. The index, recorder, packages and reader are borrowed.
class RecordingRoutes : public std::enable_shared_from_this<RecordingRoutes> {
 public:
  RecordingRoutes(HostLink host, RecordingIndex *index, ClassRecorder *recorder,
                  LecturePackages *packages, FileWorker *reader, int64_t link_ttl_s);

  // Registers the routes; on failure writes which one into `error` and returns the status.
  int32_t add_routes(char *error, size_t error_size);

 private:
  template <void (RecordingRoutes::*handler)(GramothiHttpExchange *)>
  static void route(GramothiHttpExchange *ex, void *self) {
    (static_cast<RecordingRoutes *>(self)->*handler)(ex);
  }
  void list(GramothiHttpExchange *ex);
  void set(GramothiHttpExchange *ex);
  void timeline(GramothiHttpExchange *ex);
  void audio(GramothiHttpExchange *ex);
  void package(GramothiHttpExchange *ex);
  void links(GramothiHttpExchange *ex);
  void player(GramothiHttpExchange *ex);

  // The recording named in the path, if the caller may see it; otherwise the request is
  // answered.
  using WithRecording =
      std::function<void(RecordingRoutes &self, GramothiHttpExchange *ex, const Recording &r)>;
  enum class Credentials { kHeader, kHeaderOrTicket };
  void with_recording(GramothiHttpExchange *ex, Credentials accepted, WithRecording then);
  std::string chosen_profile(GramothiHttpExchange *ex);
  bool too_busy(GramothiHttpExchange *ex);
  void send_package(GramothiHttpExchange *ex, const Recording &r, const std::string &zip);

  HostLink host_;
  RecordingIndex *index_;      // borrowed
  ClassRecorder *recorder_;    // borrowed
  LecturePackages *packages_;  // borrowed
  FileWorker *reader_;         // borrowed
  int in_flight_ = 0;          // audio reads and packages being made or sent
  const int64_t link_ttl_s_;   // how long a ticketed link works
};

}  // namespace gramothi::recording
