// The recording plugin: records each live class (by default, or when the teacher asks) as
// Ogg/Opus at a speech bitrate, with a timeline of slide changes and chat, so students who
// missed the class can catch up.
//
// On disk, one folder per recording under [plugin.recording] dir (DATA_DIR/recordings):
//   recording.json   what the recording is: class, session, times, state, error
//   audio.ogg        written by the host's media engine as the class goes
//   timeline.jsonl   one JSON object per line: {"t_ms": offset, "type": "slide"|"chat"|...}
// A recording still "recording" when the plugin starts was cut off by a crash: it is finalized
// then (the partial last Ogg page cut, the duration read from the last granule position).
// File work runs on one writer thread, never on the main loop.
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/http_json.hpp"
#include "gramothi/plugin.h"
#include "ogg_pages.hpp"
#include "player_html.hpp"

namespace {

using gramothi::plugin::http_status;
using gramothi::plugin::quote;

const GramothiHost *host = nullptr;
GramothiPluginContext *ctx = nullptr;

constexpr const char *kBase = "/api/v1/recordings";

struct Settings {
  bool record_by_default = true;
  int bitrate_kbps = 24;
  std::string dir;
} settings;

// What is known of one recording (the index; recording.json on disk holds the same).
struct Recording {
  std::string id, class_id, session_id, teacher_id;
  std::string state;  // recording, complete, interrupted, failed
  std::string error;
  int64_t started_at_ms = 0, ended_at_ms = 0, duration_ms = 0, audio_bytes = 0;
  int bitrate_kbps = 0;
  int slide_changes = 0, chat_messages = 0;
  bool stop_requested = false;  // stopped before the media engine had started it
};
std::map<std::string, Recording> index_;    // by recording id
std::map<std::string, std::string> active;  // class id -> recording id (while recording)
std::map<std::string, uint64_t> media_ids;  // recording id -> host recording id
std::map<std::string, bool> class_choice;   // class id -> record? (REST, for the next start)
GThreadPool *writer = nullptr;
GThreadPool *packer = nullptr;  // packages and audio reads, apart from the timeline writes
int64_t started_subscription = 0, stopped_subscription = 0, sync_subscription = 0,
        chat_subscription = 0, removed_subscription = 0;

void log(int level, const std::string &m) {
  host->log(ctx, level, m.c_str());
}

// ---- the writer thread ----

using Job = std::function<void()>;
void on_writer(gpointer data, gpointer) {
  std::unique_ptr<Job> job(static_cast<Job *>(data));
  (*job)();
}
// Main-loop callbacks the pools have queued and that have not run yet: removed at shutdown, so
// none runs (or is freed) after the plugin is unloaded.
std::mutex pending_mutex;
std::set<guint> pending;

// Runs `work` on `pool`'s thread, then `then` (if any) on the main loop.
void in_pool(GThreadPool *pool, Job work, Job then) {
  auto *job = new Job([work = std::move(work), then = std::move(then)] {
    work();
    if (!then) return;
    struct Done {
      Job then;
      guint id = 0;
    };
    std::lock_guard lock(pending_mutex);
    auto *d = new Done{then};
    d->id = g_idle_add_full(
        G_PRIORITY_DEFAULT,
        [](gpointer p) -> gboolean {
          auto *d = static_cast<Done *>(p);
          {
            std::lock_guard lock(pending_mutex);
            pending.erase(d->id);
          }
          d->then();
          return G_SOURCE_REMOVE;
        },
        d, [](gpointer p) { delete static_cast<Done *>(p); });
    pending.insert(d->id);
  });
  g_thread_pool_push(pool, job, nullptr);
}
// File work in order: folders, recording.json, the timeline.
void in_writer(Job work, Job then = nullptr) {
  in_pool(writer, std::move(work), std::move(then));
}
// Packages and audio reads, which may take a while, apart from the writes.
void in_packer(Job work, Job then) {
  in_pool(packer, std::move(work), std::move(then));
}

std::string folder(const std::string &id) {
  return settings.dir + "/" + id;
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
  str("state", r.state);
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
  g_autofree char *text = json_to_string(root, FALSE);
  return text;
}

bool from_json(const std::string &text, Recording *r) {
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json_parser_load_from_data(p, text.c_str(), -1, nullptr)) return false;
  JsonNode *root = json_parser_get_root(p);
  if (!JSON_NODE_HOLDS_OBJECT(root)) return false;
  JsonObject *o = json_node_get_object(root);
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
  r->id = str("recording_id");
  r->class_id = str("class_id");
  r->session_id = str("session_id");
  r->teacher_id = str("teacher_id");
  r->state = str("state");
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

// Tells the rest of the server (the class's teachers, over the WebSocket) how the class's
// recording is doing: "recording.state" {class_id, recording_id, state, error}.
void announce(const Recording &r) {
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  for (const auto &[k, v] : {std::pair<const char *, std::string>{"class_id", r.class_id},
                             {"recording_id", r.id},
                             {"state", r.state},
                             {"error", r.error}}) {
    json_builder_set_member_name(b, k);
    json_builder_add_string_value(b, v.c_str());
  }
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  g_autofree char *text = json_to_string(root, FALSE);
  host->event_publish(ctx, "recording.state", text);
}

// Writes recording.json (atomically: a temporary file renamed over it).
void save(const Recording &r) {
  std::string text = to_json(r), path = folder(r.id) + "/recording.json";
  in_writer([text, path] {
    g_autoptr(GError) err = nullptr;
    if (!g_file_set_contents(path.c_str(), text.c_str(), -1, &err))
      g_warning("recording: cannot write %s: %s", path.c_str(), err->message);
  });
}

void append_timeline(const std::string &id, const std::string &line) {
  std::string path = folder(id) + "/timeline.jsonl";
  in_writer([path, line] {
    FILE *f = fopen(path.c_str(), "ae");
    if (!f) return;
    fputs(line.c_str(), f);
    fputc('\n', f);
    fflush(f);
    fclose(f);
  });
}

// ---- recording lifecycle ----

std::string random_id() {
  char id[33];
  for (int i = 0; i < 4; i++)
    g_snprintf(id + 8 * i, 9, "%08x", g_random_int());
  return id;
}

int64_t now_ms() {
  return g_get_real_time() / 1000;
}

void on_media_state(const char *state, const char *detail, void *data);

// The recording of a class that just went live.
void start_recording(const std::string &class_id, const std::string &session_id,
                     const std::string &teacher_id) {
  if (active.count(class_id)) return;
  Recording r;
  r.id = random_id();
  r.class_id = class_id;
  r.session_id = session_id;
  r.teacher_id = teacher_id;
  r.state = "recording";
  r.bitrate_kbps = settings.bitrate_kbps;
  r.started_at_ms = now_ms();
  index_[r.id] = r;
  active[class_id] = r.id;
  std::string dir = folder(r.id), id = r.id;
  auto made = std::make_shared<std::string>();
  in_writer(
      [dir, made] {
        if (g_mkdir_with_parents(dir.c_str(), 0750) != 0)
          *made = std::string("cannot create ") + dir + ": " + g_strerror(errno);
      },
      [id, made, dir] {
        auto it = index_.find(id);
        if (it == index_.end()) return;
        Recording &r = it->second;
        if (r.stop_requested) {
          // The class ended (or recording was turned off) before it began: nothing to keep.
          index_.erase(it);
          in_writer([dir] { g_rmdir(dir.c_str()); });
          return;
        }
        GramothiError e{};
        uint64_t media = 0;
        if (made->empty())
          media = host->media_record_start(
              ctx, r.class_id.c_str(), (folder(id) + "/audio.ogg").c_str(), r.bitrate_kbps * 1000,
              on_media_state, new std::string(id), &e);
        if (!media && made->empty() && strcmp(e.code, "media_unavailable") == 0) {
          // A server without live audio ([media] enabled = false) has nothing to record.
          static bool said = false;
          if (!said)
            log(GRAMOTHI_LOG_INFO, "no live audio on this server: classes are not recorded");
          said = true;
          if (active[r.class_id] == id) active.erase(r.class_id);
          index_.erase(it);
          in_writer([dir] { g_rmdir(dir.c_str()); });
          return;
        }
        if (!media) {
          r.state = "failed";
          r.error = made->empty() ? e.message : *made;
          log(GRAMOTHI_LOG_ERROR, "class " + r.class_id + ": cannot record: " + r.error);
          if (active[r.class_id] == id) active.erase(r.class_id);
          if (made->empty()) save(r);
          announce(r);
          return;
        }
        media_ids[id] = media;
        save(r);
        announce(r);
        log(GRAMOTHI_LOG_INFO, "class " + r.class_id + ": recording " + id);
      });
}

void add_slide_event(Recording &r, int64_t t_ms, const char *action, JsonNode *slide);

// Records the slide on screen at the start (time 0), so the timeline opens with it.
void note_current_slide(const std::string &id) {
  auto it = index_.find(id);
  if (it == index_.end()) return;
  host->slides_list(
      ctx, it->second.class_id.c_str(),
      [](const GramothiError *error, const char *json, void *data) {
        std::unique_ptr<std::string> id(static_cast<std::string *>(data));
        auto it = index_.find(*id);
        if (error || !json || it == index_.end()) return;
        g_autoptr(JsonParser) p = json_parser_new();
        if (!json_parser_load_from_data(p, json, -1, nullptr)) return;
        JsonObject *o = json_node_get_object(json_parser_get_root(p));
        const char *current = json_object_get_string_member_with_default(o, "current_slide_id", "");
        JsonArray *slides = json_object_has_member(o, "slides")
                                ? json_object_get_array_member(o, "slides")
                                : nullptr;
        for (guint i = 0; slides && i < json_array_get_length(slides); i++) {
          JsonNode *s = json_array_get_element(slides, i);
          JsonObject *so = json_node_get_object(s);
          if (g_strcmp0(json_object_get_string_member_with_default(so, "slide_id", ""), current) ==
              0)
            return add_slide_event(it->second, 0, "current", s);
        }
      },
      new std::string(id));
}

void on_media_state(const char *state, const char *detail, void *data) {
  std::string id = *static_cast<std::string *>(data);
  bool last = strcmp(state, "recording") != 0;
  if (last) delete static_cast<std::string *>(data);
  auto it = index_.find(id);
  if (it == index_.end()) return;
  Recording &r = it->second;
  if (!last) {
    gint64 t0 = 0;
    if (g_ascii_string_to_signed(detail, 10, 0, G_MAXINT64, &t0, nullptr)) r.started_at_ms = t0;
    save(r);
    note_current_slide(id);
    return;
  }
  media_ids.erase(id);
  if (active.count(r.class_id) && active[r.class_id] == id) active.erase(r.class_id);
  r.ended_at_ms = now_ms();
  std::string final_state = strcmp(state, "stopped") == 0 ? "complete" : "failed";
  if (final_state == "failed") {
    r.error = detail ? detail : "";
    log(GRAMOTHI_LOG_ERROR, "class " + r.class_id + ": recording " + id + " stopped: " + r.error);
  }
  // The true length comes from the file itself; until it is read, the recording is
  // "finishing" (no package yet).
  r.state = "finishing";
  std::string path = folder(id) + "/audio.ogg";
  auto info = std::make_shared<gramothi::OggInfo>();
  in_writer([path, info] { *info = gramothi::ogg_finalize(path); },
            [id, info, final_state] {
              auto it = index_.find(id);
              if (it == index_.end()) return;
              it->second.state = final_state;
              it->second.duration_ms = info->duration_ms;
              it->second.audio_bytes = info->bytes;
              save(it->second);
              announce(it->second);
            });
}

// Ends the class's recording. The class is free for a new one at once (a restart, or the
// teacher turning recording back on), while this one writes its last page.
void stop_recording(const std::string &class_id) {
  auto a = active.find(class_id);
  if (a == active.end()) return;
  std::string id = a->second;
  active.erase(a);
  auto m = media_ids.find(id);
  if (m != media_ids.end())
    host->media_record_stop(ctx, m->second);
  else if (index_.count(id))
    index_[id].stop_requested = true;
}

// ---- timeline ----

std::string node_text(JsonNode *n) {
  g_autofree char *t = json_to_string(n, FALSE);
  return t;
}

void add_slide_event(Recording &r, int64_t t_ms, const char *action, JsonNode *slide) {
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "t_ms");
  json_builder_add_int_value(b, std::max<int64_t>(0, t_ms));
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "slide");
  json_builder_set_member_name(b, "action");
  json_builder_add_string_value(b, action);
  json_builder_set_member_name(b, "slide");
  json_builder_add_value(b, json_node_copy(slide));
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  r.slide_changes++;
  append_timeline(r.id, node_text(root));
}

