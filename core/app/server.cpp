#include "app/server.hpp"

#include <glib-unix.h>
#include <sys/resource.h>

#include <cerrno>

#include "base/json.hpp"
#include "base/log.hpp"
#include "base/secrets.hpp"
#include "http/web_pages.hpp"
#include "storage/class_store.hpp"
#include "storage/migrations.hpp"
#include "transport/lite_transport.hpp"

namespace gramothi {

std::unique_ptr<Database> open_configured_database(const Config &config) {
  if (config.uses_postgres()) return open_postgres(config.database_url);
  std::string path = config.sqlite_path();
  g_autofree char *dir = g_path_get_dirname(path.c_str());
  if (g_mkdir_with_parents(dir, 0700) != 0)
    throw StorageError(ErrorKind::kUnavailable,
                       std::string("cannot create directory '") + dir + "': " + g_strerror(errno));
  return open_sqlite(path);
}

Result<std::string> jwt_secret_for(const Config &config) {
  if (!config.jwt_secret.empty()) return config.jwt_secret;
  return load_or_create_jwt_secret(config.data_dir);
}

namespace {

ConnectionLimits connection_limits(const Config &c) {
  ConnectionLimits l;
  l.max_connections = static_cast<size_t>(c.max_connections);
  l.max_connections_per_ip = static_cast<size_t>(c.max_connections_per_ip);
  l.new_per_ip_per_second = static_cast<double>(c.new_connections_per_ip_per_second);
  l.new_per_ip_burst = static_cast<double>(c.new_connections_per_ip_burst);
  l.header_timeout_s = c.header_timeout_s;
  l.idle_timeout_s = c.idle_timeout_s;
  return l;
}

// Every connection holds a file descriptor: take what the hard limit allows, and say so when
// that is fewer than max_connections (accepts then pause while descriptors are short).
void raise_open_file_limit(const Config &c) {
  struct rlimit files {};
  if (getrlimit(RLIMIT_NOFILE, &files) != 0) return;
  if (files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
    getrlimit(RLIMIT_NOFILE, &files);
  }
  constexpr rlim_t kReserve = 256;  // database, plugins, media sockets, worker pipes
  if (files.rlim_cur != RLIM_INFINITY &&
      files.rlim_cur < static_cast<rlim_t>(c.max_connections) + kReserve)
    log_message(LogLevel::kWarning, "core",
                "the open file limit (" + std::to_string(files.rlim_cur) +
                    ") is below [limits] max_connections (" + std::to_string(c.max_connections) +
                    ") plus " + std::to_string(kReserve) + "; raise it (LimitNOFILE=, ulimit -n)");
}

}  // namespace

Result<std::unique_ptr<Server>> Server::create(Config config) {
  std::unique_ptr<Server> s(new Server());
  s->config_ = std::move(config);
  const Config &c = s->config_;

  std::string pipelines = c.pipelines_dir.empty() ? default_pipelines_dir() : c.pipelines_dir;
  auto profiles = ProfileSet::load(pipelines + "/profiles.ini");
  if (!profiles) return profiles.error();
  s->profiles_ = std::move(*profiles);

  auto secret = jwt_secret_for(c);
  if (!secret) return secret.error();
  s->jwt_ = std::make_unique<JwtCodec>(*secret, c.jwt_issuer, c.jwt_audience, c.jwt_leeway_s,
                                       c.max_token_lifetime_s);
  auto keys = provider_keys(c.jwt_public_key_pem, c.jwt_public_key_id, c.jwt_jwks);
  if (!keys)
    return Error{ErrorKind::kInvalid, "config_invalid", c.source + ": " + keys.error().message};
  if (keys->size() > 0 && c.jwt_audience.empty())
    log_message(LogLevel::kWarning, "auth",
                "identity provider keys are set but [auth] audience is not: every token the "
                "provider signs, for any of its applications, is accepted here; set audience to "
                "this server's client id");
  s->jwt_->set_public_keys(std::move(*keys));
  s->jwt_->set_claim_names(ClaimNames{c.jwt_user_claim, c.jwt_role_claim, c.jwt_classes_claim,
                                      c.jwt_teaches_claim, c.jwt_role_values});
  s->key_reloader_ = std::make_unique<KeyReloader>(*s->jwt_, c.jwt_public_key_path,
                                                   c.jwt_public_key_id, c.jwt_jwks_path);
  s->grants_ = std::make_unique<GrantBook>(c.jwt_leeway_s);
  s->tickets_ = std::make_unique<LinkTickets>(*secret);

  std::unique_ptr<Database> db;
  std::string backend;
  try {
    db = open_configured_database(c);
    backend = std::string(db->backend());
    int version = migrate(*db);
    log_message(LogLevel::kInfo, "storage",
                backend + " ready, schema version " + std::to_string(version) +
                    (c.uses_postgres() ? "" : " (" + c.sqlite_path() + ")"));
    // Before grants, the first teacher to start a class or upload to it owned it; migration 4
    // kept them as its teacher. Until an admin confirms or replaces them, say so at each start.
    auto inherited = ClassStore(*db).inherited_teachers();
    if (inherited.ok() && !inherited->empty()) {
      std::string list;
      for (size_t i = 0; i < inherited->size() && i < 20; i++)
        list += (i ? ", " : "") + (*inherited)[i];
      log_message(LogLevel::kWarning, "auth",
                  std::to_string(inherited->size()) +
                      " classes keep the teacher who created them before teachers were assigned (" +
                      list + (inherited->size() > 20 ? ", ..." : "") +
                      "); review each with PUT /api/v1/classes/{class_id} {\"teachers\": [...]}");
    }
  } catch (const StorageError &e) {
    return Error{e.kind(), "storage_unavailable", std::string("storage: ") + e.what()};
  }

  s->loop_ = g_main_loop_new(nullptr, FALSE);
  s->bus_ = std::make_unique<EventBus>();
  Config reopen_config = c;
  s->worker_ = std::make_unique<StorageWorker>(
      std::move(db), [reopen_config] { return open_configured_database(reopen_config); },
      g_main_context_default());
  s->classes_ =
      std::make_unique<ClassRegistry>(*s->worker_, *s->bus_, s->profiles_, c.open_attendance);
  s->slides_ = std::make_unique<SlideService>(s->config_, s->profiles_, *s->worker_, *s->bus_);
  raise_open_file_limit(c);
  s->router_ = std::make_unique<HttpRouter>(connection_limits(c));
  // Uploads: a request that would send megabytes shows its token first.
  s->router_->set_token_check(
      [jwt = s->jwt_.get()](const char *authorization) -> std::optional<Error> {
        auto token = bearer_token(authorization);
        if (!token) return token.error();
        auto claims = jwt->verify(*token, g_get_real_time() / G_USEC_PER_SEC);
        if (!claims) return claims.error();
        return std::nullopt;
      });
  auto web = WebPages::load(c.web_dir.empty() ? default_web_dir() : c.web_dir);
  if (!web) return web.error();
  s->web_ = std::move(*web);
  if (auto e = s->web_->add_routes(*s->router_, [p = &s->profiles_](std::string_view profile) {
        return p->image_pace_bytes_per_s(profile);
      }))
    return *e;

  if (c.media_enabled) {
    auto pipes = MediaPipelines::load(pipelines + "/media.ini", s->profiles_);
    if (!pipes) return pipes.error();
    IceSettings ice;
    ice.local_addresses = c.ice_addresses;
    ice.nat_1to1_address = c.nat_1to1_address;
    ice.port_min = c.ice_port_min;
    ice.port_max = c.ice_port_max;
    ice.stun_server = c.media_stun_server;
    ice.ingest_latency_ms = c.ingest_latency_ms;
    ice.encoder_linger_ms = static_cast<unsigned>(c.encoder_linger_ms);
    std::unique_ptr<LiteTransport> lite;
    if (c.listener_transport == "lite") {
      LiteSettings ls;
      ls.addresses = c.ice_addresses;
      ls.advertised_address = c.nat_1to1_address;
      ls.port_min = c.ice_port_min;
      ls.port_max = c.ice_port_max;
      ls.consent_timeout_ms = c.ice_consent_timeout_ms;
      auto t = LiteTransport::start(ls);
      if (!t) return t.error();
      lite = std::move(*t);
      std::string where;
      for (const auto &e : lite->endpoints())
        where += (where.empty() ? "" : ", ") + e;
      log_message(LogLevel::kInfo, "media", "listeners connect over UDP at " + where);
    }
    s->media_ = std::make_unique<MediaEngine>(s->profiles_, std::move(*pipes), std::move(ice),
                                              std::move(lite));
    // The class lifecycle drives the media: a stopped class tears its pipelines down, and a
    // profile pinned over REST applies to the student's live listener at once.
    MediaEngine *media = s->media_.get();
    // A slide move: its images go first, the listeners' probes wait.
    s->slides_subscription_ = s->bus_->subscribe(
        "slides.", [media](const std::string &topic, const std::string &payload) {
          if (topic != "slides.sync") return;
          auto json = parse_json_object(payload);
          if (!json) return;
          JsonObject *o = json_node_get_object(json->get());
          media->slide_moved(json_object_get_string_member_with_default(o, "class_id", ""));
        });
    s->media_subscription_ =
        s->bus_->subscribe("class.", [media](const std::string &topic, const std::string &payload) {
          auto json = parse_json_object(payload);
          if (!json) return;
          JsonObject *o = json_node_get_object(json->get());
          const char *class_id = json_object_get_string_member_with_default(o, "class_id", "");
          if (topic == "class.stopped") {
            media->end_class(class_id);
          } else if (topic == "class.profile_pinned") {
            media->pin_user(class_id, json_object_get_string_member_with_default(o, "user_id", ""),
                            json_object_get_string_member_with_default(o, "profile", "auto"));
          }
        });
  }

  HostServices services;
  services.config = &s->config_;
  services.profiles = &s->profiles_;
  services.jwt = s->jwt_.get();
  services.grants = s->grants_.get();
  services.tickets = s->tickets_.get();
  services.router = s->router_.get();
  services.bus = s->bus_.get();
  services.classes = s->classes_.get();
  services.media = s->media_.get();
  services.slides = s->slides_.get();
  services.storage_backend = backend;
  services.started_at_us = g_get_monotonic_time();
  s->plugins_ = std::make_unique<PluginHost>(services);
  std::string dir = c.plugin_dir.empty() ? default_plugin_dir() : c.plugin_dir;
  if (auto e = s->plugins_->load_all(c.plugins, dir)) return *e;
  return s;
}

Server::~Server() {
  if (sigint_) g_source_remove(sigint_);
  if (sigterm_) g_source_remove(sigterm_);
  if (sighup_) g_source_remove(sighup_);
  if (drain_timer_) g_source_remove(drain_timer_);
  // Order matters: no storage completion may reach a plugin after it shut down, and no
  // exchange may be freed while a plugin could still answer it.
  if (router_) router_->drain();
  worker_.reset();
  if (plugins_) plugins_->unload_all();
  if (bus_ && media_subscription_) bus_->unsubscribe(media_subscription_);
  if (bus_ && slides_subscription_) bus_->unsubscribe(slides_subscription_);
  media_.reset();
  slides_.reset();  // kills any slide worker still rendering
  if (router_) router_->close();
  classes_.reset();
  bus_.reset();
  if (loop_) g_main_loop_unref(loop_);
}

Result<int> Server::listen() {
  auto port = router_->listen(config_.listen_address, config_.port);
  if (!port) return port;
  if (config_.public_url.empty()) {
    std::string host = config_.listen_address;
    if (host == "0.0.0.0" || host == "::") host = "127.0.0.1";
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    config_.public_url = "http://" + host + ":" + std::to_string(*port);
  }
  return port;
}

void Server::run() {
  sigint_ = g_unix_signal_add(SIGINT, on_signal, this);
  sigterm_ = g_unix_signal_add(SIGTERM, on_signal, this);
  sighup_ = g_unix_signal_add(
      SIGHUP,
      [](gpointer self) -> gboolean {
        static_cast<Server *>(self)->key_reloader_->reload("SIGHUP");
        return G_SOURCE_CONTINUE;
      },
      this);
  g_main_loop_run(loop_);
}

void Server::stop() {
  if (drain_timer_ || !g_main_loop_is_running(loop_)) return;
  log_message(LogLevel::kInfo, "core", "stopping: finishing requests in progress");
  router_->drain();
  drain_deadline_us_ = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
  drain_timer_ = g_timeout_add(20, on_drain_tick, this);
}

gboolean Server::on_signal(gpointer self) {
  static_cast<Server *>(self)->stop();
  return G_SOURCE_CONTINUE;
}

gboolean Server::on_drain_tick(gpointer self) {
  auto *s = static_cast<Server *>(self);
  if (s->router_->pending() > 0 && g_get_monotonic_time() < s->drain_deadline_us_)
    return G_SOURCE_CONTINUE;
  if (s->router_->pending() > 0)
    log_message(LogLevel::kWarning, "core",
                std::to_string(s->router_->pending()) + " requests still open; closing them");
  s->drain_timer_ = 0;
  g_main_loop_quit(s->loop_);
  return G_SOURCE_REMOVE;
}

}  // namespace gramothi
