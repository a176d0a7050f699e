// The 1.1 part of the host table: WebSocket routes on core's SoupServer, and the media engine.
#include "plugin_host/host_ws_media.hpp"

#include <cmath>
#include <cstring>
#include <map>

#include "base/ids.hpp"
#include "base/json.hpp"
#include "base/log.hpp"
#include "media/media_engine.hpp"

struct GramothiWsConnection {
  gramothi::WsRoute *route = nullptr;
  gramothi::GRef<SoupWebsocketConnection> conn;
  std::map<std::string, std::string> params, query, headers;
  void *data = nullptr;
  gulong message_handler = 0, closed_handler = 0;
  bool closed = false;
};

struct GramothiMediaPeer {
  gramothi::MediaEngine *engine = nullptr;
  gramothi::PeerId id = 0;
  GramothiMediaCallbacks callbacks{};
  void *user_data = nullptr;
  bool closed = false;
};

namespace gramothi {

namespace {

constexpr size_t kHardMessageCap = 1024 * 1024;

void on_ws_message(SoupWebsocketConnection *, gint type, GBytes *message, gpointer data) {
  auto *c = static_cast<GramothiWsConnection *>(data);
  if (c->closed) return;
  gsize len = 0;
  const char *bytes = static_cast<const char *>(g_bytes_get_data(message, &len));
  // NUL-terminated copy: plugins may treat text as a C string.
  std::string copy(bytes ? bytes : "", len);
  c->route->handlers.message(c, copy.c_str(), len, type == SOUP_WEBSOCKET_DATA_TEXT,
                             c->route->user_data);
}

void on_ws_closed(SoupWebsocketConnection *, gpointer data) {
  auto *c = static_cast<GramothiWsConnection *>(data);
  if (c->closed) return;
  c->closed = true;
  WsRoute *route = c->route;
  route->connections.erase(c);
  if (route->handlers.closed) route->handlers.closed(c, route->user_data);
  g_signal_handler_disconnect(c->conn.get(), c->message_handler);
  g_signal_handler_disconnect(c->conn.get(), c->closed_handler);
  delete c;
}

void on_ws_open(SoupServer *, SoupServerMessage *msg, const char *path,
                SoupWebsocketConnection *connection, gpointer data) {
  auto *route = static_cast<WsRoute *>(data);
  std::string rest = path ? path : "";
  rest = rest.size() > route->prefix.size() + 1 ? rest.substr(route->prefix.size() + 1) : "";
  if (rest.empty() || rest.find('/') != std::string::npos) {
    soup_websocket_connection_close(connection, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
                                    "unknown WebSocket path");
    return;
  }
  auto *c = new GramothiWsConnection();
  c->route = route;
  c->conn = GRef<SoupWebsocketConnection>::ref(connection);
  g_autofree char *decoded = g_uri_unescape_string(rest.c_str(), nullptr);
  c->params[route->param] = decoded ? decoded : "";
  GUri *uri = soup_server_message_get_uri(msg);
  if (const char *q = g_uri_get_query(uri)) {
    GHashTable *form = soup_form_decode(q);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, form);
    while (g_hash_table_iter_next(&it, &k, &v))
      c->query[static_cast<char *>(k)] = static_cast<char *>(v);
    g_hash_table_unref(form);
  }
  SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
  for (const char *name : {"Authorization", "Origin", "User-Agent", "X-Forwarded-For"})
    if (const char *v = soup_message_headers_get_one(h, name)) c->headers[name] = v;

  soup_websocket_connection_set_max_incoming_payload_size(connection, kHardMessageCap);
  soup_websocket_connection_set_keepalive_interval(connection, 20);
  c->message_handler = g_signal_connect(connection, "message", G_CALLBACK(on_ws_message), c);
  c->closed_handler = g_signal_connect(connection, "closed", G_CALLBACK(on_ws_closed), c);
  route->connections.insert(c);
  if (route->handlers.opened) route->handlers.opened(c, route->user_data);
}

const char *lookup(const std::map<std::string, std::string> &m, const char *name) {
  if (!name) return nullptr;
  auto it = m.find(name);
  return it == m.end() ? nullptr : it->second.c_str();
}

// ---- media peers: engine callbacks -> the plugin's C callbacks ----

PeerObserver observer_for(GramothiMediaPeer *peer) {
  PeerObserver o;
  o.local_description = [peer](const std::string &type, const std::string &sdp) {
    if (!peer->closed && peer->callbacks.local_description)
      peer->callbacks.local_description(type.c_str(), sdp.c_str(), peer->user_data);
  };
  o.local_candidate = [peer](unsigned mline, const std::string &candidate) {
    if (!peer->closed && peer->callbacks.local_candidate)
      peer->callbacks.local_candidate(mline, candidate.c_str(), peer->user_data);
  };
  o.state = [peer](PeerState state, const std::string &detail) {
    if (peer->closed) return;
    if (state == PeerState::kClosed) peer->closed = true;
    if (peer->callbacks.state)
      peer->callbacks.state(std::string(peer_state_name(state)).c_str(), detail.c_str(),
                            peer->user_data);
    // The engine closed it (class ended, replaced, error): the plugin still calls media_close.
  };
  o.profile_changed = [peer](const std::string &profile, const std::string &reason) {
    if (!peer->closed && peer->callbacks.profile_changed)
      peer->callbacks.profile_changed(profile.c_str(), reason.c_str(), peer->user_data);
  };
  return o;
}

bool principal_ok(const GramothiPrincipal *who) {
  return who && memchr(who->user_id, '\0', sizeof who->user_id) && valid_user_id(who->user_id);
}

}  // namespace