Recording *recording_of(JsonObject *o) {
  const char *class_id = json_object_get_string_member_with_default(o, "class_id", "");
  auto a = active.find(class_id);
  if (a == active.end()) return nullptr;
  auto it = index_.find(a->second);
  return it == index_.end() || !media_ids.count(a->second) ? nullptr : &it->second;
}

void on_slides_sync(const char *, const char *payload, void *) {
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json_parser_load_from_data(p, payload, -1, nullptr)) return;
  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  Recording *r = recording_of(o);
  JsonNode *slide = json_object_get_member(o, "slide");
  if (!r || !slide || !JSON_NODE_HOLDS_OBJECT(slide)) return;
  int64_t at = json_object_get_int_member_with_default(o, "timestamp", now_ms());
  add_slide_event(*r, at - r->started_at_ms,
                  json_object_get_string_member_with_default(o, "action", "goto"), slide);
}

void on_chat(const char *topic, const char *payload, void *) {
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json_parser_load_from_data(p, payload, -1, nullptr)) return;
  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  Recording *r = recording_of(o);
  if (!r) return;
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "t_ms");
  if (strcmp(topic, "chat.message") == 0) {
    JsonNode *m = json_object_get_member(o, "message");
    if (!m || !JSON_NODE_HOLDS_OBJECT(m)) return;
    int64_t sent =
        json_object_get_int_member_with_default(json_node_get_object(m), "sent_at_ms", now_ms());
    json_builder_add_int_value(b, std::max<int64_t>(0, sent - r->started_at_ms));
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "chat");
    json_builder_set_member_name(b, "message");
    json_builder_add_value(b, json_node_copy(m));
    r->chat_messages++;
  } else {
    json_builder_add_int_value(b, std::max<int64_t>(0, now_ms() - r->started_at_ms));
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "chat-removed");
    json_builder_set_member_name(b, "message_id");
    json_builder_add_string_value(b,
                                  json_object_get_string_member_with_default(o, "message_id", ""));
  }
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  append_timeline(r->id, node_text(root));
}

