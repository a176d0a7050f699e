// The class WebSocket's message handler: the signaling plugin itself (every file of
// plugins/signaling, loaded through its descriptor as the server loads it), fed a socket's
// messages one after another. The host is this file's: it keeps the ABI's contract
// (api/gramothi/plugin.h: asynchronous answers come later on the main loop, never from inside
// the call; media callbacks never from inside a host call; no callback after media_close) and
// answers as the server would for a live class, so a fuzzed socket gets past authentication
// and reaches every handler: media negotiation, profiles, reports, slides and chat. What the
// host does with what it is handed (SDP answers, chat text) is the server's, and fuzzed
// elsewhere (sdp_answer_fuzz, jwt_fuzz).
//
// Each input runs the plugin from init to shutdown with one socket: nothing may crash, every
// message sent to the client is UTF-8 JSON, what is sent stays in proportion to what came in, and
// the plugin's memory is given back (LeakSanitizer).
//
// Input: the first byte sets up the socket: bit 0, an Authorization header; bits 1-2, the
// token's user (student, teacher, admin, a stranger to the class); bit 3, a low message rate
// (rate_per_second=1); bit 4, ?token= in the URL. The rest is the socket's messages, one per
// line; a line starting with "#b" is sent as a binary message (without the "#b").
#include <json-glib/json-glib.h>

#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "gramothi/plugin.h"

extern "C" const GramothiPluginDescriptor *gramothi_plugin_describe(void);

