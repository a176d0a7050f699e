#include "writer.hpp"

#include <glib/gstdio.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "timeline.hpp"

namespace gramothi::recording {

namespace {

std::string random_id() {
  char id[33];
  for (int i = 0; i < 4; i++)
    g_snprintf(id + 8 * i, 9, "%08x", g_random_int());
  return id;
}

int64_t now_ms() {
  return g_get_real_time() / 1000;
}

const char *string_member(JsonObject *o, const char *name) {
  return json_object_get_string_member_with_default(o, name, "");
}

}  // namespace

ClassRecorder::ClassRecorder(HostLink host, RecordingIndex *index, FileWorker *writer,
                             bool record_by_default, int bitrate_kbps)
    : host_(host),
      index_(index),
      writer_(writer),
      record_by_default_(record_by_default),
      bitrate_kbps_(bitrate_kbps) {}

void ClassRecorder::set_choice(const std::string &class_id, bool record) {
  class_choice_[class_id] = record;
  if (record)
    start_if_live(class_id);
  else
    stop(class_id);
}

// ---- start and stop ----

// The recording of a class that just went live: its folder first, on the writer, then the audio.
void ClassRecorder::start(const std::string &class_id, const std::string &session_id,
                          const std::string &teacher_id) {
  if (active_.count(class_id)) return;
  Recording r;
  r.id = random_id();
  r.class_id = class_id;
  r.session_id = session_id;
  r.teacher_id = teacher_id;
  r.state = RecordingState::kRecording;
  r.bitrate_kbps = bitrate_kbps_;
  r.started_at_ms = now_ms();
  std::string id = r.id;
  index_->add(std::move(r));
  active_[class_id] = id;
  auto error = std::make_shared<std::string>();
  writer_->run(
      [dir = index_->folder(id), error] {
        if (g_mkdir_with_parents(dir.c_str(), 0750) != 0)
          *error = std::string("cannot create ") + dir + ": " + g_strerror(errno);
      },
      while_alive(weak_from_this(),
                  [id, error](ClassRecorder &self) { self.on_folder_made(id, *error); }));
}

void ClassRecorder::on_folder_made(const std::string &id, const std::string &folder_error) {
  Recording *r = index_->find(id);
  if (!r) return;
  if (r->stop_requested) {
    // The class ended (or recording was turned off) before it began: nothing to keep.
    index_->discard(id);
    return;
  }
  GramothiError e{};
  uint64_t media = 0;
  if (folder_error.empty()) {
    auto news = std::make_unique<MediaNews>(while_alive(
        weak_from_this(), [id](ClassRecorder &self, const char *state, const char *detail) {
          self.on_media_state(id, state, detail);
        }));
    media = host_.api->media_record_start(host_.ctx, r->class_id.c_str(),
                                          (index_->folder(id) + "/audio.ogg").c_str(),
                                          r->bitrate_kbps * 1000, on_media_news, news.get(), &e);
    if (media) news.release();  // the host's until its last news
  }
  if (!media && folder_error.empty() && strcmp(e.code, "media_unavailable") == 0) {
    // A server without live audio ([media] enabled = false) has nothing to record.
    if (!said_no_media_)
      host_.log(GRAMOTHI_LOG_INFO, "no live audio on this server: classes are not recorded");
    said_no_media_ = true;
    forget_active(*r);
    index_->discard(id);
    return;
  }
  if (!media) {
    r->state = RecordingState::kFailed;
    r->error = folder_error.empty() ? e.message : folder_error;
    host_.log(GRAMOTHI_LOG_ERROR, "class " + r->class_id + ": cannot record: " + r->error);
    forget_active(*r);
    if (folder_error.empty()) index_->save(*r);
    announce(*r);
    return;
  }
  media_ids_[id] = media;
  index_->save(*r);
  announce(*r);
  host_.log(GRAMOTHI_LOG_INFO, "class " + r->class_id + ": recording " + id);
}

// Starts recording the class's live session now, if it is live and not recorded yet.
void ClassRecorder::start_if_live(const std::string &class_id) {
  if (active_.count(class_id)) return;
  auto on_status = [](ClassRecorder &self, const GramothiError *error, const char *json) {
    if (error || !json) return;
    g_autoptr(JsonParser) p = json_parser_new();
    JsonObject *o = parse_object(p, json);
    if (!o || g_strcmp0(string_member(o, "state"), "live") != 0) return;
    auto str = [&](const char *k) {
      JsonNode *n = json_object_get_member(o, k);
      return n && JSON_NODE_HOLDS_VALUE(n) ? std::string(json_node_get_string(n)) : std::string();
    };
    self.start(str("class_id"), str("session_id"), str("teacher_id"));
  };
  host_.api->class_status(host_.ctx, class_id.c_str(), OnResult::call,
                          OnResult::wrap(while_alive(weak_from_this(), on_status)));
}

// Ends the class's recording. The class is free for a new one at once (a restart, or the
// teacher turning recording back on), while this one writes its last page.
void ClassRecorder::stop(const std::string &class_id) {
  auto a = active_.find(class_id);
  if (a == active_.end()) return;
  std::string id = a->second;
  active_.erase(a);
  auto m = media_ids_.find(id);
  if (m != media_ids_.end())
    host_.api->media_record_stop(host_.ctx, m->second);
  else if (Recording *r = index_->find(id))
    r->stop_requested = true;
}

void ClassRecorder::on_media_news(const char *state, const char *detail, void *data) {
  auto *news = static_cast<MediaNews *>(data);
  std::unique_ptr<MediaNews> last(strcmp(state, "recording") != 0 ? news : nullptr);
  (*news)(state, detail);
}

void ClassRecorder::on_media_state(const std::string &id, const char *state, const char *detail) {
  Recording *r = index_->find(id);
  if (!r) return;
  if (strcmp(state, "recording") == 0) {
    gint64 t0 = 0;
    if (g_ascii_string_to_signed(detail, 10, 0, G_MAXINT64, &t0, nullptr)) r->started_at_ms = t0;
    index_->save(*r);
    note_current_slide(id);
    return;
  }
  media_ids_.erase(id);
  forget_active(*r);
  r->ended_at_ms = now_ms();
  RecordingState final_state =
      strcmp(state, "stopped") == 0 ? RecordingState::kComplete : RecordingState::kFailed;
  if (final_state == RecordingState::kFailed) {
    r->error = detail ? detail : "";
    host_.log(GRAMOTHI_LOG_ERROR,
              "class " + r->class_id + ": recording " + id + " stopped: " + r->error);
  }
  // The true length comes from the file itself; until it is read, the recording is finishing.
  r->state = RecordingState::kFinishing;
  auto info = std::make_shared<OggInfo>();
  writer_->run([path = index_->folder(id) + "/audio.ogg", info] { *info = ogg_finalize(path); },
               while_alive(weak_from_this(), [id, info, final_state](ClassRecorder &self) {
                 self.on_finalized(id, final_state, *info);
               }));
}

void ClassRecorder::on_finalized(const std::string &id, RecordingState state, const OggInfo &info) {
  Recording *r = index_->find(id);
  if (!r) return;
  r->state = state;
  r->duration_ms = info.duration_ms;
  r->audio_bytes = info.bytes;
  index_->save(*r);
  announce(*r);
}

void ClassRecorder::forget_active(const Recording &r) {
  auto a = active_.find(r.class_id);
  if (a != active_.end() && a->second == r.id) active_.erase(a);
}

void ClassRecorder::announce(const Recording &r) {
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  for (const auto &[k, v] : {std::pair<const char *, std::string>{"class_id", r.class_id},
                             {"recording_id", r.id},
                             {"state", to_string(r.state)},
                             {"error", r.error}}) {
    json_builder_set_member_name(b, k);
    json_builder_add_string_value(b, v.c_str());
  }
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  host_.api->event_publish(host_.ctx, "recording.state", node_text(root).c_str());
}

// ---- the timeline ----

void ClassRecorder::append(const std::string &id, const std::string &line) {
  writer_->run([path = index_->folder(id) + "/timeline.jsonl", line] {
    FILE *f = fopen(path.c_str(), "ae");
    if (!f) return;
    fputs(line.c_str(), f);
    fputc('\n', f);
    fflush(f);
    fclose(f);
  });
}

void ClassRecorder::add_slide(Recording &r, int64_t t_ms, const char *action, JsonNode *slide) {
  r.slide_changes++;
  append(r.id, slide_line(t_ms, action, slide));
}

// The slide on screen when the audio begins, at time 0, so the timeline opens with it.
void ClassRecorder::note_current_slide(const std::string &id) {
  Recording *r = index_->find(id);
  if (!r) return;
  auto on_slides = [id](ClassRecorder &self, const GramothiError *error, const char *json) {
    Recording *r = self.index_->find(id);
    if (error || !json || !r) return;
    g_autoptr(JsonParser) p = json_parser_new();
    JsonObject *o = parse_object(p, json);
    if (!o) return;
    const char *current = string_member(o, "current_slide_id");
    JsonArray *slides =
        json_object_has_member(o, "slides") ? json_object_get_array_member(o, "slides") : nullptr;
    for (guint i = 0; slides && i < json_array_get_length(slides); i++) {
      JsonNode *s = json_array_get_element(slides, i);
      if (g_strcmp0(string_member(json_node_get_object(s), "slide_id"), current) == 0)
        return self.add_slide(*r, 0, "current", s);
    }
  };
  host_.api->slides_list(host_.ctx, r->class_id.c_str(), OnResult::call,
                         OnResult::wrap(while_alive(weak_from_this(), on_slides)));
}

// The recording an event's class is writing, once its audio has started.
Recording *ClassRecorder::recording_of(JsonObject *event) {
  auto a = active_.find(string_member(event, "class_id"));
  if (a == active_.end()) return nullptr;
  Recording *r = index_->find(a->second);
  return r && media_ids_.count(a->second) ? r : nullptr;
}

// ---- the bus ----

void ClassRecorder::subscribe() {
  const struct {
    const char *topic;
    GramothiEventCallback callback;
  } events[] = {
      {"class.started", on_bus<&ClassRecorder::on_class_started>},
      {"class.stopped", on_bus<&ClassRecorder::on_class_stopped>},
      {"slides.sync", on_bus<&ClassRecorder::on_slides_sync>},
      {"chat.message", on_bus<&ClassRecorder::on_chat>},
      {"chat.removed", on_bus<&ClassRecorder::on_chat>},
  };
  for (const auto &e : events)
    host_.api->event_subscribe(host_.ctx, e.topic, e.callback, this);
}

template <void (ClassRecorder::*handler)(const char *topic, JsonObject *event)>
void ClassRecorder::on_bus(const char *topic, const char *payload, void *self) {
  g_autoptr(JsonParser) p = json_parser_new();
  if (JsonObject *event = parse_object(p, payload))
    (static_cast<ClassRecorder *>(self)->*handler)(topic, event);
}

void ClassRecorder::on_class_started(const char *, JsonObject *event) {
  std::string class_id = string_member(event, "class_id");
  auto choice = class_choice_.find(class_id);
  if (choice != class_choice_.end() ? choice->second : record_by_default_)
    start(class_id, string_member(event, "session_id"), string_member(event, "teacher_id"));
}

void ClassRecorder::on_class_stopped(const char *, JsonObject *event) {
  stop(string_member(event, "class_id"));
}

void ClassRecorder::on_slides_sync(const char *, JsonObject *event) {
  Recording *r = recording_of(event);
  JsonNode *slide = r ? json_object_get_member(event, "slide") : nullptr;
  if (!slide || !JSON_NODE_HOLDS_OBJECT(slide)) return;
  int64_t at = json_object_get_int_member_with_default(event, "timestamp", now_ms());
  add_slide(*r, at - r->started_at_ms,
            json_object_get_string_member_with_default(event, "action", "goto"), slide);
}

// "chat.message" and "chat.removed".
void ClassRecorder::on_chat(const char *topic, JsonObject *event) {
  Recording *r = recording_of(event);
  if (!r) return;
  if (strcmp(topic, "chat.message") == 0) {
    JsonNode *m = json_object_get_member(event, "message");
    if (!m || !JSON_NODE_HOLDS_OBJECT(m)) return;
    int64_t sent =
        json_object_get_int_member_with_default(json_node_get_object(m), "sent_at_ms", now_ms());
    r->chat_messages++;
    append(r->id, chat_line(sent - r->started_at_ms, m));
  } else {
    append(r->id,
           chat_removed_line(now_ms() - r->started_at_ms, string_member(event, "message_id")));
  }
}

}  // namespace gramothi::recording