void on_class_started(const char *, const char *payload, void *) {
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json_parser_load_from_data(p, payload, -1, nullptr)) return;
  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  std::string class_id = json_object_get_string_member_with_default(o, "class_id", "");
  auto choice = class_choice.find(class_id);
  bool record = choice != class_choice.end() ? choice->second : settings.record_by_default;
  if (!record) return;
  start_recording(class_id, json_object_get_string_member_with_default(o, "session_id", ""),
                  json_object_get_string_member_with_default(o, "teacher_id", ""));
}

void on_class_stopped(const char *, const char *payload, void *) {
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json_parser_load_from_data(p, payload, -1, nullptr)) return;
  stop_recording(json_object_get_string_member_with_default(
      json_node_get_object(json_parser_get_root(p)), "class_id", ""));
}

// ---- REST ----

void respond_json(GramothiHttpExchange *ex, unsigned status, const std::string &json) {
  host->http_respond(ex, status, "application/json", json.data(), json.size());
}

void respond_error(GramothiHttpExchange *ex, unsigned status, const char *code,
                   const std::string &message) {
  respond_json(ex, status, gramothi::plugin::error_json(code, message));
}

// Who may see a class's recordings: admins; the class's owner and its teachers; students who
// attended one of its sessions. `then(ex, who, status_json)` runs when allowed; otherwise the
// request is answered.
using Allowed = std::function<void(GramothiHttpExchange *ex, const GramothiPrincipal &who,
                                   const std::string &class_id)>;
