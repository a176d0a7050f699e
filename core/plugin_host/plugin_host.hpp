// PluginHost: loads plugins (GModule, local binding) through the C ABI in api/gramothi/plugin.h,
// checks their ABI version, runs init, and hands them the host table that reaches core's
// services. Required plugins that fail stop the start; optional ones are skipped with a warning.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "auth/grant_book.hpp"
#include "auth/jwt.hpp"
#include "auth/link_ticket.hpp"
#include "base/event_bus.hpp"
#include "config/config.hpp"
#include "config/profiles.hpp"
#include "domain/class_registry.hpp"
#include "http/http_router.hpp"

#include "gramothi/plugin.h"

namespace gramothi {

class MediaEngine;
class SlideService;

// What plugins can reach. Borrowed: the Server owns all of it and outlives the host.
struct HostServices {
  const Config *config = nullptr;
  const ProfileSet *profiles = nullptr;
  const JwtCodec *jwt = nullptr;
  GrantBook *grants = nullptr;  // the grants of verified tokens, by principal
  const LinkTickets *tickets = nullptr;
  HttpRouter *router = nullptr;
  EventBus *bus = nullptr;
  ClassRegistry *classes = nullptr;
  MediaEngine *media = nullptr;  // null: media functions answer "unavailable"
  SlideService *slides = nullptr;
  std::string storage_backend;
  int64_t started_at_us = 0;
};

class PluginHost {
 public:
  explicit PluginHost(HostServices services);
  PluginHost(const PluginHost &) = delete;
  PluginHost &operator=(const PluginHost &) = delete;
  ~PluginHost();  // unload_all()

  // Loads every plugin in order. Returns an Error naming the first required plugin that could
  // not be loaded (its log line says why); optional failures are only logged.
  std::optional<Error> load_all(const std::vector<PluginSpec> &specs, const std::string &dir);
  // Loads one module file. Error codes: "plugin_open_failed", "plugin_no_entry",
  // "plugin_abi_mismatch", "plugin_invalid", "plugin_init_failed".
  std::optional<Error> load_file(const std::string &name, const std::string &path);
  // Shuts plugins down in reverse load order and drops their routes and subscriptions.
  void unload_all();

  std::vector<std::string> loaded_names() const;

 private:
  HostServices services_;
  std::vector<std::unique_ptr<GramothiPluginContext>> plugins_;
};

}  // namespace gramothi
