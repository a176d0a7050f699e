// The recording index: what is known of each recording, by id, on the main loop.
//
// On disk, one folder per recording under the plugin's `dir`, named by its id:
//   recording.json   the Recording below, rewritten (atomically) on every change
//   audio.ogg        written by the host's media engine as the class goes
//   timeline.jsonl   slides and chat as they happened (timeline.hpp)
// At start the folders are scanned; a recording still "recording" then was cut off by a crash
// and is finalized (the partial last Ogg page cut, the length read from the last granule
// position): `interrupted`, or `complete` when the file did end.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host.hpp"
#include "worker.hpp"

namespace gramothi::recording {

enum class RecordingState {
  kRecording,    // the class is live and its audio goes to disk
  kFinishing,    // ended; its length is being read from the file (never on disk, no package)
  kComplete,     // ended cleanly
  kInterrupted,  // the server stopped during the class; kept up to the cut
  kFailed,       // stopped by an error (`error` says which); the class itself went on
};

// The state's name in JSON and on disk, and back (nullopt for a name that is no state).
const char *to_string(RecordingState state);
std::optional<RecordingState> recording_state_from(std::string_view name);

struct Recording {
  std::string id, class_id, session_id, teacher_id;
  RecordingState state = RecordingState::kRecording;
  std::string error;
  int64_t started_at_ms = 0;  // the wall-clock time of the audio's time 0
  int64_t ended_at_ms = 0, duration_ms = 0, audio_bytes = 0;
  int bitrate_kbps = 0;
  int slide_changes = 0, chat_messages = 0;
  bool stop_requested = false;  // stopped before the media engine had started it; not on disk
};

// recording.json, which is also a row of the REST list; and back (false when it is not one).
std::string to_json(const Recording &r);
bool from_json(const std::string &text, Recording *r);

// Owned by the plugin through shared_ptr (the start-up scan reports back through a weak_ptr).
class RecordingIndex : public std::enable_shared_from_this<RecordingIndex> {
 public:
  // `writer` (borrowed) does the file work, in order with the timeline's.
  RecordingIndex(HostLink host, std::string dir, FileWorker *writer);

  std::string folder(const std::string &id) const { return dir_ + "/" + id; }

  // Borrowed: valid until that recording leaves the index.
  Recording *find(const std::string &id);
  Recording &add(Recording r);
  // Forgets a recording that never began, and removes its empty folder.
  void discard(const std::string &id);
  // The class's recordings, newest first; borrowed, valid until the index changes.
  std::vector<const Recording *> of_class(const std::string &class_id) const;

  // Writes the recording's recording.json on the writer.
  void save(const Recording &r);
  // Scans `dir` on the writer (finalizing what a crash cut off); the index has the recordings
  // once the main loop gets the result.
  void load();

 private:
  HostLink host_;
  std::string dir_;
  FileWorker *writer_;  // borrowed
  std::map<std::string, Recording> by_id_;
};

}  // namespace gramothi::recording