void with_access(GramothiHttpExchange *ex, const std::string &class_id, Allowed then) {
  GramothiPrincipal who{};
  GramothiError e{};
  const char *auth = host->http_header(ex, "Authorization");
  std::string query_auth;
  if ((!auth || !*auth) && host->http_query(ex, "token")) {
    // <audio> and download links cannot send a header.
    query_auth = std::string("Bearer ") + host->http_query(ex, "token");
    auth = query_auth.c_str();
  }
  if (host->auth_verify(ctx, auth, &who, &e) != GRAMOTHI_OK) {
    host->http_add_header(ex, "WWW-Authenticate", "Bearer");
    return respond_error(ex, http_status(e.status), e.code, e.message);
  }
  struct Ctx {
    GramothiHttpExchange *ex;
    GramothiPrincipal who;
    std::string class_id;
    Allowed then;
    bool enrolled;  // the token's "classes" claim names the class
  };
  bool enrolled = GRAMOTHI_HOST_HAS(host, auth_token_has_class) &&
                  host->auth_token_has_class(ctx, auth, class_id.c_str()) == 1;
  auto *x = new Ctx{ex, who, class_id, then, enrolled};
  host->class_status(
      ctx, class_id.c_str(),
      [](const GramothiError *error, const char *json, void *data) {
        std::unique_ptr<Ctx> x(static_cast<Ctx *>(data));
        if (error)
          return respond_error(x->ex, http_status(error->status), error->code, error->message);
        g_autoptr(JsonParser) p = json_parser_new();
        json_parser_load_from_data(p, json, -1, nullptr);
        JsonObject *o = json_node_get_object(json_parser_get_root(p));
        const char *owner = json_object_get_string_member_with_default(o, "owner_id", "");
        const char *teacher = json_object_get_string_member_with_default(o, "teacher_id", "");
        if (x->who.role == GRAMOTHI_ROLE_ADMIN ||
            (x->who.role == GRAMOTHI_ROLE_TEACHER &&
             (g_strcmp0(owner, x->who.user_id) == 0 || g_strcmp0(teacher, x->who.user_id) == 0)))
          return x->then(x->ex, x->who, x->class_id);
        if (x->who.role == GRAMOTHI_ROLE_TEACHER)
          return respond_error(x->ex, 403, "not_class_owner",
                               "Only the class's own teachers see its recordings.");
        if (x->enrolled) return x->then(x->ex, x->who, x->class_id);
        Ctx *again = x.release();
        host->class_attended(
            ctx, again->class_id.c_str(), again->who.user_id,
            [](const GramothiError *error, const char *json, void *data) {
              std::unique_ptr<Ctx> x(static_cast<Ctx *>(data));
              if (error)
                return respond_error(x->ex, http_status(error->status), error->code,
                                     error->message);
              if (!json || !strstr(json, "\"attended\":true"))
                return respond_error(x->ex, 403, "not_in_class",
                                     "Recordings are for the students of this class.");
              x->then(x->ex, x->who, x->class_id);
            },
            again);
      },
      x);
}

void list_recordings(GramothiHttpExchange *ex, const GramothiPrincipal &,
                     const std::string &class_id) {
  std::vector<const Recording *> rows;
  for (const auto &[id, r] : index_)
    if (r.class_id == class_id) rows.push_back(&r);
  std::sort(rows.begin(), rows.end(), [](const Recording *a, const Recording *b) {
    return a->started_at_ms > b->started_at_ms;
  });
  std::string json = "{\"class_id\":" + quote(class_id) + ",\"recordings\":[";
  for (size_t i = 0; i < rows.size(); i++)
    json += (i ? "," : "") + to_json(*rows[i]);
  respond_json(ex, 200, json + "]}");
}

// Starts recording the class's live session now, if it is live and not recorded yet.
void with_live_session(const std::string &class_id) {
  if (active.count(class_id)) return;
  host->class_status(
      ctx, class_id.c_str(),
      [](const GramothiError *error, const char *json, void *) {
        if (error || !json) return;
        g_autoptr(JsonParser) p = json_parser_new();
        if (!json_parser_load_from_data(p, json, -1, nullptr)) return;
        JsonObject *o = json_node_get_object(json_parser_get_root(p));
        if (g_strcmp0(json_object_get_string_member_with_default(o, "state", ""), "live") != 0)
          return;
        auto str = [&](const char *k) {
          JsonNode *n = json_object_get_member(o, k);
          return n && JSON_NODE_HOLDS_VALUE(n) ? std::string(json_node_get_string(n))
                                               : std::string();
        };
        start_recording(str("class_id"), str("session_id"), str("teacher_id"));
      },
      nullptr);
}

void handle_list(GramothiHttpExchange *ex, void *) {
  const char *class_id = host->http_param(ex, "class_id");
  with_access(ex, class_id ? class_id : "", list_recordings);
}

// POST /api/v1/recordings/{class_id} {"record": true|false}: the teacher turns recording on or
// off, for the live session now and for the next start.
void handle_set(GramothiHttpExchange *ex, void *) {
  const char *class_id = host->http_param(ex, "class_id");
  size_t len = 0;
  const uint8_t *body = host->http_body(ex, &len);
  g_autoptr(JsonParser) p = json_parser_new();
  JsonNode *record = nullptr;
  if (body && len &&
      json_parser_load_from_data(p, reinterpret_cast<const char *>(body), static_cast<gssize>(len),
                                 nullptr) &&
      JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
    record = json_object_get_member(json_node_get_object(json_parser_get_root(p)), "record");
  if (!record || !JSON_NODE_HOLDS_VALUE(record) ||
      json_node_get_value_type(record) != G_TYPE_BOOLEAN)
    return respond_error(ex, 400, "invalid_field",
                         "Send {\"record\": true} or {\"record\": false}.");
  bool on = json_node_get_boolean(record);
  with_access(ex, class_id ? class_id : "",
              [on](GramothiHttpExchange *ex, const GramothiPrincipal &who, const std::string &id) {
                if (who.role == GRAMOTHI_ROLE_STUDENT)
                  return respond_error(ex, 403, "forbidden_role",
                                       "Only the class's teacher turns recording on or off.");
                class_choice[id] = on;
                if (!on) stop_recording(id);
                if (on) with_live_session(id);
                respond_json(ex, 200,
                             std::string("{\"class_id\":") + quote(id) +
                                 ",\"record\":" + (on ? "true" : "false") +
                                 ",\"recording\":" + (active.count(id) ? "true" : "false") + "}");
              });
}

// ---- playback: timeline, audio (range requests), the lecture package, the player page ----

// A recording named in the path, if the caller may see it; otherwise the request is answered.
void with_recording(GramothiHttpExchange *ex,
                    std::function<void(GramothiHttpExchange *, const Recording &)> then) {
  const char *id = host->http_param(ex, "recording_id");
  auto it = index_.find(id ? id : "");
  if (it == index_.end())
    return respond_error(ex, 404, "recording_not_found", "There is no such recording.");
  std::string rid = it->first;
  with_access(
      ex, it->second.class_id,
      [rid, then](GramothiHttpExchange *ex, const GramothiPrincipal &, const std::string &) {
        auto it = index_.find(rid);
        if (it == index_.end())
          return respond_error(ex, 404, "recording_not_found", "There is no such recording.");
        then(ex, it->second);
      });
}

// The profile names the server knows, smallest first.
std::vector<std::string> profile_names() {
  std::vector<std::string> out;
  g_autofree char *json = host->public_config_json(ctx);
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json || !json_parser_load_from_data(p, json, -1, nullptr)) return out;
  JsonArray *a =
      json_object_get_array_member(json_node_get_object(json_parser_get_root(p)), "profiles");
  for (guint i = 0; a && i < json_array_get_length(a); i++)
    out.push_back(json_object_get_string_member_with_default(json_array_get_object_element(a, i),
                                                             "name", ""));
  return out;
}

