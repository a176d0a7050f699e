#include "media/media_pipelines.hpp"

#include <gst/gst.h>

#include <set>

namespace gramothi {
namespace {

Error pipelines_error(const std::string &message) {
  return Error{ErrorKind::kInvalid, "pipelines_invalid", message};
}

// The 1-based line of "key=" inside [group] of the file's text, or 0.
int line_of(const std::string &text, const std::string &group, const std::string &key) {
  int line = 0;
  bool in_group = false;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string l = text.substr(pos, end - pos);
    line++;
    g_autofree char *stripped = g_strstrip(g_strdup(l.c_str()));
    std::string s = stripped;
    if (!s.empty() && s[0] == '[') {
      in_group = s == "[" + group + "]";
    } else if (in_group && s.rfind(key, 0) == 0) {
      std::string rest = s.substr(key.size());
      size_t k = rest.find_first_not_of(" \t");
      if (k != std::string::npos && rest[k] == '=') return line;
    }
    pos = end + 1;
  }
  return 0;
}

// Parses `description` as a bin with ghost pads; returns GStreamer's complaint, or "".
std::string try_parse(const std::string &description) {
  g_autoptr(GError) err = nullptr;
  GstElement *bin = gst_parse_bin_from_description_full(description.c_str(), TRUE, nullptr,
                                                        GST_PARSE_FLAG_FATAL_ERRORS, &err);
  if (bin) {
    gst_object_unref(gst_object_ref_sink(bin));
    if (!err) return "";
  }
  return err ? err->message : "cannot be parsed";
}

}  // namespace

std::string MediaPipelines::expand(const std::string &text,
                                   const std::map<std::string, std::string> &values) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = text.find("${", pos);
    size_t end = start == std::string::npos ? std::string::npos : text.find('}', start);
    if (end == std::string::npos) {
      out += text.substr(pos);
      break;
    }
    out += text.substr(pos, start - pos);
    auto it = values.find(text.substr(start + 2, end - start - 2));
    out += it == values.end() ? text.substr(start, end - start + 1) : it->second;
    pos = end + 1;
  }
  return out;
}

std::string MediaPipelines::encoder(const BandwidthProfile &p) const {
  return expand(encode_, {{"bitrate_bps", std::to_string(p.audio_bitrate_kbps * 1000)},
                          {"frame_ms", std::to_string(p.opus_frame_ms)},
                          {"loss_pct", std::to_string(p.opus_loss_pct)}});
}

// Speech at a small size: 60 ms frames, VBR; Ogg pages at least every 500 ms, so a recording
// cut off by a crash loses at most about that much.
constexpr const char *kDefaultRecorder =
    "audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=1 ! opusenc audio-type=voice "
    "bitrate=${bitrate_bps} frame-size=60 bitrate-type=vbr dtx=false ! oggmux "
    "max-delay=500000000 max-page-delay=500000000";

std::string MediaPipelines::recorder(int bitrate_bps) const {
  return expand(record_.empty() ? kDefaultRecorder : record_,
                {{"bitrate_bps", std::to_string(bitrate_bps)}});
}

std::string MediaPipelines::payloader(unsigned pt, unsigned ssrc) const {
  return expand(pay_, {{"pt", std::to_string(pt)}, {"ssrc", std::to_string(ssrc)}});
}

Result<MediaPipelines> MediaPipelines::load(const std::string &path, const ProfileSet &profiles) {
  g_autofree char *contents = nullptr;
  gsize length = 0;
  g_autoptr(GError) err = nullptr;
  if (!g_file_get_contents(path.c_str(), &contents, &length, &err))
    return pipelines_error(path + ": " + err->message);
  std::string text(contents, length);
  g_autoptr(GKeyFile) kf = g_key_file_new();
  if (!g_key_file_load_from_data(kf, contents, length, G_KEY_FILE_NONE, &err))
    return pipelines_error(path + ": " + err->message);

  const std::map<std::string, std::set<std::string>> known = {{"ingest", {"decode"}},
                                                              {"encoder", {"encode"}},
                                                              {"listener", {"pay"}},
                                                              {"recording", {"encode"}}};
  gsize n_groups = 0;
  g_auto(GStrv) groups = g_key_file_get_groups(kf, &n_groups);
  for (gsize i = 0; i < n_groups; i++) {
    auto g = known.find(groups[i]);
    if (g == known.end())
      return pipelines_error(path + ": [" + groups[i] +
                             "]: unknown group (known: ingest, encoder, listener, recording)");
    g_auto(GStrv) keys = g_key_file_get_keys(kf, groups[i], nullptr, nullptr);
    for (char **k = keys; k && *k; k++)
      if (!g->second.count(*k))
        return pipelines_error(path + ":" + std::to_string(line_of(text, groups[i], *k)) + ": [" +
                               groups[i] + "] " + *k + ": unknown key");
  }

  MediaPipelines m;
  struct Field {
    const char *group, *key;
    std::string *out;
  } fields[] = {{"ingest", "decode", &m.decode_},
                {"encoder", "encode", &m.encode_},
                {"listener", "pay", &m.pay_}};
  for (auto &f : fields) {
    g_autofree char *v = g_key_file_get_string(kf, f.group, f.key, nullptr);
    if (!v || !*g_strstrip(v))
      return pipelines_error(path + ": [" + f.group + "] " + f.key + ": missing");
    *f.out = v;
  }

  if (g_autofree char *v = g_key_file_get_string(kf, "recording", "encode", nullptr))
    m.record_ = g_strstrip(v);

  auto check = [&](const char *group, const char *key, const std::string &description,
                   const std::string &context) -> std::optional<Error> {
    std::string why = try_parse(description);
    if (why.empty()) return std::nullopt;
    return pipelines_error(path + ":" + std::to_string(line_of(text, group, key)) + ": [" + group +
                           "] " + key + context + ": " + why);
  };
  if (auto e = check("ingest", "decode", m.decode_, "")) return *e;
  if (auto e = check("listener", "pay", m.payloader(111, 12345), "")) return *e;
  if (auto e = check("recording", "encode", m.recorder(24000), "")) return *e;
  for (const auto &p : profiles.all()) {
    if (p.opus_frame_ms != 10 && p.opus_frame_ms != 20 && p.opus_frame_ms != 40 &&
        p.opus_frame_ms != 60)
      return pipelines_error("profile '" + p.name + "': opus_frame_ms must be 10, 20, 40 or 60");
    if (auto e = check("encoder", "encode", m.encoder(p), " (profile " + p.name + ")")) return *e;
  }
  return m;
}

}  // namespace gramothi
