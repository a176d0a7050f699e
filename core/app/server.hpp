// Server: owns everything that runs — storage (opened and migrated at start), the storage
// worker, event bus, class registry, HTTP router and plugins — and the main loop. SIGINT and
// SIGTERM stop it gracefully: new requests get 503, requests in flight get up to 5 s, then
// plugins shut down and storage closes.
#pragma once

#include <glib.h>

#include <memory>
#include <optional>
#include <string>

#include "auth/grant_book.hpp"
#include "app/key_reloader.hpp"
#include "auth/jwt.hpp"
#include "auth/link_ticket.hpp"
#include "base/event_bus.hpp"
#include "config/config.hpp"
#include "config/profiles.hpp"
#include "domain/class_registry.hpp"
#include "domain/slide_service.hpp"
#include "domain/slide_service.hpp"
#include "http/http_router.hpp"
#include "http/web_pages.hpp"
#include "media/media_engine.hpp"
#include "plugin_host/plugin_host.hpp"
#include "storage/storage_worker.hpp"

namespace gramothi {

// Opens the configured database (SQLite file or PostgreSQL URL). Throws StorageError.
std::unique_ptr<Database> open_configured_database(const Config &config);
// The JWT secret: from the config, or generated once in the data dir.
Result<std::string> jwt_secret_for(const Config &config);

class Server {
 public:
  // Loads profiles and the secret, opens and migrates storage, loads plugins. Blocking work
  // happens here, before the main loop runs.
  static Result<std::unique_ptr<Server>> create(Config config);
  ~Server();

  // Listens; returns the bound port.
  Result<int> listen();
  // Runs the main loop until stop() or SIGINT/SIGTERM; SIGHUP reads the provider keys again.
  void run();
  void stop();

  const Config &config() const { return config_; }
  const JwtCodec &jwt() const { return *jwt_; }

 private:
  Server() = default;
  static gboolean on_signal(gpointer self);
  static gboolean on_drain_tick(gpointer self);

  Config config_;
  ProfileSet profiles_;
  std::unique_ptr<JwtCodec> jwt_;
  std::unique_ptr<KeyReloader> key_reloader_;  // SIGHUP and file changes
  std::unique_ptr<GrantBook> grants_;          // the class grants of the tokens verified
  std::unique_ptr<LinkTickets> tickets_;
  GMainLoop *loop_ = nullptr;
  std::unique_ptr<EventBus> bus_;
  std::unique_ptr<StorageWorker> worker_;
  std::unique_ptr<ClassRegistry> classes_;
  std::unique_ptr<HttpRouter> router_;
  std::unique_ptr<MediaEngine> media_;
  std::unique_ptr<SlideService> slides_;
  std::unique_ptr<WebPages> web_;
  std::unique_ptr<PluginHost> plugins_;
  int64_t media_subscription_ = 0;
  int64_t slides_subscription_ = 0;
  guint sigint_ = 0, sigterm_ = 0, sighup_ = 0, drain_timer_ = 0;
  int64_t drain_deadline_us_ = 0;
};

}  // namespace gramothi
