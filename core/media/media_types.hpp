// The media engine's vocabulary, shared by its parts and its users (the plugin host): peer and
// recording states, the observers through which news reaches the owner, ICE settings, stats.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace gramothi {

using PeerId = uint64_t;
using RecordingId = uint64_t;

struct IceSettings {
  std::vector<std::string> local_addresses;  // gather on these too (e.g. 127.0.0.1)
  std::string nat_1to1_address;              // advertise instead of the local address
  int port_min = 0, port_max = 0;            // UDP range; 0 = any
  std::string stun_server;                   // stun://host:port
  int ingest_latency_ms = 60;                // jitter buffer of the teacher's stream
  unsigned stats_interval_ms = 1000;         // how often listeners' RTCP stats are read
  unsigned encoder_linger_ms = 10000;        // a profile's encoder runs on this long unused
};

// A peer's connection. kClosed is the last state; its detail says why ("class-ended",
// "replaced", "media-error", "negotiation-failed").
enum class PeerState { kNew, kConnecting, kConnected, kDisconnected, kFailed, kClosed };
// "new", "connecting", ...: the names the plugin ABI and the JSON use.
std::string_view peer_state_name(PeerState state);

// What a peer tells its owner (the signaling plugin), on the main loop.
struct PeerObserver {
  std::function<void(const std::string &type, const std::string &sdp)> local_description;
  // candidate empty = end of candidates
  std::function<void(unsigned mline, const std::string &candidate)> local_candidate;
  std::function<void(PeerState state, const std::string &detail)> state;
  std::function<void(const std::string &profile, const std::string &reason)> profile_changed;
};

// One listener's link as the controller sees it, for stats and tests.
struct ListenerStats {
  std::string profile;
  bool pinned = false;
  uint64_t frames_sent = 0;  // handed to the listener's queue
  double loss_fraction = 0;  // latest RTCP report
  double rtt_ms = 0;
};

// A class recording's news: kRecording once the first audio is on disk (detail: the wall-clock
// time, in ms since the epoch, that the file's time 0 stands for); kStopped when the file is
// complete (after stop_recording or the end of the class); kFailed (detail: why, e.g. the disk
// is full) when it cannot go on, the class going on without it. The last is kStopped or kFailed.
enum class RecordingState { kRecording, kStopped, kFailed };
std::string_view recording_state_name(RecordingState state);  // "recording", "stopped", "failed"
using RecordingObserver = std::function<void(RecordingState state, const std::string &detail)>;

}  // namespace gramothi
