#include "config/config.hpp"

#include <functional>

#include <gio/gio.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <sys/stat.h>

#include <set>

#include <pwd.h>
#include <stdlib.h>

#include "build_config.h"

namespace gramothi {
namespace {

const std::map<std::string, std::set<std::string>> kKnownKeys = {
    {"server", {"listen_address", "port", "public_url"}},
    {"storage", {"data_dir", "database_url"}},
    {"auth",
     {"jwt_secret", "jwt_secret_file", "issuer", "audience", "leeway_seconds",
      "max_token_lifetime_s", "open_attendance", "public_key_file", "public_key_id", "jwks_file",
      "user_claim", "role_claim", "classes_claim", "teaches_claim", "role_values"}},
    {"ice",
     {"stun_urls", "turn_urls", "turn_shared_secret", "turn_shared_secret_file",
      "turn_credential_ttl"}},
    {"plugins", {"load", "optional", "dir"}},
    {"web", {"dir"}},
    {"slides",
     {"worker", "max_upload_mb", "max_pages", "page_timeout_s", "deck_timeout_s", "memory_mb",
      "cpu_seconds_per_page", "worker_user"}},
    {"media",
     {"pipelines_dir", "enabled", "ice_addresses", "nat_1to1_address", "ice_port_min",
      "ice_port_max", "stun_server", "ingest_latency_ms", "listener_transport",
      "ice_consent_timeout_ms", "encoder_linger_ms"}},
    {"limits",
     {"max_connections", "max_connections_per_ip", "new_connections_per_ip_per_second",
      "new_connections_per_ip_burst", "header_timeout_s", "idle_timeout_s", "ws_idle_timeout_s",
      "ws_max_queued_bytes", "ws_max_read_bytes_per_second"}},
};

// Reads one file's keys with errors that name the file, the group and the key.
class KeyReader {
 public:
  KeyReader(GKeyFile *kf, std::string file) : kf_(kf), file_(std::move(file)) {}

  bool has(const char *group, const char *key) const {
    return g_key_file_has_key(kf_, group, key, nullptr);
  }

  std::string str(const char *group, const char *key) const {
    g_autofree char *v = g_key_file_get_string(kf_, group, key, nullptr);
    return v ? g_strstrip(v) : "";
  }

  // Integer in [lo, hi]; sets error_ on failure.
  std::optional<int64_t> integer(const char *group, const char *key, int64_t lo, int64_t hi) {
    std::string s = str(group, key);
    gint64 v = 0;
    g_autoptr(GError) err = nullptr;
    if (!g_ascii_string_to_signed(s.c_str(), 10, lo, hi, &v, &err)) {
      fail(group, key,
           "'" + s + "' is not a whole number from " + std::to_string(lo) + " to " +
               std::to_string(hi));
      return std::nullopt;
    }
    return v;
  }

  // "true" or "false"; sets error_ otherwise.
  std::optional<bool> boolean(const char *group, const char *key) {
    std::string s = str(group, key);
    if (s == "true") return true;
    if (s == "false") return false;
    fail(group, key, "'" + s + "' must be true or false");
    return std::nullopt;
  }

  std::vector<std::string> list(const char *group, const char *key) const {
    std::vector<std::string> out;
    gsize n = 0;
    g_auto(GStrv) items = g_key_file_get_string_list(kf_, group, key, &n, nullptr);
    for (gsize i = 0; i < n; i++) {
      std::string item = g_strstrip(items[i]);
      if (!item.empty()) out.push_back(item);
    }
    return out;
  }

