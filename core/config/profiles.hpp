// Bandwidth profiles, read from pipelines/profiles.ini (operator-editable). Ordered from the
// lowest link rate to the highest.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"

namespace gramothi {

struct BandwidthProfile {
  std::string name;
  std::string description;
  int audio_bitrate_kbps = 0;
  int link_min_kbps = 0;
  int opus_frame_ms = 20;
  int opus_loss_pct = 0;
  int audio_redundancy = 0;  // earlier frames each packet repeats (RED), for who accepts RED
  int slide_width = 0;
  int slide_height = 0;
  // Students on this profile get a tiny preview of each slide (SlideService::kPreview*) before
  // its image: for links where the image takes many seconds beside the audio.
  bool slide_preview = false;
};

// What a profile's audio costs on the wire (kbit/s) with `redundancy` earlier frames repeated in
// each packet (RED): the Opus bytes, each repeat as many again, and per packet 12 (RTP), 16 (the
// SRTP tag), 8 (UDP) and 20 (IPv4) bytes, with RED's block headers (1, and 4 per repeat).
// `redundancy` may be fractional: the average over packets.
double audio_wire_kbps(const BandwidthProfile &p, double redundancy);

class ProfileSet {
 public:
  // Errors name the file, the group and the key (kInvalid, "profiles_invalid").
  static Result<ProfileSet> load(const std::string &path);

  const std::vector<BandwidthProfile> &all() const { return profiles_; }
  const BandwidthProfile *find(std::string_view name) const;
  // "auto" or a profile name.
  bool is_valid_choice(std::string_view name) const { return name == "auto" || find(name); }
  std::string names_joined() const;  // "auto, ultra-low, low, ..." for error messages
  std::string to_json() const;       // array of objects, for /config

  // How fast a slide image may go to a listener on `profile` (bytes per second on the wire,
  // TCP/IP headers included), so that it never queues up in front of the audio: what the link
  // leaves beside the profile's audio, taking the link to be just below the next profile's
  // link_min_kbps (the controller would have moved the listener up otherwise), less a quarter
  // for signaling, retransmissions and the link's own variation; at least 1 KB/s. 0 (no
  // pacing) for the highest profile and unknown names.
  size_t image_pace_bytes_per_s(std::string_view profile) const;

 private:
  std::vector<BandwidthProfile> profiles_;
};

}  // namespace gramothi
