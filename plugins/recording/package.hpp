// LecturePackages: a recording's lecture package for one profile, a zip (libarchive) of
//   index.html      the offline player, with the timeline inlined (player_html.hpp)
//   timeline.json   the player's timeline, images as slides/NAME
//   audio.ogg       the recording's audio, as recorded
//   slides/*.webp   the slides shown, at the profile, fetched from the host's slide store
// Made on the first request and kept next to the recording as package-PROFILE.zip, which later
// requests are served from.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "host.hpp"
#include "index.hpp"
#include "worker.hpp"

namespace gramothi::recording {

// Owned by the plugin through shared_ptr: slide fetches and file work report back through a
// weak_ptr. The reader is borrowed; the plugin keeps it longer.
class LecturePackages : public std::enable_shared_from_this<LecturePackages> {
 public:
  // The zip's bytes, or why they could not be made (`error`); on the main loop.
  using Done = std::function<void(const std::string &zip, const std::string &error)>;

  // `reader` does the file work: reading the cache, the timeline and the audio, and packing.
  LecturePackages(HostLink host, FileWorker *reader);

  // The package of `r`, whose files are in `folder`, at `profile` (a known profile name).
  void get(const Recording &r, const std::string &folder, const std::string &profile, Done done);

 private:
  struct Making;
  void on_read(std::shared_ptr<Making> m);
  void pack(std::shared_ptr<Making> m);

  HostLink host_;
  FileWorker *reader_;  // borrowed
};

}  // namespace gramothi::recording