  // Contents of the file named by the key (trailing whitespace trimmed).
  std::optional<std::string> file_contents(const char *group, const char *key) {
    std::string path = str(group, key);
    // Only a regular file of reasonable size: a FIFO would hang the start, /dev/zero fill memory.
    GStatBuf st;
    if (g_stat(path.c_str(), &st) == 0 && (!S_ISREG(st.st_mode) || st.st_size > 1024 * 1024)) {
      fail(group, key, "'" + path + "' is not a regular file of at most 1 MiB");
      return std::nullopt;
    }
    g_autofree char *data = nullptr;
    gsize len = 0;
    g_autoptr(GError) err = nullptr;
    if (!g_file_get_contents(path.c_str(), &data, &len, &err)) {
      fail(group, key, std::string("cannot read '") + path + "': " + err->message);
      return std::nullopt;
    }
    return std::string(g_strchomp(data));
  }

  void fail(const std::string &group, const std::string &key, const std::string &what) {
    if (!error_) error_ = file_ + ": [" + group + "] " + key + ": " + what;
  }
  const std::optional<std::string> &error() const { return error_; }

 private:
  GKeyFile *kf_;
  std::string file_;
  std::optional<std::string> error_;
};

Error config_error(const std::string &message) {
  return Error{ErrorKind::kInvalid, "config_invalid", message};
}

bool valid_plugin_name(const std::string &name) {
  if (name.empty() || name.size() > 32) return false;
  for (char c : name)
    if (!g_ascii_isalnum(c) && c != '-' && c != '_') return false;
  return true;
}

}  // namespace

std::string Config::sqlite_path() const {
  if (database_url.rfind("sqlite:", 0) == 0) {
    std::string p = database_url.substr(7);
    if (p.rfind("//", 0) == 0) p = p.substr(2);
    return p;
  }
  return data_dir + "/gramothi.db";
}

namespace {

// A binary in the build tree (the server, a test, a benchmark) uses the build tree's plugins and
// worker and the source tree's pages and pipelines; an installed one uses only installed files,
// even when the tree it was built from is still on the machine.
bool running_from_build_tree() {
  static const bool in_tree = [] {
    g_autofree char *exe = g_file_read_link("/proc/self/exe", nullptr);
    g_autofree char *root = realpath(GRAMOTHI_BUILD_ROOT, nullptr);  // as the kernel names it
    return exe && root && g_str_has_prefix(exe, (std::string(root) + "/").c_str());
  }();
  return in_tree;
}

}  // namespace

std::string default_plugin_dir() {
  const char *env = g_getenv("GRAMOTHI_PLUGIN_DIR");
  if (env && *env) return env;
  return running_from_build_tree() ? GRAMOTHI_BUILD_PLUGIN_DIR : GRAMOTHI_INSTALLED_PLUGIN_DIR;
}

std::string default_slide_worker() {
  const char *env = g_getenv("GRAMOTHI_SLIDE_WORKER");
  if (env && *env) return env;
  return running_from_build_tree() ? GRAMOTHI_BUILD_SLIDE_WORKER : GRAMOTHI_INSTALLED_SLIDE_WORKER;
}

std::optional<std::pair<uint32_t, uint32_t>> resolve_worker_user(const std::string &user) {
  std::optional<std::pair<uint32_t, uint32_t>> ids;
  guint64 number = 0;
  if (!user.empty() &&
      g_ascii_string_to_unsigned(user.c_str(), 10, 0, UINT32_MAX - 1, &number, nullptr)) {
    ids.emplace(static_cast<uint32_t>(number), static_cast<uint32_t>(number));
  } else if (struct passwd *pw = user.empty() ? nullptr : getpwnam(user.c_str())) {
    ids.emplace(pw->pw_uid, pw->pw_gid);
  } else if (user == "nobody") {
    ids.emplace(65534u, 65534u);
  }
  if (ids && (ids->first == 0 || ids->second == 0)) ids.reset();
  return ids;
}

std::string default_web_dir() {
  return running_from_build_tree() ? GRAMOTHI_SOURCE_WEB_DIR : GRAMOTHI_INSTALLED_WEB_DIR;
}

std::string default_pipelines_dir() {
  return running_from_build_tree() ? GRAMOTHI_SOURCE_PIPELINES_DIR
                                   : GRAMOTHI_INSTALLED_PIPELINES_DIR;
}

Result<Config> load_config(const std::string &path) {
  Config c;
  c.source = path;
  c.from_file = true;

  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(GError) err = nullptr;
  if (!g_key_file_load_from_file(kf, path.c_str(), G_KEY_FILE_NONE, &err)) {
    return config_error(path + ": " + err->message);
  }
  KeyReader r(kf, path);

  gsize n_groups = 0;
  g_auto(GStrv) groups = g_key_file_get_groups(kf, &n_groups);
  for (gsize i = 0; i < n_groups; i++) {
    std::string group = groups[i];
    gsize n_keys = 0;
    g_auto(GStrv) keys = g_key_file_get_keys(kf, groups[i], &n_keys, nullptr);
    if (group.rfind("plugin.", 0) == 0) {
      std::string name = group.substr(7);
      if (!valid_plugin_name(name))
        return config_error(path + ": [" + group + "]: '" + name + "' is not a plugin name");
      for (gsize k = 0; k < n_keys; k++)
        c.plugin_settings[name][keys[k]] = r.str(groups[i], keys[k]);
      continue;
    }
    auto known = kKnownKeys.find(group);
    if (known == kKnownKeys.end()) {
      return config_error(path + ": [" + group +
                          "]: unknown group (known: server, storage, auth, ice, plugins, "
                          "media, web, slides, limits, plugin.NAME)");
    }
    for (gsize k = 0; k < n_keys; k++) {
      if (!known->second.count(keys[k])) {
        r.fail(group, keys[k], "unknown key");
        return config_error(*r.error());
      }
    }
  }

  if (r.has("server", "listen_address")) {
    c.listen_address = r.str("server", "listen_address");
    g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(c.listen_address.c_str());
    if (!addr)
      r.fail("server", "listen_address", "'" + c.listen_address + "' is not an IP address");
  }
  if (r.has("server", "port")) {
    if (auto v = r.integer("server", "port", 0, 65535)) c.port = static_cast<int>(*v);
  }
  if (r.has("server", "public_url")) c.public_url = r.str("server", "public_url");

  if (r.has("storage", "data_dir")) c.data_dir = r.str("storage", "data_dir");
  if (r.has("storage", "database_url")) c.database_url = r.str("storage", "database_url");

  if (r.has("auth", "jwt_secret") && r.has("auth", "jwt_secret_file"))
    r.fail("auth", "jwt_secret_file", "set either jwt_secret or jwt_secret_file, not both");
  if (r.has("auth", "jwt_secret")) c.jwt_secret = r.str("auth", "jwt_secret");
  if (r.has("auth", "jwt_secret_file")) {
    if (auto s = r.file_contents("auth", "jwt_secret_file")) c.jwt_secret = *s;
  }
  if (!c.jwt_secret.empty() && c.jwt_secret.size() < 32) {
    r.fail("auth", r.has("auth", "jwt_secret") ? "jwt_secret" : "jwt_secret_file",
           "the secret must be at least 32 characters long");
  }
  if (r.has("auth", "issuer")) c.jwt_issuer = r.str("auth", "issuer");
  if (r.has("auth", "audience")) c.jwt_audience = r.str("auth", "audience");
  if (r.has("auth", "leeway_seconds")) {
    if (auto v = r.integer("auth", "leeway_seconds", 0, 300)) c.jwt_leeway_s = *v;
  }
  if (r.has("auth", "max_token_lifetime_s")) {
    if (auto v = r.integer("auth", "max_token_lifetime_s", 60, 30 * 24 * 3600))
      c.max_token_lifetime_s = *v;
  }
  if (r.has("auth", "public_key_file")) {
    c.jwt_public_key_path = r.str("auth", "public_key_file");
    if (auto pem = r.file_contents("auth", "public_key_file")) c.jwt_public_key_pem = *pem + "\n";
  }
  if (r.has("auth", "public_key_id")) c.jwt_public_key_id = r.str("auth", "public_key_id");
  if (r.has("auth", "jwks_file")) {
    c.jwt_jwks_path = r.str("auth", "jwks_file");
    if (auto jwks = r.file_contents("auth", "jwks_file")) {
      c.jwt_jwks = *jwks;
      if (jwks->empty()) r.fail("auth", "jwks_file", "the file is empty");
    }
  }
  for (auto [key, field] : {std::pair{"user_claim", &c.jwt_user_claim},
                            {"role_claim", &c.jwt_role_claim},
                            {"classes_claim", &c.jwt_classes_claim},
                            {"teaches_claim", &c.jwt_teaches_claim}}) {
    if (!r.has("auth", key)) continue;
    std::string name = r.str("auth", key);
    bool ok = !name.empty() && name.size() <= 128 && name.front() != '.' && name.back() != '.' &&
              name.find("..") == std::string::npos && g_utf8_validate(name.c_str(), -1, nullptr);
    if (!ok)
      r.fail(
          "auth", key,
          "'" + name + "' is not a claim name (1 to 128 characters; dots separate nested names)");
    else
      *field = name;
  }
  if (r.has("auth", "role_values")) {
    g_auto(GStrv) pairs = g_strsplit(r.str("auth", "role_values").c_str(), ",", -1);
    for (guint i = 0; pairs[i]; i++) {
      std::string pair = g_strstrip(pairs[i]);
      if (pair.empty()) continue;
      size_t eq = pair.find('=');
      auto role =
          eq == std::string::npos ? std::nullopt : parse_role(g_strstrip(pair.data() + eq + 1));
      std::string theirs = eq == std::string::npos ? "" : pair.substr(0, eq);
      while (!theirs.empty() && theirs.back() == ' ')
        theirs.pop_back();
      if (!role || theirs.empty()) {
        r.fail("auth", "role_values",
               "'" + pair + "' must be PROVIDER_ROLE=student, teacher or admin");
        break;
      }
      c.jwt_role_values.emplace_back(theirs, *role);
    }
  }
  if (r.has("auth", "open_attendance")) {
    if (auto v = r.boolean("auth", "open_attendance")) c.open_attendance = *v;
  }

  c.stun_urls = r.list("ice", "stun_urls");
  c.turn_urls = r.list("ice", "turn_urls");
  if (r.has("ice", "turn_shared_secret") && r.has("ice", "turn_shared_secret_file"))
    r.fail("ice", "turn_shared_secret_file",
           "set either turn_shared_secret or turn_shared_secret_file, not both");
  if (r.has("ice", "turn_shared_secret")) c.turn_shared_secret = r.str("ice", "turn_shared_secret");
  if (r.has("ice", "turn_shared_secret_file")) {
    if (auto s = r.file_contents("ice", "turn_shared_secret_file")) c.turn_shared_secret = *s;
  }
  if (r.has("ice", "turn_credential_ttl")) {
    if (auto v = r.integer("ice", "turn_credential_ttl", 60, 7 * 86400))
      c.turn_credential_ttl_s = *v;
  }
  for (const auto &u : c.stun_urls)
    if (u.rfind("stun:", 0) != 0 && u.rfind("stuns:", 0) != 0)
      r.fail("ice", "stun_urls", "'" + u + "' does not start with stun: or stuns:");
  for (const auto &u : c.turn_urls)
    if (u.rfind("turn:", 0) != 0 && u.rfind("turns:", 0) != 0)
      r.fail("ice", "turn_urls", "'" + u + "' does not start with turn: or turns:");

  if (r.has("plugins", "load")) {
    c.plugins.clear();
    std::set<std::string> optional;
    for (const auto &name : r.list("plugins", "optional"))
      optional.insert(name);
    for (const auto &name : r.list("plugins", "load")) {
      if (!valid_plugin_name(name))
        r.fail("plugins", "load", "'" + name + "' is not a plugin name");
      for (const auto &p : c.plugins)
        if (p.name == name) r.fail("plugins", "load", "'" + name + "' is listed twice");
      c.plugins.push_back({name, optional.count(name) > 0});
    }
    for (const auto &name : optional) {
      bool listed = false;
      for (const auto &p : c.plugins)
        listed |= p.name == name;
      if (!listed) r.fail("plugins", "optional", "'" + name + "' is not in [plugins] load");
    }
  } else if (r.has("plugins", "optional")) {
    r.fail("plugins", "optional", "needs [plugins] load to list the plugins");
  }
  if (r.has("plugins", "dir")) c.plugin_dir = r.str("plugins", "dir");
  if (r.has("media", "pipelines_dir")) c.pipelines_dir = r.str("media", "pipelines_dir");
  if (r.has("media", "enabled")) {
    if (auto v = r.boolean("media", "enabled")) c.media_enabled = *v;
  }

  for (const auto &a : r.list("media", "ice_addresses")) {
    g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(a.c_str());
    if (!addr) r.fail("media", "ice_addresses", "'" + a + "' is not an IP address");
    c.ice_addresses.push_back(a);
  }
  if (r.has("media", "nat_1to1_address")) {
    c.nat_1to1_address = r.str("media", "nat_1to1_address");
    g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(c.nat_1to1_address.c_str());
    if (!addr)
      r.fail("media", "nat_1to1_address", "'" + c.nat_1to1_address + "' is not an IP address");
  }
  if (r.has("media", "ice_port_min")) {
    if (auto v = r.integer("media", "ice_port_min", 1024, 65535))
      c.ice_port_min = static_cast<int>(*v);
  }
  if (r.has("media", "ice_port_max")) {
    if (auto v = r.integer("media", "ice_port_max", 1024, 65535))
      c.ice_port_max = static_cast<int>(*v);
  }
  if ((c.ice_port_min == 0) != (c.ice_port_max == 0) || c.ice_port_min > c.ice_port_max)
    r.fail("media", "ice_port_max", "set both ice_port_min and ice_port_max, min <= max");
  if (r.has("media", "stun_server")) {
    c.media_stun_server = r.str("media", "stun_server");
    if (c.media_stun_server.rfind("stun://", 0) != 0)
      r.fail("media", "stun_server",
             "'" + c.media_stun_server + "' must look like stun://host:port");
  }
  if (r.has("media", "listener_transport")) {
    c.listener_transport = r.str("media", "listener_transport");
    if (c.listener_transport != "lite" && c.listener_transport != "webrtcbin")
      r.fail("media", "listener_transport",
             "'" + c.listener_transport + "' must be lite or webrtcbin");
  }
  if (r.has("slides", "worker")) c.slide_worker = r.str("slides", "worker");
  if (r.has("slides", "worker_user")) {
    c.slides_worker_user = r.str("slides", "worker_user");
    if (!resolve_worker_user(c.slides_worker_user))
      r.fail("slides", "worker_user",
             "'" + c.slides_worker_user + "' is neither a user nor a uid other than root's");
  }
  if (r.has("web", "dir")) c.web_dir = r.str("web", "dir");
  struct {
    const char *key;
    int64_t lo, hi;
    std::function<void(int64_t)> set;
  } slide_ints[] = {
      {"max_upload_mb", 1, 1024, [&](int64_t v) { c.slides_max_upload_mb = v; }},
      {"max_pages", 1, 5000, [&](int64_t v) { c.slides_max_pages = static_cast<int>(v); }},
      {"page_timeout_s", 1, 3600,
       [&](int64_t v) { c.slides_page_timeout_s = static_cast<int>(v); }},
      {"deck_timeout_s", 1, 86400,
       [&](int64_t v) { c.slides_deck_timeout_s = static_cast<int>(v); }},
      {"memory_mb", 64, 65536, [&](int64_t v) { c.slides_memory_mb = static_cast<int>(v); }},
      {"cpu_seconds_per_page", 1, 3600,
       [&](int64_t v) { c.slides_cpu_seconds_per_page = static_cast<int>(v); }},
  };
  for (auto &k : slide_ints)
    if (r.has("slides", k.key))
      if (auto v = r.integer("slides", k.key, k.lo, k.hi)) k.set(*v);
  struct {
    const char *key;
    int64_t lo, hi;
    std::function<void(int64_t)> set;
  } limit_ints[] = {
      {"max_connections", 1, 1000000, [&](int64_t v) { c.max_connections = v; }},
      {"max_connections_per_ip", 1, 1000000, [&](int64_t v) { c.max_connections_per_ip = v; }},
      {"new_connections_per_ip_per_second", 1, 1000000,
       [&](int64_t v) { c.new_connections_per_ip_per_second = v; }},
      {"new_connections_per_ip_burst", 1, 1000000,
       [&](int64_t v) { c.new_connections_per_ip_burst = v; }},
      {"header_timeout_s", 1, 3600, [&](int64_t v) { c.header_timeout_s = static_cast<int>(v); }},
      {"idle_timeout_s", 1, 86400, [&](int64_t v) { c.idle_timeout_s = static_cast<int>(v); }},
      {"ws_idle_timeout_s", 1, 86400,
       [&](int64_t v) { c.ws_idle_timeout_s = static_cast<int>(v); }},
      {"ws_max_queued_bytes", 16 * 1024, int64_t{1} << 30,
       [&](int64_t v) { c.ws_max_queued_bytes = v; }},
      {"ws_max_read_bytes_per_second", 1024, int64_t{1} << 30,
       [&](int64_t v) { c.ws_max_read_bytes_per_second = v; }},
  };
  for (auto &k : limit_ints)
    if (r.has("limits", k.key))
      if (auto v = r.integer("limits", k.key, k.lo, k.hi)) k.set(*v);
  if (r.has("media", "ice_consent_timeout_ms")) {
    if (auto v = r.integer("media", "ice_consent_timeout_ms", 1000, 300000))
      c.ice_consent_timeout_ms = static_cast<int>(*v);
  }
  if (r.has("media", "encoder_linger_ms")) {
    if (auto v = r.integer("media", "encoder_linger_ms", 0, 3600000))
      c.encoder_linger_ms = static_cast<int>(*v);
  }
  if (r.has("media", "ingest_latency_ms")) {
    if (auto v = r.integer("media", "ingest_latency_ms", 10, 2000))
      c.ingest_latency_ms = static_cast<int>(*v);
  }

  if (r.error()) return config_error(*r.error());
  if (auto e = validate_config(c)) return *e;
  return c;
}

std::optional<Error> validate_config(const Config &c) {
  const std::string &f = c.source;
  if (c.data_dir.empty()) return config_error(f + ": [storage] data_dir: must not be empty");
  if (!c.database_url.empty() && !c.uses_postgres() && c.database_url.rfind("sqlite:", 0) != 0) {
    return config_error(f + ": [storage] database_url: '" + c.database_url +
                        "' must start with postgresql://, postgres:// or sqlite:");
  }
  if (!c.turn_urls.empty() && c.turn_shared_secret.empty()) {
    return config_error(f +
                        ": [ice] turn_urls: TURN needs turn_shared_secret (or "
                        "turn_shared_secret_file) for time-limited credentials; static TURN "
                        "passwords are not supported");
  }
  if (!c.turn_shared_secret.empty() && c.turn_shared_secret.size() < 16) {
    return config_error(f + ": [ice] turn_shared_secret: must be at least 16 characters long");
  }
  return std::nullopt;
}

}  // namespace gramothi