namespace {

constexpr size_t kMaxMessages = 64;
constexpr const char *kClass = "physics-101";

struct GramothiWsConnectionStub {};
struct Peer {
  bool publisher = false;
  const GramothiMediaCallbacks *callbacks = nullptr;
  void *user_data = nullptr;
  bool answered = false;
};

// The host's state for one input.
struct FuzzHost {
  uint8_t setup = 0;
  std::string rate;  // config rate_per_second, "" = unset
  const GramothiWsHandlers *ws = nullptr;
  void *ws_user_data = nullptr;
  void *conn_data = nullptr;
  bool close_requested = false;
  size_t sent_bytes = 0;
  std::deque<std::function<void()>> later;  // answers due on the main loop
  std::map<int64_t, std::pair<GramothiEventCallback, void *>> subscriptions;
  std::map<int64_t, std::string> topics;
  int64_t next_subscription = 1;
  std::map<GramothiMediaPeer *, std::unique_ptr<Peer>> peers;
};

FuzzHost *host_state = nullptr;
GramothiWsConnection *const kConn =
    reinterpret_cast<GramothiWsConnection *>(new GramothiWsConnectionStub());
GramothiPluginContext *const kCtx = reinterpret_cast<GramothiPluginContext *>(&host_state);

FuzzHost &H() {
  return *host_state;
}

void fill_error(GramothiError *e, int32_t status, const char *code, const char *message) {
  e->status = status;
  g_strlcpy(e->code, code, sizeof e->code);
  g_strlcpy(e->message, message, sizeof e->message);
}

// `done` later, with `json` or with an error.
void answer(GramothiResultCallback done, void *user_data, std::string json) {
  H().later.push_back([=] { done(nullptr, json.c_str(), user_data); });
}
void answer_error(GramothiResultCallback done, void *user_data, int32_t status, const char *code) {
  H().later.push_back([=] {
    GramothiError e{};
    fill_error(&e, status, code, "refused by the fuzz host");
    done(&e, nullptr, user_data);
  });
}

void publish(const std::string &topic, const std::string &payload) {
  H().later.push_back([topic, payload] {
    auto subs = H().subscriptions;  // a callback may unsubscribe
    for (auto &[id, sub] : subs)
      if (g_str_has_prefix(topic.c_str(), H().topics[id].c_str()))
        sub.first(topic.c_str(), payload.c_str(), sub.second);
  });
}

std::string quote(const char *s) {
  g_autoptr(JsonNode) n = json_node_new(JSON_NODE_VALUE);
  json_node_set_string(n, s ? s : "");
  g_autofree char *text = json_to_string(n, FALSE);
  return text;
}

std::string class_status() {
  return std::string("{\"class_id\":\"") + kClass +
         "\",\"state\":\"live\",\"teacher_id\":\"teacher-1\",\"listeners\":1,\"profiles\":"
         "[\"2g\",\"ultra-low\",\"low\",\"medium\",\"high\"],\"recording\":{\"state\":\"off\"}}";
}

std::string slide(int order) {
  std::string id = "d1b2c3d4e5f60718-" + std::to_string(order);
  return "{\"slide_id\":\"" + id + "\",\"order_no\":" + std::to_string(order) +
         ",\"status\":\"ready\",\"text\":\"Slide " + std::to_string(order) +
         "\",\"images\":{\"low\":{\"url\":\"/api/v1/streaming/slides/images/" +
         std::string(64, 'a') +
         ".webp\",\"width\":1024,\"height\":768,\"bytes\":1000,\"encoding\":\"webp\"},"
         "\"high\":{\"url\":\"/api/v1/streaming/slides/images/" +
         std::string(64, 'b') +
         ".webp\",\"width\":1920,\"height\":1080,\"bytes\":2000}},"
         "\"error\":null}";
}

bool known_profile(const char *p) {
  for (const char *name : {"auto", "2g", "ultra-low", "low", "medium", "high"})
    if (g_strcmp0(p, name) == 0) return true;
  return false;
}

// A peer's first reports, later on the main loop (unless it is closed before).
void report_peer(GramothiMediaPeer *handle) {
  H().later.push_back([handle] {
    auto it = H().peers.find(handle);
    if (it == H().peers.end()) return;
    Peer &p = *it->second;
    p.callbacks->local_description(
        p.publisher ? "answer" : "offer",
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n",
        p.user_data);
  });
  H().later.push_back([handle] {
    auto it = H().peers.find(handle);
    if (it == H().peers.end()) return;
    it->second->callbacks->local_candidate(
        0, "candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host", it->second->user_data);
  });
  H().later.push_back([handle] {
    auto it = H().peers.find(handle);
    if (it == H().peers.end()) return;
    it->second->callbacks->local_candidate(0, "", it->second->user_data);
  });
  for (const char *state : {"connecting", "connected"})
    H().later.push_back([handle, state] {
      auto it = H().peers.find(handle);
      if (it == H().peers.end()) return;
      it->second->callbacks->state(state, "", it->second->user_data);
    });
  H().later.push_back([handle] {
    auto it = H().peers.find(handle);
    if (it == H().peers.end() || it->second->publisher) return;
    it->second->callbacks->profile_changed("low", "initial", it->second->user_data);
  });
}

GramothiMediaPeer *open_peer(bool publisher, const GramothiMediaCallbacks *callbacks,
                             void *user_data) {
  auto p = std::make_unique<Peer>();
  p->publisher = publisher;
  p->callbacks = callbacks;
  p->user_data = user_data;
  auto *handle = reinterpret_cast<GramothiMediaPeer *>(p.get());
  H().peers[handle] = std::move(p);
  report_peer(handle);
  return handle;
}

Peer *peer_of(GramothiMediaPeer *handle) {
  auto it = H().peers.find(handle);
  FUZZ_CHECK(it != H().peers.end());  // the plugin never uses a closed peer
  return it->second.get();
}

GramothiHost make_host() {
  GramothiHost h{};
  h.abi_major = GRAMOTHI_PLUGIN_ABI_MAJOR;
  h.abi_minor = GRAMOTHI_PLUGIN_ABI_MINOR;
  h.struct_size = sizeof(GramothiHost);
  h.free = g_free;
  h.log = [](GramothiPluginContext *, int32_t, const char *message) { FUZZ_CHECK(message); };
  h.config_get = [](GramothiPluginContext *, const char *key) -> const char * {
    if (strcmp(key, "rate_per_second") == 0 && !H().rate.empty()) return H().rate.c_str();
    return nullptr;
  };
  h.auth_verify = [](GramothiPluginContext *, const char *authorization, GramothiPrincipal *out,
                     GramothiError *error) -> int32_t {
    struct Who {
      const char *token, *user;
      int32_t role;
    };
    static const Who kWho[] = {{"Bearer student", "student-7", GRAMOTHI_ROLE_STUDENT},
                               {"Bearer teacher", "teacher-1", GRAMOTHI_ROLE_TEACHER},
                               {"Bearer admin", "admin-1", GRAMOTHI_ROLE_ADMIN},
                               {"Bearer stranger", "stranger-9", GRAMOTHI_ROLE_STUDENT}};
    for (const Who &w : kWho)
      if (g_strcmp0(authorization, w.token) == 0) {
        *out = GramothiPrincipal{};
        g_strlcpy(out->user_id, w.user, sizeof out->user_id);
        out->role = w.role;
        out->expires_at = g_get_real_time() / G_USEC_PER_SEC + 3600;
        return GRAMOTHI_OK;
      }
    fill_error(error, GRAMOTHI_E_UNAUTHORIZED, "token_invalid", "The token is not valid.");
    return GRAMOTHI_E_UNAUTHORIZED;
  };
  h.class_join = [](GramothiPluginContext *, const GramothiPrincipal *, const char *,
                    GramothiResultCallback done, void *ud) {
    answer(done, ud, "{\"changed\":true,\"class\":" + class_status() + "}");
  };
  h.class_leave = h.class_join;
  h.class_status = [](GramothiPluginContext *, const char *class_id, GramothiResultCallback done,
                      void *ud) {
    FUZZ_CHECK(g_strcmp0(class_id, kClass) == 0);
    answer(done, ud, class_status());
  };
  h.class_pin_profile = [](GramothiPluginContext *, const GramothiPrincipal *, const char *,
                           const char *profile, GramothiResultCallback done, void *ud) {
    if (!known_profile(profile)) return answer_error(done, ud, GRAMOTHI_E_INVALID, "invalid_field");
    answer(done, ud, "{\"changed\":true,\"class\":" + class_status() + "}");
  };
  h.event_subscribe = [](GramothiPluginContext *, const char *prefix, GramothiEventCallback cb,
                         void *ud) -> int64_t {
    int64_t id = H().next_subscription++;
    H().subscriptions[id] = {cb, ud};
    H().topics[id] = prefix;
    return id;
  };
  h.event_unsubscribe = [](GramothiPluginContext *, int64_t id) {
    H().subscriptions.erase(id);
    H().topics.erase(id);
  };
  h.ws_route = [](GramothiPluginContext *, const char *, size_t, const GramothiWsHandlers *ws,
                  void *ud) -> int32_t {
    H().ws = ws;
    H().ws_user_data = ud;
    return GRAMOTHI_OK;
  };
  h.ws_param = [](GramothiWsConnection *, const char *name) -> const char * {
    return strcmp(name, "class_id") == 0 ? kClass : nullptr;
  };
  h.ws_query = [](GramothiWsConnection *, const char *name) -> const char * {
    return strcmp(name, "token") == 0 && (H().setup & 16) ? "student" : nullptr;
  };
  h.ws_header = [](GramothiWsConnection *, const char *name) -> const char * {
    static const char *kTokens[] = {"Bearer student", "Bearer teacher", "Bearer admin",
                                    "Bearer stranger"};
    if (g_ascii_strcasecmp(name, "Authorization") != 0 || !(H().setup & 1)) return nullptr;
    return kTokens[(H().setup >> 1) & 3];
  };
  h.ws_send = [](GramothiWsConnection *conn, const char *text) -> int32_t {
    FUZZ_CHECK(conn == kConn && text);
    FUZZ_CHECK(g_utf8_validate(text, -1, nullptr));  // a WebSocket text frame is UTF-8
    g_autoptr(JsonParser) p = json_parser_new();
    FUZZ_CHECK(json_parser_load_from_data(p, text, -1, nullptr));  // the plugin sends JSON
    FUZZ_CHECK(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)));
    H().sent_bytes += strlen(text);
    return H().close_requested ? GRAMOTHI_E_CONFLICT : GRAMOTHI_OK;
  };
  h.ws_close = [](GramothiWsConnection *, uint16_t code, const char *reason) {
    FUZZ_CHECK(code >= 1000 && reason);
    H().close_requested = true;
  };
  h.ws_set_data = [](GramothiWsConnection *, void *data) { H().conn_data = data; };
  h.ws_get_data = [](GramothiWsConnection *) { return H().conn_data; };
  h.media_publish = [](GramothiPluginContext *, const GramothiPrincipal *who, const char *,
                       const char *offer, const GramothiMediaCallbacks *cb, void *ud,
                       GramothiError *error) -> GramothiMediaPeer * {
    FUZZ_CHECK(who->role != GRAMOTHI_ROLE_STUDENT);
    if (!g_str_has_prefix(offer, "v=0")) {
      fill_error(error, GRAMOTHI_E_INVALID, "invalid_sdp", "The offer is not a usable SDP.");
      return nullptr;
    }
    return open_peer(true, cb, ud);
  };
  h.media_listen = [](GramothiPluginContext *, const GramothiPrincipal *, const char *,
                      const char *profile, const GramothiMediaCallbacks *cb, void *ud,
                      GramothiError *error) -> GramothiMediaPeer * {
    if (!known_profile(profile)) {
      fill_error(error, GRAMOTHI_E_INVALID, "invalid_field", "Field 'profile' is unknown.");
      return nullptr;
    }
    return open_peer(false, cb, ud);
  };
  h.media_listen_held = h.media_listen;
  h.media_play = [](GramothiMediaPeer *handle, GramothiError *) -> int32_t {
    FUZZ_CHECK(!peer_of(handle)->publisher);
    return GRAMOTHI_OK;
  };
  h.media_rebind = [](GramothiMediaPeer *handle, void *) { peer_of(handle); };
  h.media_answer = [](GramothiMediaPeer *handle, const char *sdp, GramothiError *error) -> int32_t {
    Peer *p = peer_of(handle);
    FUZZ_CHECK(!p->publisher && sdp);
    if (p->answered) {
      fill_error(error, GRAMOTHI_E_CONFLICT, "unexpected_answer", "Answered already.");
      return GRAMOTHI_E_CONFLICT;
    }
    p->answered = true;
    return GRAMOTHI_OK;
  };
  h.media_add_candidate = [](GramothiMediaPeer *handle, uint32_t mline, const char *,
                             GramothiError *) -> int32_t {
    peer_of(handle);
    FUZZ_CHECK(mline <= 16);
    return GRAMOTHI_OK;
  };
  h.media_set_profile = [](GramothiMediaPeer *handle, const char *profile,
                           GramothiError *error) -> int32_t {
    FUZZ_CHECK(!peer_of(handle)->publisher);
    if (known_profile(profile)) return GRAMOTHI_OK;
    fill_error(error, GRAMOTHI_E_INVALID, "invalid_field", "Field 'profile' is unknown.");
    return GRAMOTHI_E_INVALID;
  };
  h.media_client_report = [](GramothiMediaPeer *handle, int32_t, int32_t, double loss,
                             GramothiError *) -> int32_t {
    peer_of(handle);
    FUZZ_CHECK(loss == -1.0 || (loss >= 0 && loss <= 1));
    return GRAMOTHI_OK;
  };
  h.media_close = [](GramothiMediaPeer *handle) {
    FUZZ_CHECK(H().peers.erase(handle) == 1);  // closed once
  };
  h.media_listener_count = [](GramothiPluginContext *, const char *) -> uint32_t { return 1; };
  h.class_pinned_profile = [](GramothiPluginContext *, const GramothiPrincipal *, const char *,
                              GramothiResultCallback done,
                              void *ud) { answer(done, ud, "{\"profile\":null}"); };
  h.slides_list = [](GramothiPluginContext *, const char *, GramothiResultCallback done, void *ud) {
    answer(done, ud,
           std::string("{\"class_id\":\"") + kClass +
               "\",\"deck\":{\"deck_id\":\"d1b2c3d4e5f60718\"},\"current_slide_id\":"
               "\"d1b2c3d4e5f60718-1\",\"slides\":[" +
               slide(1) + "," + slide(2) + "]}");
  };
  h.slides_sync = [](GramothiPluginContext *, const GramothiPrincipal *who, const char *,
                     const char *action, const char *, int64_t order_no,
                     GramothiResultCallback done, void *ud) {
    FUZZ_CHECK(action);
    if (who->role == GRAMOTHI_ROLE_STUDENT)
      return answer_error(done, ud, GRAMOTHI_E_FORBIDDEN, "forbidden_role");
    if (strcmp(action, "next") != 0 && strcmp(action, "previous") != 0 &&
        strcmp(action, "goto") != 0)
      return answer_error(done, ud, GRAMOTHI_E_INVALID, "invalid_field");
    bool moved = order_no != 1;
    answer(done, ud,
           std::string("{\"changed\":") + (moved ? "true" : "false") +
               ",\"reason\":\"\",\"action\":" + quote(action) + ",\"slide\":" + slide(2) +
               ",\"next\":null}");
    if (moved)
      publish("slides.sync",
              std::string("{\"class_id\":\"") + kClass + "\",\"action\":" + quote(action) +
                  ",\"timestamp\":1,\"slide\":" + slide(2) + ",\"next\":" + slide(3) + "}");
  };
  h.chat_post = [](GramothiPluginContext *, const GramothiPrincipal *who, const char *,
                   const char *text, GramothiResultCallback done, void *ud) {
    FUZZ_CHECK(text);
    if (!*text || g_utf8_strlen(text, -1) > 500)
      return answer_error(done, ud, GRAMOTHI_E_INVALID, "invalid_field");
    std::string message = "{\"message_id\":\"m1\",\"user_id\":" + quote(who->user_id) +
                          ",\"role\":\"student\",\"text\":" + quote(text) +
                          ",\"sent_at\":\"2026-01-01T00:00:00Z\",\"sent_at_ms\":1}";
    answer(done, ud, message);
    publish("chat.message",
            std::string("{\"class_id\":\"") + kClass + "\",\"message\":" + message + "}");
  };
  h.chat_recent = [](GramothiPluginContext *, const char *, GramothiResultCallback done, void *ud) {
    answer(done, ud, "{\"messages\":[]}");
  };
  h.chat_remove = [](GramothiPluginContext *, const GramothiPrincipal *who, const char *,
                     const char *message_id, GramothiResultCallback done, void *ud) {
    FUZZ_CHECK(message_id);
    if (who->role == GRAMOTHI_ROLE_STUDENT)
      return answer_error(done, ud, GRAMOTHI_E_FORBIDDEN, "forbidden_role");
    answer(done, ud, "{}");
    publish("chat.removed", std::string("{\"class_id\":\"") + kClass +
                                "\",\"message_id\":" + quote(message_id) + "}");
  };
  h.media_stats = [](GramothiMediaPeer *handle) -> char * {
    if (peer_of(handle)->publisher) return nullptr;
    return g_strdup(
        "{\"profile\":\"low\",\"pinned\":false,\"loss_pct\":1.5,\"rtt_ms\":84,"
        "\"frames_sent\":1200}");
  };
  h.class_access = [](GramothiPluginContext *, const GramothiPrincipal *who, const char *,
                      GramothiResultCallback done, void *ud) {
    bool stranger = g_str_has_prefix(who->user_id, "stranger");
    bool teach = who->role != GRAMOTHI_ROLE_STUDENT;
    answer(done, ud,
           std::string("{\"attend\":") + (stranger ? "false" : "true") +
               ",\"teach\":" + (teach ? "true" : "false") + "}");
  };
  return h;
}