int32_t ws_add_route(HostServices *services, GramothiPluginContext *ctx,
                     std::vector<std::unique_ptr<WsRoute>> *routes, const char *pattern,
                     size_t max_message, const GramothiWsHandlers *handlers, void *user_data,
                     std::string *why) {
  if (!pattern || !handlers || !handlers->message) {
    *why = "a route needs a pattern and a message handler";
    return GRAMOTHI_E_INVALID;
  }
  std::string p = pattern;
  size_t slash = p.rfind('/');
  if (p.empty() || p[0] != '/' || slash == 0 || slash == std::string::npos ||
      p.size() < slash + 4 || p[slash + 1] != '{' || p.back() != '}') {
    *why = "WebSocket pattern '" + p + "' must be /path/{name}";
    return GRAMOTHI_E_INVALID;
  }
  auto route = std::make_unique<WsRoute>();
  route->ctx = ctx;
  route->prefix = p.substr(0, slash);
  route->param = p.substr(slash + 2, p.size() - slash - 3);
  route->max_message = max_message;
  route->handlers = *handlers;
  route->user_data = user_data;
  for (const auto &r : *routes)
    if (r->prefix == route->prefix) {
      *why = "WebSocket route '" + p + "' exists already";
      return GRAMOTHI_E_CONFLICT;
    }
  soup_server_add_websocket_handler(services->router->server(), route->prefix.c_str(), nullptr,
                                    nullptr, on_ws_open, route.get(), nullptr);
  routes->push_back(std::move(route));
  return GRAMOTHI_OK;
}