// The `profile` query parameter (default: the smallest profile), or "" after answering 400.
std::string chosen_profile(GramothiHttpExchange *ex) {
  auto names = profile_names();
  const char *q = host->http_query(ex, "profile");
  std::string profile = q && *q ? q : (names.empty() ? "" : names.front());
  if (std::find(names.begin(), names.end(), profile) == names.end()) {
    std::string list;
    for (const auto &n : names)
      list += (list.empty() ? "" : ", ") + n;
    respond_error(ex, 400, "invalid_field", "profile must be one of: " + list + ".");
    return "";
  }
  return profile;
}

std::string file_of(const std::string &url) {
  auto slash = url.rfind('/');
  return slash == std::string::npos ? url : url.substr(slash + 1);
}

// The player's timeline from timeline.jsonl: slides with the image of `profile` (its file name
// in `images`), chat without the messages the teacher removed. `image_prefix` goes before each
// image's file name ("slides/" in the package, the public image URL online).
struct Timeline {
  std::string json;
  std::vector<std::string> images;  // file names, each once
};
Timeline build_timeline(const Recording &r, const std::string &jsonl, const std::string &profile,
                        const std::string &image_prefix) {
  std::vector<std::string> lines;
  g_auto(GStrv) split = g_strsplit(jsonl.c_str(), "\n", -1);
  std::set<std::string> removed;
  for (char **l = split; *l; l++) {
    if (!**l) continue;
    lines.push_back(*l);
    if (strstr(*l, "\"chat-removed\"")) {
      g_autoptr(JsonParser) p = json_parser_new();
      if (json_parser_load_from_data(p, *l, -1, nullptr) &&
          JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
        removed.insert(json_object_get_string_member_with_default(
            json_node_get_object(json_parser_get_root(p)), "message_id", ""));
    }
  }
  Timeline out;
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "recording");
  g_autoptr(JsonParser) meta = json_parser_new();
  json_parser_load_from_data(meta, to_json(r).c_str(), -1, nullptr);
  json_builder_add_value(b, json_node_copy(json_parser_get_root(meta)));
  json_builder_set_member_name(b, "profile");
  json_builder_add_string_value(b, profile.c_str());
  json_builder_set_member_name(b, "events");
  json_builder_begin_array(b);
  for (const auto &l : lines) {
    g_autoptr(JsonParser) p = json_parser_new();
    if (!json_parser_load_from_data(p, l.c_str(), -1, nullptr) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
      continue;  // a line torn by a crash
    JsonObject *o = json_node_get_object(json_parser_get_root(p));
    std::string type = json_object_get_string_member_with_default(o, "type", "");
    int64_t t = json_object_get_int_member_with_default(o, "t_ms", 0);
    if (type == "slide" && json_object_has_member(o, "slide")) {
      JsonObject *slide = json_object_get_object_member(o, "slide");
      std::string image;
      if (slide && json_object_has_member(slide, "images")) {
        JsonObject *images = json_object_get_object_member(slide, "images");
        if (images && json_object_has_member(images, profile.c_str())) {
          JsonObject *im = json_object_get_object_member(images, profile.c_str());
          image = file_of(json_object_get_string_member_with_default(im, "url", ""));
        }
      }
      json_builder_begin_object(b);
      json_builder_set_member_name(b, "t_ms");
      json_builder_add_int_value(b, t);
      json_builder_set_member_name(b, "type");
      json_builder_add_string_value(b, "slide");
      json_builder_set_member_name(b, "order_no");
      json_builder_add_int_value(
          b, slide ? json_object_get_int_member_with_default(slide, "order_no", 0) : 0);
      json_builder_set_member_name(b, "text");
      json_builder_add_string_value(
          b, slide ? json_object_get_string_member_with_default(slide, "text", "") : "");
      json_builder_set_member_name(b, "image");
      if (image.empty() || image.find('/') != std::string::npos) {
        json_builder_add_null_value(b);
      } else {
        json_builder_add_string_value(b, (image_prefix + image).c_str());
        if (std::find(out.images.begin(), out.images.end(), image) == out.images.end())
          out.images.push_back(image);
      }
      json_builder_end_object(b);
    } else if (type == "chat" && json_object_has_member(o, "message")) {
      JsonObject *m = json_object_get_object_member(o, "message");
      if (!m || removed.count(json_object_get_string_member_with_default(m, "message_id", "")))
        continue;
      json_builder_begin_object(b);
      json_builder_set_member_name(b, "t_ms");
      json_builder_add_int_value(b, t);
      json_builder_set_member_name(b, "type");
      json_builder_add_string_value(b, "chat");
      for (const char *k : {"user_id", "role", "text", "sent_at"}) {
        json_builder_set_member_name(b, k);
        json_builder_add_string_value(b, json_object_get_string_member_with_default(m, k, ""));
      }
      json_builder_end_object(b);
    }
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  out.json = node_text(root);
  return out;
}

std::string read_text(const std::string &path) {
  g_autofree char *text = nullptr;
  gsize len = 0;
  if (!g_file_get_contents(path.c_str(), &text, &len, nullptr)) return "";
  return std::string(text, len);
}

void handle_timeline(GramothiHttpExchange *ex, void *) {
  with_recording(ex, [](GramothiHttpExchange *ex, const Recording &r) {
    std::string profile = chosen_profile(ex);
    if (profile.empty()) return;
    auto out = std::make_shared<Timeline>();
    Recording copy = r;
    std::string path = folder(r.id) + "/timeline.jsonl";
    in_packer(
        [out, copy, path, profile] {
          *out = build_timeline(copy, read_text(path), profile, "/api/v1/streaming/slides/images/");
        },
        [ex, out] { respond_json(ex, 200, out->json); });
  });
}

// GET .../audio: the Ogg file, with single-range requests (206) so a player seeks without
// downloading everything.
// Reads of audio and packages in flight: each holds its bytes in memory until sent, so their
// number is capped; beyond it, 503 and a Retry-After.
int in_flight = 0;
constexpr int kMaxInFlight = 8;
bool too_busy(GramothiHttpExchange *ex) {
  if (in_flight < kMaxInFlight) return false;
  host->http_add_header(ex, "Retry-After", "2");
  respond_error(ex, 503, "busy", "Many downloads are running; try again in a moment.");
  return true;
}

void handle_audio(GramothiHttpExchange *ex, void *) {
  with_recording(ex, [](GramothiHttpExchange *ex, const Recording &r) {
    if (too_busy(ex)) return;
    in_flight++;
    std::string path = folder(r.id) + "/audio.ogg";
    std::string range = host->http_header(ex, "Range") ? host->http_header(ex, "Range") : "";
    struct Result {
      int status = 200;
      std::string body, content_range, error;
      int64_t size = 0;
    };
    auto res = std::make_shared<Result>();
    in_packer(
        [path, range, res] {
          int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
          struct stat st {};
          if (fd < 0 || fstat(fd, &st) != 0) {
            if (fd >= 0) close(fd);
            res->status = 404;
            return;
          }
          res->size = st.st_size;
          int64_t from = 0, to = st.st_size - 1;
          if (!range.empty()) {
            // bytes=A-B, bytes=A-, bytes=-N; anything else (several ranges) gets the whole file.
            long long a = -1, b = -1;
            int fields = sscanf(range.c_str(), "bytes=%lld-%lld", &a, &b);
            if (fields == 2 && (a < 0 || b < a)) {
              res->status = 416;  // bytes=5-3 and the like
              close(fd);
              return;
            }
            if (fields == 2) {
              from = a;
              to = std::min<int64_t>(b, st.st_size - 1);
              res->status = 206;
            } else if (fields == 1 && a >= 0 && range.find(',') == std::string::npos) {
              from = a;
              res->status = 206;
            } else if (sscanf(range.c_str(), "bytes=-%lld", &b) == 1 && b > 0) {
              from = std::max<int64_t>(0, st.st_size - b);
              res->status = 206;
            }
            if (res->status == 206 && from >= st.st_size) {
              res->status = 416;
              close(fd);
              return;
            }
          }
          // One answer carries at most 64 MiB (six hours at 24 kbit/s); a longer file is sent in
          // parts (206 with Content-Range), which players and download tools follow.
          constexpr int64_t kMaxChunk = 64 * 1024 * 1024;
          if (to - from + 1 > kMaxChunk) {
            to = from + kMaxChunk - 1;
            res->status = 206;
          }
          res->body.resize(static_cast<size_t>(std::max<int64_t>(0, to - from + 1)));
          size_t got = 0;
          while (got < res->body.size()) {
            ssize_t n = pread(fd, res->body.data() + got, res->body.size() - got,
                              static_cast<off_t>(from + static_cast<int64_t>(got)));
            if (n <= 0) break;
            got += static_cast<size_t>(n);
          }
          res->body.resize(got);
          close(fd);
          if (res->status == 206)
            res->content_range = "bytes " + std::to_string(from) + "-" +
                                 std::to_string(from + static_cast<int64_t>(got) - 1) + "/" +
                                 std::to_string(st.st_size);
        },
        [ex, res] {
          in_flight--;
          host->http_add_header(ex, "Accept-Ranges", "bytes");
          host->http_add_header(ex, "Cache-Control", "private, no-cache");
          if (res->status == 404)
            return respond_error(ex, 404, "recording_not_found", "The recording has no audio.");
          if (res->status == 416) {
            std::string cr = "bytes */" + std::to_string(res->size);
            host->http_add_header(ex, "Content-Range", cr.c_str());
            return respond_error(ex, 416, "range_not_satisfiable", "The range is past the end.");
          }
          if (res->status == 206)
            host->http_add_header(ex, "Content-Range", res->content_range.c_str());
          host->http_respond(ex, static_cast<uint32_t>(res->status), "audio/ogg", res->body.data(),
                             res->body.size());
        });
  });
}

// Writes the lecture package (a zip, by libarchive): audio.ogg, slides/*.webp of one profile,
// timeline.json and the offline player index.html. Returns "" or what went wrong.
std::string write_package(const std::string &zip_path, const std::string &audio_path,
                          const std::string &timeline_json,
                          const std::vector<std::pair<std::string, std::string>> &images) {
  std::string tmp = zip_path + ".tmp";
  struct archive *a = archive_write_new();
  archive_write_set_format_zip(a);
  std::string why;
  if (archive_write_open_filename(a, tmp.c_str()) != ARCHIVE_OK) why = archive_error_string(a);
  auto add = [&](const std::string &name, const std::string &data, bool store) {
    if (!why.empty()) return;
    // Audio and WebP are compressed already: stored as they are; text is deflated.
    if (store)
      archive_write_zip_set_compression_store(a);
    else
      archive_write_zip_set_compression_deflate(a);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, g_get_real_time() / G_USEC_PER_SEC, 0);
    if (archive_write_header(a, e) != ARCHIVE_OK ||
        archive_write_data(a, data.data(), data.size()) < 0)
      why = archive_error_string(a) ? archive_error_string(a) : "cannot write " + name;
    archive_entry_free(e);
  };
  // The timeline inside the page: `<` escaped so no text can close the script element.
  std::string safe;
  for (char c : timeline_json)
    safe += c == '<' ? std::string("\\u003c") : std::string(1, c);
  std::string page = gramothi::kPlayerHtml;
  page.replace(page.find("__GRAMOTHI_TIMELINE__"), strlen("__GRAMOTHI_TIMELINE__"), safe);
  add("index.html", page, false);
  add("timeline.json", timeline_json, false);
  add("audio.ogg", read_text(audio_path), true);
  for (const auto &[name, bytes] : images)
    add("slides/" + name, bytes, true);
  if (archive_write_close(a) != ARCHIVE_OK && why.empty()) why = archive_error_string(a);
  archive_write_free(a);
  if (why.empty() && g_rename(tmp.c_str(), zip_path.c_str()) != 0) why = g_strerror(errno);
  if (!why.empty()) g_unlink(tmp.c_str());
  return why;
}

void send_package(GramothiHttpExchange *ex, const Recording &r, const std::string &zip) {
  in_flight--;
  std::string name = r.class_id + "-" + std::to_string(r.started_at_ms / 1000) + ".zip";
  for (char &c : name)
    if (!g_ascii_isalnum(c) && c != '-' && c != '.' && c != '_') c = '_';
  std::string disposition = "attachment; filename=\"" + name + "\"";
  host->http_add_header(ex, "Content-Disposition", disposition.c_str());
  host->http_add_header(ex, "Cache-Control", "private, max-age=3600");
  host->http_respond(ex, 200, "application/zip", zip.data(), zip.size());
}

void handle_package(GramothiHttpExchange *ex, void *) {
  with_recording(ex, [](GramothiHttpExchange *ex, const Recording &r) {
    if (r.state == "recording" || r.state == "finishing")
      return respond_error(ex, 409, "recording_in_progress",
                           "The class is still being recorded; the package comes when it ends.");
    std::string profile = chosen_profile(ex);
    if (profile.empty() || too_busy(ex)) return;
    in_flight++;
    std::string dir = folder(r.id), zip_path = dir + "/package-" + profile + ".zip";
    Recording copy = r;
    struct State {
      Timeline timeline;
      std::string cached;
      std::vector<std::pair<std::string, std::string>> images;
      size_t pending = 0;
      std::string error;
    };
    auto st = std::make_shared<State>();
    in_packer(
        [st, zip_path, dir, copy, profile] {
          st->cached = read_text(zip_path);
          if (st->cached.empty())
            st->timeline =
                build_timeline(copy, read_text(dir + "/timeline.jsonl"), profile, "slides/");
        },
        [ex, st, copy, zip_path, dir] {
          if (!st->cached.empty()) return send_package(ex, copy, st->cached);
          // Fetch each slide image from the slide store, then pack on the packer thread.
          auto pack = [ex, st, copy, zip_path, dir] {
            in_packer(
                [st, zip_path, dir] {
                  st->error =
                      write_package(zip_path, dir + "/audio.ogg", st->timeline.json, st->images);
                  if (st->error.empty()) st->cached = read_text(zip_path);
                },
                [ex, st, copy] {
                  if (!st->error.empty() || st->cached.empty()) {
                    in_flight--;
                    log(GRAMOTHI_LOG_ERROR, "recording " + copy.id + ": cannot pack: " + st->error);
                    return respond_error(ex, 500, "package_failed",
                                         "The package could not be made: " + st->error);
                  }
                  send_package(ex, copy, st->cached);
                });
          };
          st->pending = st->timeline.images.size();
          if (st->pending == 0) return pack();
          struct Fetch {
            std::shared_ptr<State> st;
            std::string name;
            std::function<void()> pack;
          };
          for (const auto &name : st->timeline.images)
            host->slides_image(
                ctx, name.c_str(),
                [](const GramothiError *error, const uint8_t *data, size_t len, void *d) {
                  std::unique_ptr<Fetch> f(static_cast<Fetch *>(d));
                  if (!error && data)
                    f->st->images.emplace_back(
                        f->name, std::string(reinterpret_cast<const char *>(data), len));
                  if (--f->st->pending == 0) f->pack();
                },
                new Fetch{st, name, pack});
        });
  });
}

void handle_player(GramothiHttpExchange *ex, void *) {
  std::string page = gramothi::kPlayerHtml;
  page.replace(page.find("__GRAMOTHI_TIMELINE__"), strlen("__GRAMOTHI_TIMELINE__"), "null");
  host->http_add_header(ex, "Cache-Control", "no-cache");
  host->http_respond(ex, 200, "text/html; charset=utf-8", page.data(), page.size());
}

// ---- start: load the index, finalize what a crash cut off ----

void load_index() {
  auto found = std::make_shared<std::vector<Recording>>();
  std::string root = settings.dir;
  in_writer(
      [root, found] {
        g_autoptr(GDir) d = g_dir_open(root.c_str(), 0, nullptr);
        if (!d) return;
        while (const char *name = g_dir_read_name(d)) {
          std::string base = root + "/" + name;
          g_autofree char *text = nullptr;
          if (!g_file_get_contents((base + "/recording.json").c_str(), &text, nullptr, nullptr))
            continue;
          Recording r;
          if (!from_json(text, &r) || r.id != name) continue;
          if (r.state == "recording") {
            gramothi::OggInfo info = gramothi::ogg_finalize(base + "/audio.ogg");
            r.state = info.complete ? "complete" : "interrupted";
            r.duration_ms = info.duration_ms;
            r.audio_bytes = info.bytes;
            r.ended_at_ms = r.started_at_ms + info.duration_ms;
            if (!info.complete) r.error = "the server stopped during the class; kept up to the cut";
            std::string out = to_json(r);
            g_file_set_contents((base + "/recording.json").c_str(), out.c_str(), -1, nullptr);
          }
          found->push_back(std::move(r));
        }
      },
      [found] {
        for (auto &r : *found)
          if (!index_.count(r.id)) index_[r.id] = std::move(r);
        log(GRAMOTHI_LOG_INFO, std::to_string(found->size()) + " recordings in " + settings.dir);
      });
}

int32_t recording_init(const GramothiHost *h, GramothiPluginContext *c, void **, char *error,
                       size_t error_size) {
  host = h;
  ctx = c;
  if (!GRAMOTHI_HOST_HAS(h, class_attended)) {
    g_strlcpy(error, "the host is older than plugin ABI 1.4 (no recording)", error_size);
    return GRAMOTHI_E_INVALID;
  }
  settings = Settings{};
  if (const char *v = host->config_get(ctx, "record_by_default")) {
    if (g_strcmp0(v, "true") != 0 && g_strcmp0(v, "false") != 0) {
      g_snprintf(error, error_size,
                 "[plugin.recording] record_by_default: '%s' is not true or false", v);
      return GRAMOTHI_E_INVALID;
    }
    settings.record_by_default = g_strcmp0(v, "true") == 0;
  }
  if (const char *v = host->config_get(ctx, "bitrate_kbps")) {
    gint64 n = 0;
    if (!g_ascii_string_to_signed(v, 10, 6, 128, &n, nullptr)) {
      g_snprintf(error, error_size,
                 "[plugin.recording] bitrate_kbps: '%s' is not a whole number from 6 to 128", v);
      return GRAMOTHI_E_INVALID;
    }
    settings.bitrate_kbps = static_cast<int>(n);
  }
  const char *dir = host->config_get(ctx, "dir");
  settings.dir = dir && *dir ? dir : std::string(host->data_dir(ctx)) + "/recordings";
  if (g_mkdir_with_parents(settings.dir.c_str(), 0750) != 0)
    log(GRAMOTHI_LOG_WARNING, "cannot create " + settings.dir + ": " + g_strerror(errno) +
                                  "; recordings will fail until it exists");
  writer = g_thread_pool_new(on_writer, nullptr, 1, TRUE, nullptr);
  packer = g_thread_pool_new(on_writer, nullptr, 1, TRUE, nullptr);
  load_index();

  struct {
    const char *method, *path;
    size_t max_body;
    GramothiHttpHandler handler;
  } routes[] = {
      {"GET", "/api/v1/recordings/{class_id}", 0, handle_list},
      {"POST", "/api/v1/recordings/{class_id}", 1024, handle_set},
      {"GET", "/api/v1/recordings/{recording_id}/timeline", 0, handle_timeline},
      {"GET", "/api/v1/recordings/{recording_id}/audio", 0, handle_audio},
      {"GET", "/api/v1/recordings/{recording_id}/package", 0, handle_package},
      {"GET", "/recordings/{recording_id}", 0, handle_player},
  };
  for (auto &r : routes)
    if (host->http_route(ctx, r.method, r.path, r.max_body, r.handler, nullptr) != GRAMOTHI_OK) {
      g_snprintf(error, error_size, "cannot register %s %s", r.method, r.path);
      return GRAMOTHI_E_INTERNAL;
    }
  started_subscription = host->event_subscribe(ctx, "class.started", on_class_started, nullptr);
  stopped_subscription = host->event_subscribe(ctx, "class.stopped", on_class_stopped, nullptr);
  sync_subscription = host->event_subscribe(ctx, "slides.sync", on_slides_sync, nullptr);
  chat_subscription = host->event_subscribe(ctx, "chat.message", on_chat, nullptr);
  removed_subscription = host->event_subscribe(ctx, "chat.removed", on_chat, nullptr);
  (void)kBase;
  return GRAMOTHI_OK;
}

void recording_shutdown(void *) {
  // Finish the queued file work, then drop what it would have reported to the main loop.
  if (packer) g_thread_pool_free(packer, FALSE, TRUE);
  packer = nullptr;
  if (writer) g_thread_pool_free(writer, FALSE, TRUE);
  writer = nullptr;
  {
    std::lock_guard lock(pending_mutex);
    for (guint id : pending)
      g_source_remove(id);
    pending.clear();
  }
  index_.clear();
  active.clear();
  media_ids.clear();
  class_choice.clear();
}

const GramothiPluginDescriptor kDescriptor = {
    GRAMOTHI_PLUGIN_ABI_MAJOR,
    GRAMOTHI_PLUGIN_ABI_MINOR,
    sizeof(GramothiPluginDescriptor),
    0,
    "recording",
    "0.1.0",
    "Records classes (Ogg/Opus and a timeline of slides and chat)",
    recording_init,
    recording_shutdown,
};

}  // namespace

extern "C" GRAMOTHI_PLUGIN_EXPORT const GramothiPluginDescriptor *gramothi_plugin_describe(void) {
  return &kDescriptor;
}
