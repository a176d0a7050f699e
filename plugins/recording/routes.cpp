#include "routes.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "access.hpp"
#include "byte_range.hpp"
#include "player_html.hpp"
#include "timeline.hpp"

namespace gramothi::recording {

using plugin::quote;

namespace {

constexpr int kMaxInFlight = 8;
// One answer carries at most 64 MiB (six hours at 24 kbit/s); a longer file is sent in parts
// (206 with Content-Range), which players and download tools follow.
constexpr int64_t kMaxChunk = 64 * 1024 * 1024;

// A part of audio.ogg, as the answer to a Range header.
struct AudioSlice {
  int status = 200;  // 200, 206, 404 (no file), 416 (not satisfiable)
  std::string body, content_range;
  int64_t size = 0;  // the whole file's
};

// The part of audio.ogg that `range` asks for (byte_range.hpp).
AudioSlice read_audio(const std::string &path, const std::string &range) {
  AudioSlice res;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || fstat(fd, &st) != 0) {
    if (fd >= 0) close(fd);
    res.status = 404;
    return res;
  }
  res.size = st.st_size;
  ByteRange part = byte_range(range, st.st_size, kMaxChunk);
  res.status = part.status;
  if (res.status == 416) {
    close(fd);
    return res;
  }
  int64_t from = part.from, to = part.to;
  res.body.resize(static_cast<size_t>(std::max<int64_t>(0, to - from + 1)));
  size_t got = 0;
  while (got < res.body.size()) {
    ssize_t n = pread(fd, res.body.data() + got, res.body.size() - got,
                      static_cast<off_t>(from + static_cast<int64_t>(got)));
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  res.body.resize(got);
  close(fd);
  if (res.status == 206)
    res.content_range = "bytes " + std::to_string(from) + "-" +
                        std::to_string(from + static_cast<int64_t>(got) - 1) + "/" +
                        std::to_string(st.st_size);
  return res;
}

void send_audio(const HostLink &host, GramothiHttpExchange *ex, const AudioSlice &slice) {
  host.api->http_add_header(ex, "Accept-Ranges", "bytes");
  host.api->http_add_header(ex, "Cache-Control", "private, no-cache");
  if (slice.status == 404)
    return host.respond_error(ex, 404, "recording_not_found", "The recording has no audio.");
  if (slice.status == 416) {
    std::string cr = "bytes */" + std::to_string(slice.size);
    host.api->http_add_header(ex, "Content-Range", cr.c_str());
    return host.respond_error(ex, 416, "range_not_satisfiable", "The range is past the end.");
  }
  if (slice.status == 206)
    host.api->http_add_header(ex, "Content-Range", slice.content_range.c_str());
  host.api->http_respond(ex, static_cast<uint32_t>(slice.status), "audio/ogg", slice.body.data(),
                         slice.body.size());
}

void no_such_recording(const HostLink &host, GramothiHttpExchange *ex) {
  host.respond_error(ex, 404, "recording_not_found", "There is no such recording.");
}

const char *param(const HostLink &host, GramothiHttpExchange *ex, const char *name) {
  const char *v = host.api->http_param(ex, name);
  return v ? v : "";
}

}  // namespace

RecordingRoutes::RecordingRoutes(HostLink host, RecordingIndex *index, ClassRecorder *recorder,
                                 LecturePackages *packages, FileWorker *reader, int64_t link_ttl_s)
    : host_(host),
      index_(index),
      recorder_(recorder),
      packages_(packages),
      reader_(reader),
      link_ttl_s_(link_ttl_s) {}

int32_t RecordingRoutes::add_routes(char *error, size_t error_size) {
  struct {
    const char *method, *path;
    size_t max_body;
    GramothiHttpHandler handler;
  } routes[] = {
      {"GET", "/api/v1/recordings/{class_id}", 0, route<&RecordingRoutes::list>},
      {"POST", "/api/v1/recordings/{class_id}", 1024, route<&RecordingRoutes::set>},
      {"GET", "/api/v1/recordings/{recording_id}/timeline", 0, route<&RecordingRoutes::timeline>},
      {"GET", "/api/v1/recordings/{recording_id}/audio", 0, route<&RecordingRoutes::audio>},
      {"GET", "/api/v1/recordings/{recording_id}/package", 0, route<&RecordingRoutes::package>},
      {"POST", "/api/v1/recordings/{recording_id}/links", 0, route<&RecordingRoutes::links>},
      {"GET", "/recordings/{recording_id}", 0, route<&RecordingRoutes::player>},
  };
  for (auto &r : routes)
    if (host_.api->http_route(host_.ctx, r.method, r.path, r.max_body, r.handler, this) !=
        GRAMOTHI_OK) {
      g_snprintf(error, error_size, "cannot register %s %s", r.method, r.path);
      return GRAMOTHI_E_INTERNAL;
    }
  return GRAMOTHI_OK;
}

// ---- a class's recordings, and recording on or off ----

void RecordingRoutes::list(GramothiHttpExchange *ex) {
  auto answer = [](RecordingRoutes &self, GramothiHttpExchange *ex, const GramothiPrincipal &,
                   const std::string &class_id) {
    std::vector<const Recording *> rows = self.index_->of_class(class_id);
    std::string json = "{\"class_id\":" + quote(class_id) + ",\"recordings\":[";
    for (size_t i = 0; i < rows.size(); i++)
      json += (i ? "," : "") + to_json(*rows[i]);
    self.host_.respond_json(ex, 200, json + "]}");
  };
  GramothiPrincipal who{};
  if (!authenticate(host_, ex, &who)) return;
  with_right(host_, ex, who, param(host_, ex, "class_id"), Right::kAttend,
             while_alive(weak_from_this(), answer));
}

// {"record": true|false}: the teacher turns recording on or off, for the live session now and
// for the next start.
void RecordingRoutes::set(GramothiHttpExchange *ex) {
  GramothiPrincipal who{};
  if (!authenticate(host_, ex, &who)) return;
  size_t len = 0;
  const uint8_t *body = host_.api->http_body(ex, &len);
  g_autoptr(JsonParser) p = json_parser_new();
  JsonObject *o =
      body && len ? parse_object(p, reinterpret_cast<const char *>(body), static_cast<gssize>(len))
                  : nullptr;
  JsonNode *record = o ? json_object_get_member(o, "record") : nullptr;
  if (!record || !JSON_NODE_HOLDS_VALUE(record) ||
      json_node_get_value_type(record) != G_TYPE_BOOLEAN)
    return host_.respond_error(ex, 400, "invalid_field",
                               "Send {\"record\": true} or {\"record\": false}.");
  bool on = json_node_get_boolean(record);
  auto answer = [on](RecordingRoutes &self, GramothiHttpExchange *ex, const GramothiPrincipal &,
                     const std::string &id) {
    self.recorder_->set_choice(id, on);
    self.host_.respond_json(
        ex, 200,
        std::string("{\"class_id\":") + quote(id) + ",\"record\":" + (on ? "true" : "false") +
            ",\"recording\":" + (self.recorder_->is_recording(id) ? "true" : "false") + "}");
  };
  with_right(host_, ex, who, param(host_, ex, "class_id"), Right::kTeach,
             while_alive(weak_from_this(), answer));
}

// ---- playback: timeline, audio, package, page ----

void RecordingRoutes::with_recording(GramothiHttpExchange *ex, Credentials accepted,
                                     WithRecording then) {
  std::string id = param(host_, ex, "recording_id");
  const char *ticket = host_.api->http_query(ex, "ticket");
  GramothiPrincipal who{};
  // Credentials first, whatever the id: an unknown id and an existing one answer alike.
  if (accepted == Credentials::kHeaderOrTicket && ticket) {
    GramothiError e{};
    if (host_.api->auth_verify_ticket(host_.ctx, ticket, ticket_scope(id).c_str(), &who, &e) !=
        GRAMOTHI_OK)
      return host_.respond_error(ex, e);
    // The ticket was minted for this recording after the same check as below.
    const Recording *r = index_->find(id);
    if (!r) return no_such_recording(host_, ex);
    return then(*this, ex, *r);
  }
  if (!authenticate(host_, ex, &who)) return;
  const Recording *r = index_->find(id);
  if (!r) return no_such_recording(host_, ex);
  auto allowed = [id, then](RecordingRoutes &self, GramothiHttpExchange *ex,
                            const GramothiPrincipal &, const std::string &) {
    const Recording *r = self.index_->find(id);
    if (!r) return no_such_recording(self.host_, ex);
    then(self, ex, *r);
  };
  // A recording of someone else's class answers as if it did not exist: ids cannot be probed.
  with_right(host_, ex, who, r->class_id, Right::kAttend, while_alive(weak_from_this(), allowed),
             [host = host_](GramothiHttpExchange *ex) { no_such_recording(host, ex); });
}

// Links for an <audio> element and a download button, which cannot send a header: each
// carries a ticket for this recording that expires after link_ttl_s.
void RecordingRoutes::links(GramothiHttpExchange *ex) {
  GramothiPrincipal who{};
  if (!authenticate(host_, ex, &who)) return;
  const Recording *r = index_->find(param(host_, ex, "recording_id"));
  if (!r) return no_such_recording(host_, ex);
  auto allowed = [id = r->id, who](RecordingRoutes &self, GramothiHttpExchange *ex,
                                   const GramothiPrincipal &, const std::string &) {
    char *ticket = self.host_.api->auth_ticket(self.host_.ctx, &who, ticket_scope(id).c_str(),
                                               self.link_ttl_s_);
    if (!ticket)
      return self.host_.respond_error(ex, 401, "token_expired",
                                      "The token has expired; sign in again.");
    g_autofree char *escaped = g_uri_escape_string(ticket, nullptr, TRUE);
    self.host_.api->free(ticket);
    std::string base = "/api/v1/recordings/" + id;
    int64_t now_s = g_get_real_time() / G_USEC_PER_SEC;
    int64_t expires = std::min<int64_t>(now_s + self.link_ttl_s_, who.expires_at);
    g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(expires);
    g_autofree char *iso = g_date_time_format(t, "%Y-%m-%dT%H:%M:%SZ");
    self.host_.respond_json(ex, 200,
                            "{\"recording_id\":" + quote(id) +
                                ",\"audio_url\":" + quote(base + "/audio?ticket=" + escaped) +
                                ",\"package_url\":" + quote(base + "/package?ticket=" + escaped) +
                                ",\"expires_at\":" + quote(iso) +
                                ",\"ttl_seconds\":" + std::to_string(expires - now_s) + "}");
  };
  with_right(host_, ex, who, r->class_id, Right::kAttend, while_alive(weak_from_this(), allowed),
             [host = host_](GramothiHttpExchange *ex) { no_such_recording(host, ex); });
}

// The `profile` query parameter (default: the smallest profile), or "" after answering 400.
std::string RecordingRoutes::chosen_profile(GramothiHttpExchange *ex) {
  std::vector<std::string> names;  // the profiles the server knows, smallest first
  g_autofree char *config = host_.api->public_config_json(host_.ctx);
  g_autoptr(JsonParser) p = json_parser_new();
  if (JsonObject *o = parse_object(p, config)) {
    JsonArray *a = json_object_get_array_member(o, "profiles");
    for (guint i = 0; a && i < json_array_get_length(a); i++)
      names.push_back(json_object_get_string_member_with_default(
          json_array_get_object_element(a, i), "name", ""));
  }
  const char *q = host_.api->http_query(ex, "profile");
  std::string profile = q && *q ? q : (names.empty() ? "" : names.front());
  if (std::find(names.begin(), names.end(), profile) == names.end()) {
    std::string list;
    for (const auto &n : names)
      list += (list.empty() ? "" : ", ") + n;
    host_.respond_error(ex, 400, "invalid_field", "profile must be one of: " + list + ".");
    return "";
  }
  return profile;
}

bool RecordingRoutes::too_busy(GramothiHttpExchange *ex) {
  if (in_flight_ < kMaxInFlight) return false;
  host_.api->http_add_header(ex, "Retry-After", "2");
  host_.respond_error(ex, 503, "busy", "Many downloads are running; try again in a moment.");
  return true;
}

void RecordingRoutes::timeline(GramothiHttpExchange *ex) {
  with_recording(
      ex, Credentials::kHeader,
      [](RecordingRoutes &self, GramothiHttpExchange *ex, const Recording &r) {
        std::string profile = self.chosen_profile(ex);
        if (profile.empty()) return;
        auto out = std::make_shared<PlayerTimeline>();
        self.reader_->run(
            [out, copy = r, path = self.index_->folder(r.id) + "/timeline.jsonl", profile] {
              *out = player_timeline(copy, read_text(path), profile,
                                     "/api/v1/streaming/slides/images/");
            },
            [host = self.host_, ex, out] { host.respond_json(ex, 200, out->json); });
      });
}

void RecordingRoutes::audio(GramothiHttpExchange *ex) {
  with_recording(
      ex, Credentials::kHeaderOrTicket,
      [](RecordingRoutes &self, GramothiHttpExchange *ex, const Recording &r) {
        if (self.too_busy(ex)) return;
        self.in_flight_++;
        const char *range = self.host_.api->http_header(ex, "Range");
        auto slice = std::make_shared<AudioSlice>();
        self.reader_->run(
            [slice, path = self.index_->folder(r.id) + "/audio.ogg",
             range = std::string(range ? range : "")] { *slice = read_audio(path, range); },
            while_alive(self.weak_from_this(), [ex, slice](RecordingRoutes &self) {
              self.in_flight_--;
              send_audio(self.host_, ex, *slice);
            }));
      });
}

void RecordingRoutes::package(GramothiHttpExchange *ex) {
  with_recording(
      ex, Credentials::kHeaderOrTicket,
      [](RecordingRoutes &self, GramothiHttpExchange *ex, const Recording &r) {
        if (r.state == RecordingState::kRecording || r.state == RecordingState::kFinishing)
          return self.host_.respond_error(
              ex, 409, "recording_in_progress",
              "The class is still being recorded; the package comes when it ends.");
        std::string profile = self.chosen_profile(ex);
        if (profile.empty() || self.too_busy(ex)) return;
        self.in_flight_++;
        auto made = [ex, copy = r](RecordingRoutes &self, const std::string &zip,
                                   const std::string &error) {
          if (error.empty() && !zip.empty()) return self.send_package(ex, copy, zip);
          self.in_flight_--;
          self.host_.log(GRAMOTHI_LOG_ERROR, "recording " + copy.id + ": cannot pack: " + error);
          self.host_.respond_error(ex, 500, "package_failed",
                                   "The package could not be made: " + error);
        };
        self.packages_->get(r, self.index_->folder(r.id), profile,
                            while_alive(self.weak_from_this(), made));
      });
}

void RecordingRoutes::send_package(GramothiHttpExchange *ex, const Recording &r,
                                   const std::string &zip) {
  in_flight_--;
  std::string name = r.class_id + "-" + std::to_string(r.started_at_ms / 1000) + ".zip";
  for (char &c : name)
    if (!g_ascii_isalnum(c) && c != '-' && c != '.' && c != '_') c = '_';
  std::string disposition = "attachment; filename=\"" + name + "\"";
  host_.api->http_add_header(ex, "Content-Disposition", disposition.c_str());
  host_.api->http_add_header(ex, "Cache-Control", "private, max-age=3600");
  host_.api->http_respond(ex, 200, "application/zip", zip.data(), zip.size());
}

void RecordingRoutes::player(GramothiHttpExchange *ex) {
  std::string page = player_page("null");
  host_.api->http_add_header(ex, "Cache-Control", "no-cache");
  host_.api->http_respond(ex, 200, "text/html; charset=utf-8", page.data(), page.size());
}

}  // namespace gramothi::recording
