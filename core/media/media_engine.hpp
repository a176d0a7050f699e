// MediaEngine: the live audio of every class, the one entry point of core/media.
//
//   publisher: webrtcbin -> [ingest decode] -> appsink ==> class teacher appsrc
//   class:     silence + teacher -> mixer -> tee -> per profile [encoder] -> Tier
//                                            tee -> tap ==> recording: [recording] -> file
// A class pipeline runs only while a teacher publishes; in between it costs nothing, its
// listeners are sent nothing and its recordings get the gap as silence (Recorder).
//   listener:  Tier ==> Feed -> lite session, or appsrc -> [listener pay] -> webrtcbin
// Files: publisher, class_pipeline, tier, recorder, listener (the interface and the lite one),
// webrtcbin_listener, webrtc_session (a webrtcbin peer's setup), gst_support (formats, clock).
//
// Every teacher and webrtcbin listener has a pipeline of its own (webrtc_session.*), so one
// peer's trouble never stalls another; all pipelines share one clock and base time
// (gst_support.*), so timestamps carry across. A listener switches profile by moving its Feed
// from one Tier to another; SSRC, sequence numbers and timestamps run on. A BandwidthController
// per listener decides the profile from RTCP and client reports unless the student pinned one.
//
// Threading: every public method runs on the main loop, and every PeerObserver callback is
// delivered there, never from inside a public call. GStreamer threads only move buffers.
// Ownership: the engine owns classes and peers; callers hold a PeerId and may close it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "config/profiles.hpp"
#include "media/media_pipelines.hpp"
#include "media/media_types.hpp"

namespace gramothi {

class LiteTransport;

class MediaEngine {
 public:
  // `lite`: the listeners' shared transport; null gives every listener a webrtcbin instead.
  MediaEngine(const ProfileSet &profiles, MediaPipelines pipelines, IceSettings ice,
              std::unique_ptr<LiteTransport> lite = nullptr);
  MediaEngine(const MediaEngine &) = delete;
  MediaEngine &operator=(const MediaEngine &) = delete;
  ~MediaEngine();

  // The teacher's offer in; the answer comes through observer.local_description. A second
  // publish for the same class replaces the first (which is closed with detail "replaced").
  Result<PeerId> publish(const std::string &class_id, const std::string &user_id,
                         const std::string &offer_sdp, PeerObserver observer);
  // A listener; the server's offer comes through observer.local_description. `profile` is
  // "auto" or a profile name. One listener per (class, user): a second replaces the first.
  // `held`: it connects (offer, ICE, DTLS) but is sent nothing, and its profile stays where it
  // starts, until play(): a page connects while its student reads, and the tap costs one
  // message instead of the round trips of a connection.
  Result<PeerId> listen(const std::string &class_id, const std::string &user_id,
                        const std::string &profile, PeerObserver observer, bool held = false);
  // A held listener gets the audio from now on, its profile chosen afresh as for a new one
  // (nothing when it is not held). Errors: not_listening.
  std::optional<Error> play(PeerId peer);
  std::optional<Error> remote_answer(PeerId peer, const std::string &sdp);
  std::optional<Error> remote_candidate(PeerId peer, unsigned mline, const std::string &candidate);
  // "auto" or a profile name.
  std::optional<Error> set_profile(PeerId peer, const std::string &profile);
  // A client's own view of its link; any field may be absent (negative = unknown).
  std::optional<Error> client_report(PeerId peer, int downlink_kbps, int rtt_ms, double loss,
                                     std::optional<bool> downloading = std::nullopt);
  // Pins (or "auto") the profile of a user's listener in a class, if connected.
  void pin_user(const std::string &class_id, const std::string &user_id,
                const std::string &profile);
  // Closes one peer; no callbacks for it after this returns.
  void close(PeerId peer);
  // The teacher moved to another slide: its images go to the listeners now, and their probes
  // of the next profile wait (BandwidthController::yield_to_slide).
  void slide_moved(const std::string &class_id);
  // Tears the class down; every peer gets state "closed" with detail "class-ended".
  void end_class(const std::string &class_id);

  // Records the class's audio (what listeners hear, silence included while no teacher speaks)
  // as Ogg/Opus at `bitrate_bps` into `path` (created or truncated), from now until
  // stop_recording or the end of the class. Pages reach the file at least every 500 ms
  // ([recording] in media.ini) while a teacher publishes and every 5 s between teachers (the
  // silence is encoded in batches), and are synced to disk every 5 s.
  // Errors: "media_unavailable" (the class pipeline), "recording_failed" (the file).
  Result<RecordingId> record(const std::string &class_id, const std::string &path, int bitrate_bps,
                             RecordingObserver observer);
  // Ends the recording cleanly (the final Ogg page); "stopped" follows. Unknown ids are ignored.
  void stop_recording(RecordingId id);

  std::optional<ListenerStats> stats(PeerId peer) const;
  size_t listener_count(const std::string &class_id) const;  // held ones not counted

  struct Impl;  // media_engine.cpp; its parts reach it through the narrower PeerHost

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace gramothi
