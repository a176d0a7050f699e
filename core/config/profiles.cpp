#include "config/profiles.hpp"

#include <glib.h>

#include <algorithm>

#include "base/json.hpp"

namespace gramothi {
namespace {

Error profiles_error(const std::string &message) {
  return Error{ErrorKind::kInvalid, "profiles_invalid", message};
}

bool valid_profile_name(std::string_view name) {
  if (name.empty() || name.size() > 32 || name == "auto") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

}  // namespace

Result<ProfileSet> ProfileSet::load(const std::string &path) {
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(GError) err = nullptr;
  if (!g_key_file_load_from_file(kf, path.c_str(), G_KEY_FILE_NONE, &err))
    return profiles_error(path + ": " + err->message);

  ProfileSet set;
  gsize n = 0;
  g_auto(GStrv) groups = g_key_file_get_groups(kf, &n);
  for (gsize i = 0; i < n; i++) {
    std::string group = groups[i];
    if (group.rfind("profile ", 0) != 0)
      return profiles_error(path + ": [" + group + "]: groups must be named \"profile NAME\"");
    BandwidthProfile p;
    p.name = group.substr(8);
    if (!valid_profile_name(p.name))
      return profiles_error(path + ": [" + group + "]: '" + p.name +
                            "' is not a profile name (lowercase letters, digits, '-'; not auto)");
    if (set.find(p.name)) return profiles_error(path + ": [" + group + "]: defined twice");

    struct IntKey {
      const char *key;
      int *field;
      int lo, hi;
    } keys[] = {
        {"audio_bitrate_kbps", &p.audio_bitrate_kbps, 6, 510},
        {"link_min_kbps", &p.link_min_kbps, 0, 1000000},
        {"opus_frame_ms", &p.opus_frame_ms, 10, 60},
        {"opus_loss_pct", &p.opus_loss_pct, 0, 100},
        {"slide_width", &p.slide_width, 160, 7680},
        {"slide_height", &p.slide_height, 120, 4320},
    };
    for (auto &k : keys) {
      g_autofree char *raw = g_key_file_get_value(kf, groups[i], k.key, nullptr);
      if (!raw) return profiles_error(path + ": [" + group + "] " + k.key + ": missing");
      gint64 v = 0;
      if (!g_ascii_string_to_signed(g_strstrip(raw), 10, k.lo, k.hi, &v, nullptr)) {
        return profiles_error(path + ": [" + group + "] " + k.key + ": '" + raw +
                              "' is not a whole number from " + std::to_string(k.lo) + " to " +
                              std::to_string(k.hi));
      }
      *k.field = static_cast<int>(v);
    }
    {
      // Optional (0 when absent): how many earlier frames each packet repeats (RED).
      g_autofree char *raw = g_key_file_get_value(kf, groups[i], "audio_redundancy", nullptr);
      gint64 v = 0;
      if (raw && !g_ascii_string_to_signed(g_strstrip(raw), 10, 0, 2, &v, nullptr))
        return profiles_error(path + ": [" + group + "] audio_redundancy: '" + raw +
                              "' is not a whole number from 0 to 2");
      p.audio_redundancy = static_cast<int>(v);
    }
    {
      // Optional (false when absent).
      g_autofree char *raw = g_key_file_get_value(kf, groups[i], "slide_preview", nullptr);
      if (raw) {
        std::string v = g_strstrip(raw);
        if (v != "true" && v != "false")
          return profiles_error(path + ": [" + group + "] slide_preview: '" + v +
                                "' is not true or false");
        p.slide_preview = v == "true";
      }
    }
    if (p.opus_frame_ms != 10 && p.opus_frame_ms != 20 && p.opus_frame_ms != 40 &&
        p.opus_frame_ms != 60) {
      return profiles_error(path + ": [" + group + "] opus_frame_ms: must be 10, 20, 40 or 60");
    }
    g_autofree char *desc = g_key_file_get_string(kf, groups[i], "description", nullptr);
    p.description = desc ? desc : "";
    set.profiles_.push_back(std::move(p));
  }
  if (set.profiles_.empty()) return profiles_error(path + ": no [profile NAME] groups");
  std::stable_sort(set.profiles_.begin(), set.profiles_.end(),
                   [](const auto &a, const auto &b) { return a.link_min_kbps < b.link_min_kbps; });
  return set;
}

const BandwidthProfile *ProfileSet::find(std::string_view name) const {
  for (const auto &p : profiles_)
    if (p.name == name) return &p;
  return nullptr;
}

double audio_wire_kbps(const BandwidthProfile &p, double redundancy) {
  double packets_per_s = 1000.0 / std::max(1, p.opus_frame_ms);
  double header_bytes = 56 + (redundancy > 0 ? 1 + 4 * redundancy : 0);
  return p.audio_bitrate_kbps * (1 + redundancy) + packets_per_s * header_bytes * 8 / 1000;
}

size_t ProfileSet::image_pace_bytes_per_s(std::string_view name) const {
  for (size_t i = 0; i + 1 < profiles_.size(); i++) {
    const BandwidthProfile &p = profiles_[i];
    if (p.name != name) continue;
    double left_kbps =
        (profiles_[i + 1].link_min_kbps - audio_wire_kbps(p, p.audio_redundancy)) * 0.75;
    return std::max<size_t>(1024, static_cast<size_t>(left_kbps * 1000 / 8));
  }
  return 0;
}

std::string ProfileSet::names_joined() const {
  std::string out = "auto";
  for (const auto &p : profiles_)
    out += ", " + p.name;
  return out;
}

std::string ProfileSet::to_json() const {
  std::string out = "[";
  for (const auto &p : profiles_) {
    if (out.size() > 1) out += ",";
    out += JsonObjectWriter()
               .str("name", p.name)
               .str("description", p.description)
               .num("audio_bitrate_kbps", int64_t{p.audio_bitrate_kbps})
               .num("link_min_kbps", int64_t{p.link_min_kbps})
               .num("opus_frame_ms", int64_t{p.opus_frame_ms})
               .num("slide_width", int64_t{p.slide_width})
               .num("slide_height", int64_t{p.slide_height})
               .boolean("slide_preview", p.slide_preview)
               .finish();
  }
  return out + "]";
}

}  // namespace gramothi