const GramothiHost kHost = make_host();

// Runs what is due, as the main loop would, until nothing is left (bounded: answers may queue
// more answers).
void run_later() {
  for (int i = 0; i < 10000 && !H().later.empty(); i++) {
    auto f = std::move(H().later.front());
    H().later.pop_front();
    f();
  }
  FUZZ_CHECK(H().later.empty());
  while (g_main_context_iteration(nullptr, FALSE)) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 256 * 1024) return 0;
  FuzzHost state;
  host_state = &state;
  state.setup = data[0];
  if (state.setup & 8) state.rate = "1";

  const GramothiPluginDescriptor *d = gramothi_plugin_describe();
  void *plugin = nullptr;
  char error[256] = "";
  FUZZ_CHECK(d->init(&kHost, kCtx, &plugin, error, sizeof error) == GRAMOTHI_OK);
  FUZZ_CHECK(state.ws);

  state.ws->opened(kConn, state.ws_user_data);
  run_later();
  std::string rest(reinterpret_cast<const char *>(data + 1), size - 1);
  size_t at = 0, count = 0;
  while (at <= rest.size() && count < kMaxMessages && !state.close_requested) {
    size_t end = rest.find('\n', at);
    if (end == std::string::npos) end = rest.size();
    std::string line = rest.substr(at, end - at);
    at = end + 1;
    count++;
    bool binary = line.rfind("#b", 0) == 0;
    if (binary) line.erase(0, 2);
    // As the host hands it over: NUL-terminated, `length` without the NUL.
    state.ws->message(kConn, line.c_str(), line.size(), binary ? 0 : 1, state.ws_user_data);
    run_later();
  }
  state.ws->closed(kConn, state.ws_user_data);
  run_later();
  FUZZ_CHECK(state.peers.empty());  // the socket's media session ended with it
  d->shutdown(plugin);
  run_later();
  FUZZ_CHECK(state.subscriptions.empty());
  // Each message is answered with a few messages, each at most about its own size.
  FUZZ_CHECK(state.sent_bytes <= 4 * size + 16384 * (count + 1));
  host_state = nullptr;
  return 0;
}

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  gramothi::fuzz::quiet_logs();
  return 0;
}
