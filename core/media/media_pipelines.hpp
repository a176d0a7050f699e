// MediaPipelines: the operator-editable gst-launch fragments of pipelines/media.ini (ingest
// decode, per-profile encoder, per-listener payloader), with ${placeholder} substitution.
// load() parses every fragment once with each profile's values, so a broken description stops
// the start with the file, the line and GStreamer's reason instead of failing mid-class.
#pragma once

#include <map>
#include <string>

#include "base/error.hpp"
#include "config/profiles.hpp"

namespace gramothi {

class MediaPipelines {
 public:
  // Errors: kInvalid "pipelines_invalid", "FILE:LINE: [group] key: why".
  static Result<MediaPipelines> load(const std::string &path, const ProfileSet &profiles);

  std::string decode() const { return decode_; }
  std::string encoder(const BandwidthProfile &p) const;
  std::string payloader(unsigned pt, unsigned ssrc) const;
  // Raw audio in, an Ogg/Opus byte stream out, at `bitrate_bps` ([recording] encode; a built-in
  // default when the file has none).
  std::string recorder(int bitrate_bps) const;

  // Replaces ${name} with values[name]; unknown placeholders are left as they are.
  static std::string expand(const std::string &text, const std::map<std::string, std::string> &v);

 private:
  std::string decode_, encode_, pay_, record_;
};

}  // namespace gramothi