void ws_remove_routes(HostServices *services, std::vector<std::unique_ptr<WsRoute>> *routes) {
  for (auto &r : *routes) {
    soup_server_remove_handler(services->router->server(), r->prefix.c_str());
    // Close what is still open without calling the (unloaded) plugin back.
    for (GramothiWsConnection *c : std::set<GramothiWsConnection *>(r->connections)) {
      c->closed = true;
      g_signal_handler_disconnect(c->conn.get(), c->message_handler);
      g_signal_handler_disconnect(c->conn.get(), c->closed_handler);
      if (soup_websocket_connection_get_state(c->conn.get()) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(c->conn.get(), SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
                                        "server shutting down");
      delete c;
    }
  }
  routes->clear();
}

const char *host_ws_param(GramothiWsConnection *c, const char *name) {
  return c ? lookup(c->params, name) : nullptr;
}
const char *host_ws_query(GramothiWsConnection *c, const char *name) {
  return c ? lookup(c->query, name) : nullptr;
}
const char *host_ws_header(GramothiWsConnection *c, const char *name) {
  if (!c || !name) return nullptr;
  for (const auto &[k, v] : c->headers)
    if (g_ascii_strcasecmp(k.c_str(), name) == 0) return v.c_str();
  return nullptr;
}
int32_t host_ws_send(GramothiWsConnection *c, const char *text) {
  if (!c || !text || c->closed ||
      soup_websocket_connection_get_state(c->conn.get()) != SOUP_WEBSOCKET_STATE_OPEN)
    return GRAMOTHI_E_CONFLICT;
  soup_websocket_connection_send_text(c->conn.get(), text);
  return GRAMOTHI_OK;
}
void host_ws_close(GramothiWsConnection *c, uint16_t code, const char *reason) {
  if (!c || c->closed ||
      soup_websocket_connection_get_state(c->conn.get()) != SOUP_WEBSOCKET_STATE_OPEN)
    return;
  soup_websocket_connection_close(c->conn.get(), code, reason);
}
void host_ws_set_data(GramothiWsConnection *c, void *data) {
  if (c) c->data = data;
}
void *host_ws_get_data(GramothiWsConnection *c) {
  return c ? c->data : nullptr;
}

GramothiMediaPeer *media_publish(HostServices *s, const GramothiPrincipal *who,
                                 const char *class_id, const char *offer,
                                 const GramothiMediaCallbacks *cb, void *user_data,
                                 GramothiError *error) {
  if (!principal_ok(who) || !class_id || !valid_class_id(class_id) || !offer || !cb) {
    fill_error(error,
               {ErrorKind::kInvalid, "invalid_argument", "publish needs a class and an offer."});
    return nullptr;
  }
  auto *peer = new GramothiMediaPeer{s->media, 0, *cb, user_data, false};
  auto id = s->media->publish(class_id, who->user_id, offer, observer_for(peer));
  if (!id) {
    fill_error(error, id.error());
    delete peer;
    return nullptr;
  }
  peer->id = *id;
  return peer;
}

GramothiMediaPeer *media_listen(HostServices *s, const GramothiPrincipal *who, const char *class_id,
                                const char *profile, const GramothiMediaCallbacks *cb,
                                void *user_data, GramothiError *error) {
  if (!principal_ok(who) || !class_id || !valid_class_id(class_id) || !cb) {
    fill_error(error, {ErrorKind::kInvalid, "invalid_argument", "listen needs a class."});
    return nullptr;
  }
  auto *peer = new GramothiMediaPeer{s->media, 0, *cb, user_data, false};
  auto id =
      s->media->listen(class_id, who->user_id, profile ? profile : "auto", observer_for(peer));
  if (!id) {
    fill_error(error, id.error());
    delete peer;
    return nullptr;
  }
  peer->id = *id;
  return peer;
}

int32_t host_media_answer(GramothiMediaPeer *p, const char *sdp, GramothiError *error) {
  if (!p || !sdp) return GRAMOTHI_E_INVALID;
  if (auto e = p->engine->remote_answer(p->id, sdp)) {
    fill_error(error, *e);
    return GRAMOTHI_E_INVALID;
  }
  return GRAMOTHI_OK;
}
int32_t host_media_add_candidate(GramothiMediaPeer *p, uint32_t mline, const char *candidate,
                                 GramothiError *error) {
  if (!p) return GRAMOTHI_E_INVALID;
  if (auto e = p->engine->remote_candidate(p->id, mline, candidate ? candidate : "")) {
    fill_error(error, *e);
    return GRAMOTHI_E_INVALID;
  }
  return GRAMOTHI_OK;
}
int32_t host_media_set_profile(GramothiMediaPeer *p, const char *profile, GramothiError *error) {
  if (!p || !profile) return GRAMOTHI_E_INVALID;
  if (auto e = p->engine->set_profile(p->id, profile)) {
    fill_error(error, *e);
    return GRAMOTHI_E_INVALID;
  }
  return GRAMOTHI_OK;
}
int32_t host_media_client_report(GramothiMediaPeer *p, int32_t downlink_kbps, int32_t rtt_ms,
                                 double loss, GramothiError *error) {
  if (!p) return GRAMOTHI_E_INVALID;
  if (auto e = p->engine->client_report(p->id, downlink_kbps, rtt_ms, loss)) {
    fill_error(error, *e);
    return GRAMOTHI_E_INVALID;
  }
  return GRAMOTHI_OK;
}
char *host_media_stats(GramothiMediaPeer *p) {
  if (!p || p->closed) return nullptr;
  auto s = p->engine->stats(p->id);
  if (!s) return nullptr;
  std::string json = gramothi::JsonObjectWriter()
                         .str("profile", s->profile)
                         .boolean("pinned", s->pinned)
                         .num("loss_pct", std::round(s->loss_fraction * 1000.0) / 10.0)
                         .num("rtt_ms", static_cast<int64_t>(std::llround(s->rtt_ms)))
                         .num("frames_sent", static_cast<int64_t>(s->frames_sent))
                         .finish();
  return g_strdup(json.c_str());
}
void host_media_close(GramothiMediaPeer *p) {
  if (!p) return;
  p->closed = true;
  p->engine->close(p->id);
  // The engine holds the observer (and so `p`) until it drops the peer on the main loop.
  GramothiMediaPeer *doomed = p;
  g_idle_add_full(
      G_PRIORITY_LOW,
      [](gpointer d) -> gboolean {
        delete static_cast<GramothiMediaPeer *>(d);
        return G_SOURCE_REMOVE;
      },
      doomed, nullptr);
}

}  // namespace gramothi
