// The host as the recording plugin reaches it, and the plugin's one lifetime idiom.
//
// HostLink: the host table and the plugin's context, both owned by the host and borrowed from
// init to shutdown; copy it freely. Every call through it must be made on the main loop.
//
// Lifetime: objects that asynchronous work calls back (host callbacks, file work, slide fetches)
// are owned by shared_ptr; each callback holds a weak_ptr and runs only if lock() still finds
// the object (`while_alive`). Routes and bus subscriptions get the object itself as user_data:
// the host drops them right after shutdown(), before anything else runs on the main loop.
#pragma once

#include <json-glib/json-glib.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "../common/http_json.hpp"
#include "gramothi/plugin.h"

namespace gramothi::recording {

struct HostLink {
  const GramothiHost *api = nullptr;     // borrowed
  GramothiPluginContext *ctx = nullptr;  // borrowed

  void log(int32_t level, const std::string &message) const {
    api->log(ctx, level, message.c_str());
  }
  void respond_json(GramothiHttpExchange *ex, unsigned status, const std::string &json) const {
    api->http_respond(ex, status, "application/json", json.data(), json.size());
  }
  void respond_error(GramothiHttpExchange *ex, unsigned status, const std::string &code,
                     const std::string &message) const {
    respond_json(ex, status, plugin::error_json(code, message));
  }
  // A host error, with the HTTP status its code maps to.
  void respond_error(GramothiHttpExchange *ex, const GramothiError &e) const {
    respond_error(ex, gramothi_status_http(e.status), e.code, e.message);
  }
};

// `f(owner, args...)` while `owner` lives; nothing once it is gone.
template <class T, class F>
auto while_alive(std::weak_ptr<T> owner, F f) {
  return [owner = std::move(owner), f = std::move(f)](auto &&...args) {
    if (std::shared_ptr<T> self = owner.lock()) f(*self, std::forward<decltype(args)>(args)...);
  };
}

// A C callback that the host calls exactly once, made from a C++ callable: pass `call` as the
// callback and `wrap(f)` as its user_data; `call` runs f and frees it.
template <class... Args>
struct Once {
  using Fn = std::function<void(Args...)>;
  static void *wrap(Fn f) { return new Fn(std::move(f)); }
  static void call(Args... args, void *data) {
    std::unique_ptr<Fn> f(static_cast<Fn *>(data));
    (*f)(args...);
  }
};
using OnResult = Once<const GramothiError *, const char *>;            // GramothiResultCallback
using OnBytes = Once<const GramothiError *, const uint8_t *, size_t>;  // GramothiBytesCallback

// The top-level object of a JSON text, or null when the text is not one; `parser` keeps it.
inline JsonObject *parse_object(JsonParser *parser, const char *text, gssize length = -1) {
  if (!text || !json_parser_load_from_data(parser, text, length, nullptr)) return nullptr;
  JsonNode *root = json_parser_get_root(parser);
  return root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : nullptr;
}

inline std::string node_text(JsonNode *node) {
  g_autofree char *text = json_to_string(node, FALSE);
  return text;
}

}  // namespace gramothi::recording
