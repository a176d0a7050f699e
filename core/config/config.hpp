// Server configuration: built-in defaults, then a GLib key file, then command-line overrides.
// Every problem is reported as "FILE: [group] key: what is wrong" and stops the start.
//
// Groups and keys (all optional):
//   [server]  listen_address (127.0.0.1), port (8080), public_url
//   [storage] data_dir (./data), database_url (postgresql://... ; absent = SQLite in data_dir;
//             sqlite:PATH names the SQLite file)
//   [auth]    jwt_secret | jwt_secret_file (absent = generated once in data_dir), issuer,
//             audience, leeway_seconds (30), max_token_lifetime_s (86400: a later `exp` is
//             refused), open_attendance (false: attending a class needs a grant),
//             public_key_file (the identity provider's PEM public key: RS256 or ES256 tokens),
//             public_key_id (its kid), jwks_file (a JSON Web Key Set: keys chosen by kid;
//             both files are read again on SIGHUP and when they change), user_claim (sub),
//             role_claim (role), classes_claim (classes), teaches_claim (teaches): where the
//             provider's tokens carry them (a dotted path reaches into objects), role_values
//             (the provider's role names as ours: "editingteacher=teacher, manager=admin")
//   [ice]     stun_urls, turn_urls (lists, ';'-separated), turn_shared_secret |
//             turn_shared_secret_file, turn_credential_ttl (3600 s)
//   [plugins] load (rest), optional, dir
//   [media]   pipelines_dir, enabled (true), ice_addresses (list of local IPs to gather on,
//             e.g. 127.0.0.1), nat_1to1_address (public IP to advertise), ice_port_min/max,
//             stun_server (stun://host:port, for the server's own reflexive address),
//             ingest_latency_ms (60: the teacher's jitter buffer), listener_transport (lite:
//             every listener on one UDP port with ICE-lite; webrtcbin: one webrtcbin each),
//             ice_consent_timeout_ms (30000: a lite listener that sends no connectivity check
//             this long gets nothing more, RFC 7675), encoder_linger_ms (10000: a profile's
//             encoder stops this long after its last listener left)
//   [slides]  worker (path of gramothi-slide-worker), max_upload_mb (50), max_pages (300),
//             page_timeout_s (30), deck_timeout_s (600), memory_mb (1024 per worker),
//             cpu_seconds_per_page (10), worker_user (nobody: whom the workers run as when
//             the server is root)
//   [web]     dir (the browser pages; default: the source tree's web/, else the install dir)
//   [limits]  max_connections (10000), max_connections_per_ip (1000),
//             new_connections_per_ip_per_second (100), new_connections_per_ip_burst (500),
//             header_timeout_s (20), idle_timeout_s (60), ws_idle_timeout_s (150),
//             ws_max_queued_bytes (1048576), ws_max_read_bytes_per_second (65536)
//   [plugin.NAME] free-form keys, handed to plugin NAME
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/error.hpp"
#include "base/role.hpp"

namespace gramothi {

struct PluginSpec {
  std::string name;
  bool optional = false;
};

struct Config {
  std::string source = "(built-in defaults)";  // the file it came from
  bool from_file = false;

  std::string listen_address = "127.0.0.1";
  int port = 8080;
  std::string public_url;  // how clients reach us; derived from address/port when empty

  std::string data_dir = "data";
  std::string database_url;  // empty = SQLite file in data_dir

  std::string jwt_secret;  // empty = load or generate data_dir/jwt-secret
  std::string jwt_issuer;
  std::string jwt_audience;
  int64_t jwt_leeway_s = 30;
  // The identity provider's public key (PEM; RSA -> RS256, EC P-256 -> ES256) and its kid.
  std::string jwt_public_key_pem;
  std::string jwt_public_key_id;
  std::string jwt_jwks;  // the identity provider's JSON Web Key Set ([auth] jwks_file)
  std::string jwt_public_key_path, jwt_jwks_path;  // re-read on SIGHUP and on change
  // Where the provider's tokens carry the user, role and grants (defaults: our claim names).
  std::string jwt_user_claim = "sub", jwt_role_claim = "role", jwt_classes_claim = "classes",
              jwt_teaches_claim = "teaches";
  std::vector<std::pair<std::string, Role>> jwt_role_values;
  // Tokens whose `exp` lies further ahead than this are refused, whatever they say.
  int64_t max_token_lifetime_s = 24 * 3600;
  // Any signed-in user may attend any class (for schools whose backend cannot issue class
  // grants yet). Teaching always needs a grant or an admin's assignment.
  bool open_attendance = false;

  std::vector<std::string> stun_urls;
  std::vector<std::string> turn_urls;
  std::string turn_shared_secret;
  int64_t turn_credential_ttl_s = 3600;

  std::vector<PluginSpec> plugins = {{"rest", false}, {"signaling", false}, {"recording", false}};
  std::string plugin_dir;     // empty = build tree / install dir
  std::string pipelines_dir;  // empty = source tree / install dir
  bool media_enabled = true;
  std::vector<std::string> ice_addresses;
  std::string nat_1to1_address;
  int ice_port_min = 0, ice_port_max = 0;
  std::string media_stun_server;
  int ingest_latency_ms = 60;
  std::string listener_transport = "lite";
  int ice_consent_timeout_ms = 30000;
  int encoder_linger_ms = 10000;

  std::string slide_worker;  // empty = build tree / install dir
  std::string web_dir;       // empty = source tree / install dir
  int64_t slides_max_upload_mb = 50;
  int slides_max_pages = 300;
  int slides_page_timeout_s = 30;
  int slides_deck_timeout_s = 600;
  int slides_memory_mb = 1024;
  int slides_cpu_seconds_per_page = 10;
  // Whom the slide workers run as when the server runs as root: a name or a uid, never root.
  std::string slides_worker_user = "nobody";

  // Client connections (README, "[limits]").
  int64_t max_connections = 10000;
  int64_t max_connections_per_ip = 1000;
  int64_t new_connections_per_ip_per_second = 100;
  int64_t new_connections_per_ip_burst = 500;
  int header_timeout_s = 20;
  int idle_timeout_s = 60;
  // Longer than TCP's longest retransmission backoff (120 s): a student whose 2G link was
  // saturated (a profile pinned too high) has its socket's TCP backed off for up to two
  // minutes, and is still there, its audio playing.
  int ws_idle_timeout_s = 150;
  int64_t ws_max_queued_bytes = 1024 * 1024;
  int64_t ws_max_read_bytes_per_second = 64 * 1024;

  std::map<std::string, std::map<std::string, std::string>> plugin_settings;

  bool uses_postgres() const { return database_url.rfind("postgres", 0) == 0; }
  // The SQLite file path (from sqlite:PATH or data_dir/gramothi.db).
  std::string sqlite_path() const;
};

// Loads `path` over the defaults. Errors are kInvalid with code "config_invalid".
Result<Config> load_config(const std::string &path);
// Checks cross-key rules (also after command-line overrides).
std::optional<Error> validate_config(const Config &config);

// The directory that holds plugin folders / pipeline files when the config leaves them empty.
std::string default_plugin_dir();
std::string default_pipelines_dir();
std::string default_slide_worker();
// The uid and gid of `[slides] worker_user` (a user name, or a number used for both); nullopt
// when no such user exists or it is root's. "nobody" missing from the user database is 65534.
std::optional<std::pair<uint32_t, uint32_t>> resolve_worker_user(const std::string &user);
std::string default_web_dir();

}  // namespace gramothi
