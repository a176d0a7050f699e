// The identity provider's keys, kept current without a restart: [auth] public_key_file and
// jwks_file are read again on SIGHUP and whenever either changes on disk, and the new set
// replaces the old one in the JwtCodec at once (tokens signed with a key that left the set stop
// working; tokens of a new key start working). A file that cannot be read or parsed leaves the
// keys in use as they were, with a warning: a half-written or mistaken file never locks users
// out. Files are read asynchronously; nothing blocks the main loop.
#pragma once

#include <gio/gio.h>

#include <string>
#include <vector>

#include "auth/jwt.hpp"
#include "base/error.hpp"

namespace gramothi {

// The key set from the files' contents. Errors (kInvalid, "config_invalid") name the key.
Result<PublicKeys> provider_keys(const std::string &pem, const std::string &pem_kid,
                                 const std::string &jwks);

class KeyReloader {
 public:
  static constexpr gsize kMaxFileBytes = 1024 * 1024;

  // Watches the files that are named (either may be empty).
  KeyReloader(JwtCodec &jwt, std::string pem_path, std::string pem_kid, std::string jwks_path);
  ~KeyReloader();
  KeyReloader(const KeyReloader &) = delete;
  KeyReloader &operator=(const KeyReloader &) = delete;

  bool watching() const { return !pem_path_.empty() || !jwks_path_.empty(); }
  // Reads both files again (asynchronously); `why` goes into the log line.
  void reload(const std::string &why);

 private:
  static void on_changed(GFileMonitor *, GFile *, GFile *, GFileMonitorEvent event, gpointer self);
  static gboolean on_settled(gpointer self);
  static void on_loaded(GObject *src, GAsyncResult *res, gpointer job);
  void read_next();
  void finish();

  JwtCodec &jwt_;
  std::string pem_path_, pem_kid_, jwks_path_;
  GCancellable *cancellable_ = g_cancellable_new();
  std::vector<GFileMonitor *> monitors_;
  guint settle_timer_ = 0;
  // The reload in progress: the files still to read and what was read.
  bool reading_ = false, again_ = false;
  std::string why_, again_why_;
  std::vector<std::string> pending_;  // paths still to read
  std::string pem_, jwks_, error_;
};

}  // namespace gramothi
