#include "index.hpp"

#include <glib/gstdio.h>

#include <algorithm>
#include <array>
#include <utility>

#include "ogg_pages.hpp"

namespace gramothi::recording {

namespace {

constexpr std::array<std::pair<RecordingState, const char *>, 5> kStateNames = {{
    {RecordingState::kRecording, "recording"},
    {RecordingState::kFinishing, "finishing"},
    {RecordingState::kComplete, "complete"},
    {RecordingState::kInterrupted, "interrupted"},
    {RecordingState::kFailed, "failed"},
}};

// A recording a crash cut off: its audio ends at the last whole page.
void finalize_cut(Recording &r, const std::string &folder) {
  OggInfo info = ogg_finalize(folder + "/audio.ogg");
  r.state = info.complete ? RecordingState::kComplete : RecordingState::kInterrupted;
  r.duration_ms = info.duration_ms;
  r.audio_bytes = info.bytes;
  r.ended_at_ms = r.started_at_ms + info.duration_ms;
  if (!info.complete) r.error = "the server stopped during the class; kept up to the cut";
}

}  // namespace

const char *to_string(RecordingState state) {
  for (const auto &[s, name] : kStateNames)
    if (s == state) return name;
  return "failed";
}

std::optional<RecordingState> recording_state_from(std::string_view name) {
  for (const auto &[s, n] : kStateNames)
    if (name == n) return s;
  return std::nullopt;
}

std::string to_json(const Recording &r) {
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  auto str = [&](const char *k, const std::string &v) {
    json_builder_set_member_name(b, k);
    if (v.empty())
      json_builder_add_null_value(b);
    else
      json_builder_add_string_value(b, v.c_str());
  };
  auto num = [&](const char *k, int64_t v) {
    json_builder_set_member_name(b, k);
    json_builder_add_int_value(b, v);
  };
  str("recording_id", r.id);
  str("class_id", r.class_id);
  str("session_id", r.session_id);
  str("teacher_id", r.teacher_id);
  str("state", to_string(r.state));
  str("error", r.error);
  num("started_at_ms", r.started_at_ms);
  num("ended_at_ms", r.ended_at_ms);
  num("duration_ms", r.duration_ms);
  num("audio_bytes", r.audio_bytes);
  num("bitrate_kbps", r.bitrate_kbps);
  num("slide_changes", r.slide_changes);
  num("chat_messages", r.chat_messages);
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  return node_text(root);
}

bool from_json(const std::string &text, Recording *r) {
  g_autoptr(JsonParser) p = json_parser_new();
  JsonObject *o = parse_object(p, text.c_str());
  if (!o) return false;
  auto str = [&](const char *k) {
    JsonNode *n = json_object_get_member(o, k);
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? std::string(json_node_get_string(n))
               : std::string();
  };
  auto num = [&](const char *k) {
    JsonNode *n = json_object_get_member(o, k);
    return n && JSON_NODE_HOLDS_VALUE(n) ? json_node_get_int(n) : 0;
  };
  std::optional<RecordingState> state = recording_state_from(str("state"));
  if (!state) return false;
  r->id = str("recording_id");
  r->class_id = str("class_id");
  r->session_id = str("session_id");
  r->teacher_id = str("teacher_id");
  r->state = *state;
  r->error = str("error");
  r->started_at_ms = num("started_at_ms");
  r->ended_at_ms = num("ended_at_ms");
  r->duration_ms = num("duration_ms");
  r->audio_bytes = num("audio_bytes");
  r->bitrate_kbps = static_cast<int>(num("bitrate_kbps"));
  r->slide_changes = static_cast<int>(num("slide_changes"));
  r->chat_messages = static_cast<int>(num("chat_messages"));
  return !r->id.empty() && !r->class_id.empty();
}

RecordingIndex::RecordingIndex(HostLink host, std::string dir, FileWorker *writer)
    : host_(host), dir_(std::move(dir)), writer_(writer) {}

Recording *RecordingIndex::find(const std::string &id) {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

Recording &RecordingIndex::add(Recording r) {
  std::string id = r.id;
  return by_id_[id] = std::move(r);
}

void RecordingIndex::discard(const std::string &id) {
  by_id_.erase(id);
  writer_->run([dir = folder(id)] { g_rmdir(dir.c_str()); });
}

std::vector<const Recording *> RecordingIndex::of_class(const std::string &class_id) const {
  std::vector<const Recording *> rows;
  for (const auto &[id, r] : by_id_)
    if (r.class_id == class_id) rows.push_back(&r);
  std::sort(rows.begin(), rows.end(), [](const Recording *a, const Recording *b) {
    return a->started_at_ms > b->started_at_ms;
  });
  return rows;
}

void RecordingIndex::save(const Recording &r) {
  writer_->run([text = to_json(r), path = folder(r.id) + "/recording.json"] {
    g_autoptr(GError) err = nullptr;
    if (!g_file_set_contents(path.c_str(), text.c_str(), -1, &err))
      g_warning("recording: cannot write %s: %s", path.c_str(), err->message);
  });
}

void RecordingIndex::load() {
  auto found = std::make_shared<std::vector<Recording>>();
  writer_->run(
      [root = dir_, found] {
        g_autoptr(GDir) d = g_dir_open(root.c_str(), 0, nullptr);
        if (!d) return;
        while (const char *name = g_dir_read_name(d)) {
          std::string base = root + "/" + name;
          g_autofree char *text = nullptr;
          if (!g_file_get_contents((base + "/recording.json").c_str(), &text, nullptr, nullptr))
            continue;
          Recording r;
          if (!from_json(text, &r) || r.id != name) {
            // Kept on disk, left out of the list: a hand edit, or a newer server's state.
            g_warning("recording: %s/recording.json is not a recording this server knows; skipped",
                      base.c_str());
            continue;
          }
          if (r.state == RecordingState::kRecording) {
            finalize_cut(r, base);
            std::string out = to_json(r);
            g_file_set_contents((base + "/recording.json").c_str(), out.c_str(), -1, nullptr);
          }
          found->push_back(std::move(r));
        }
      },
      while_alive(weak_from_this(), [found](RecordingIndex &self) {
        for (auto &r : *found)
          if (!self.by_id_.count(r.id)) self.by_id_[r.id] = std::move(r);
        self.host_.log(GRAMOTHI_LOG_INFO,
                       std::to_string(found->size()) + " recordings in " + self.dir_);
      }));
}

}  // namespace gramothi::recording
