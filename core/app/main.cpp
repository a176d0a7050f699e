// gramothi — the GramOthi Live server.
//
//   gramothi serve   [--config FILE] [--port N] [--data-dir DIR]
//   gramothi token   --role teacher|student|admin --user ID [--ttl SECONDS] [--class ID ...]
//                    [--key PRIVATE_PEM [--kid KID]]
//                    [--config FILE | --data-dir DIR]
//   gramothi migrate [--config FILE] [--data-dir DIR]
//   gramothi version
#include <glib.h>
#include <gst/gst.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "app/server.hpp"
#include "base/ids.hpp"
#include "base/log.hpp"
#include "build_config.h"
#include "config/config.hpp"
#include "gramothi/plugin.h"
#include "storage/migrations.hpp"

using namespace gramothi;

namespace {

const char *kUsage =
    "Usage: gramothi COMMAND [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  serve     run the server (defaults: port 8080, data in ./data, SQLite)\n"
    "  token     print a signed access token for a user\n"
    "  migrate   bring the database schema up to date and exit\n"
    "  version   print the version\n"
    "\n"
    "Run 'gramothi COMMAND --help' for a command's options.\n";

int fail(const std::string &message) {
  log_message(LogLevel::kError, "core", message);
  return 1;
}

struct CommonOptions {
  char *config = nullptr;
  char *data_dir = nullptr;
  int port = -1;
  ~CommonOptions() {
    g_free(config);
    g_free(data_dir);
  }
};

// Defaults, or the config file, then command-line overrides.
Result<Config> resolve_config(const CommonOptions &o) {
  Config c;
  if (o.config) {
    auto loaded = load_config(o.config);
    if (!loaded) return loaded.error();
    c = std::move(*loaded);
  }
  if (o.data_dir) c.data_dir = o.data_dir;
  if (o.port >= 0) c.port = o.port;
  if (auto e = validate_config(c)) return *e;
  return c;
}

bool parse(GOptionContext *ctx, GOptionEntry *entries, int *argc, char ***argv) {
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_autoptr(GError) err = nullptr;
  if (!g_option_context_parse(ctx, argc, argv, &err)) {
    fprintf(stderr, "gramothi: %s\n", err->message);
    return false;
  }
  if (*argc > 1) {
    fprintf(stderr, "gramothi: unexpected argument '%s'\n", (*argv)[1]);
    return false;
  }
  return true;
}

// A token for `user` granted `classes`: to teach them for teachers, to attend them for students
// (admins need no grant).
TokenClaims token_claims(const std::string &user, Role role, int64_t ttl,
                         const std::vector<std::string> &classes) {
  TokenClaims c;
  c.user_id = user;
  c.role = role;
  if (role == Role::kTeacher)
    c.teaches = classes;
  else if (role == Role::kStudent)
    c.classes = classes;
  c.issued_at = g_get_real_time() / G_USEC_PER_SEC;
  c.expires_at = c.issued_at + ttl;
  return c;
}

std::string sign_token(const JwtCodec &jwt, const std::string &user, Role role, int64_t ttl,
                       const std::vector<std::string> &classes = {}) {
  return jwt.sign(token_claims(user, role, ttl, classes));
}

int cmd_serve(int argc, char **argv) {
  CommonOptions o;
  GOptionEntry entries[] = {
      {"config", 'c', 0, G_OPTION_ARG_FILENAME, &o.config, "Configuration file (GLib key file)",
       "FILE"},
      {"port", 'p', 0, G_OPTION_ARG_INT, &o.port, "Port to listen on (0 = any free port)", "N"},
      {"data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &o.data_dir, "Data directory", "DIR"},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  g_autoptr(GOptionContext) ctx = g_option_context_new("- run the GramOthi Live server");
  if (!parse(ctx, entries, &argc, &argv)) return 2;
  if (o.port > 65535) return fail("--port must be from 0 to 65535");

  auto config = resolve_config(o);
  if (!config) return fail(config.error().message);
  bool embedded = !config->from_file;
  auto server = Server::create(std::move(*config));
  if (!server) return fail(server.error().message);
  auto port = (*server)->listen();
  if (!port) return fail(port.error().message);

  const Config &c = (*server)->config();
  printf("GramOthi Live %s is listening on %s/\n", GRAMOTHI_VERSION, c.public_url.c_str());
  printf("  health: %s/health\n", c.public_url.c_str());
  if (embedded) {
    const JwtCodec &jwt = (*server)->jwt();
    std::string teacher = sign_token(jwt, "teacher-1", Role::kTeacher, 12 * 3600, {"demo"});
    std::string student = sign_token(jwt, "student-1", Role::kStudent, 12 * 3600, {"demo"});
    printf(
        "\nTokens for trying it out, granted class 'demo' (valid 12 hours; make more with "
        "'gramothi token'):\n");
    printf("  teacher (teacher-1): %s\n", teacher.c_str());
    printf("  student (student-1): %s\n", student.c_str());
    printf("\nOpen in a browser (localhost only: other machines need https for the microphone):\n");
    printf("  teacher: %s/teach/demo#token=%s\n", c.public_url.c_str(), teacher.c_str());
    printf("  student: %s/class/demo#token=%s\n", c.public_url.c_str(), student.c_str());
    printf(
        "\nStart a class:\n  curl -X POST -H 'Authorization: Bearer %s' \\\n"
        "       -d '{\"class_id\":\"demo\"}' %s/api/v1/streaming/start\n",
        teacher.c_str(), c.public_url.c_str());
    printf("Its status:\n  curl -H 'Authorization: Bearer %s' %s/api/v1/streaming/status/demo\n",
           student.c_str(), c.public_url.c_str());
  }
  fflush(stdout);
  (*server)->run();
  log_message(LogLevel::kInfo, "core", "stopped");
  return 0;
}

int cmd_token(int argc, char **argv) {
  CommonOptions o;
  g_autofree char *role = nullptr;
  g_autofree char *user = nullptr;
  gint64 ttl = 3600;
  g_auto(GStrv) classes = nullptr;
  g_autofree char *key_file = nullptr;
  g_autofree char *kid = nullptr;
  GOptionEntry entries[] = {
      {"role", 'r', 0, G_OPTION_ARG_STRING, &role, "student, teacher or admin", "ROLE"},
      {"user", 'u', 0, G_OPTION_ARG_STRING, &user, "User id (the token's subject)", "ID"},
      {"ttl", 't', 0, G_OPTION_ARG_INT64, &ttl, "Lifetime in seconds (default 3600)", "SECONDS"},
      {"class", 'k', 0, G_OPTION_ARG_STRING_ARRAY, &classes,
       "A class the token grants (repeatable): taught by a teacher, attended by a student", "ID"},
      {"key", 0, 0, G_OPTION_ARG_FILENAME, &key_file,
       "Sign with this private key (PEM: RSA -> RS256, EC P-256 -> ES256) as an identity "
       "provider would, claims named as [auth] says; default: HS256 with the server's secret",
       "FILE"},
      {"kid", 0, 0, G_OPTION_ARG_STRING, &kid, "The key's id, put in the token's header", "KID"},
      {"config", 'c', 0, G_OPTION_ARG_FILENAME, &o.config, "Configuration file", "FILE"},
      {"data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &o.data_dir, "Data directory", "DIR"},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  g_autoptr(GOptionContext) ctx = g_option_context_new("- print a signed access token");
  if (!parse(ctx, entries, &argc, &argv)) return 2;
  auto parsed_role = role ? parse_role(role) : std::nullopt;
  if (!parsed_role) return fail("--role must be teacher, student or admin");
  if (!user || !valid_user_id(user))
    return fail("--user must be 1 to 128 characters of letters, digits and . _ : @ -");
  std::vector<std::string> granted;
  for (char **k = classes; k && *k; k++) {
    if (!valid_class_id(*k))
      return fail(std::string("--class '") + *k + "' is not a class id (1 to 64 characters of " +
                  "letters, digits and . _ : -)");
    granted.emplace_back(*k);
  }
  if (granted.size() > TokenClaims::kMaxClasses) return fail("at most 256 --class grants");

  auto config = resolve_config(o);
  if (!config) return fail(config.error().message);
  if (ttl < 60 || ttl > config->max_token_lifetime_s)
    return fail("--ttl must be from 60 to " + std::to_string(config->max_token_lifetime_s) +
                " seconds (the server's max_token_lifetime_s)");
  if (kid && !key_file) return fail("--kid needs --key");
  if (key_file) {
    g_autofree char *pem = nullptr;
    g_autoptr(GError) err = nullptr;
    if (!g_file_get_contents(key_file, &pem, nullptr, &err))
      return fail(std::string("--key: ") + err->message);
    JwtCodec jwt("", config->jwt_issuer, config->jwt_audience, config->jwt_leeway_s,
                 config->max_token_lifetime_s);
    jwt.set_claim_names(ClaimNames{config->jwt_user_claim, config->jwt_role_claim,
                                   config->jwt_classes_claim, config->jwt_teaches_claim,
                                   config->jwt_role_values});
    auto token =
        jwt.sign_with_key(token_claims(user, *parsed_role, ttl, granted), pem, kid ? kid : "");
    if (!token) return fail("--key " + std::string(key_file) + ": " + token.error().message);
    printf("%s\n", token->c_str());
    return 0;
  }
  auto secret = jwt_secret_for(*config);
  if (!secret) return fail(secret.error().message);
  JwtCodec jwt(*secret, config->jwt_issuer, config->jwt_audience, config->jwt_leeway_s,
               config->max_token_lifetime_s);
  printf("%s\n", sign_token(jwt, user, *parsed_role, ttl, granted).c_str());
  return 0;
}

int cmd_migrate(int argc, char **argv) {
  CommonOptions o;
  GOptionEntry entries[] = {
      {"config", 'c', 0, G_OPTION_ARG_FILENAME, &o.config, "Configuration file", "FILE"},
      {"data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &o.data_dir, "Data directory", "DIR"},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  g_autoptr(GOptionContext) ctx = g_option_context_new("- apply database migrations");
  if (!parse(ctx, entries, &argc, &argv)) return 2;
  auto config = resolve_config(o);
  if (!config) return fail(config.error().message);
  try {
    auto db = open_configured_database(*config);
    int before = current_schema_version(*db);
    int after = migrate(*db);
    printf("%s schema version %d -> %d (latest %d)\n", std::string(db->backend()).c_str(), before,
           after, latest_schema_version());
  } catch (const StorageError &e) {
    return fail(std::string("storage: ") + e.what());
  }
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  if (!log_init()) return 2;
  gst_init(nullptr, nullptr);
  if (argc < 2) {
    fputs(kUsage, stderr);
    return 2;
  }
  std::string cmd = argv[1];
  // Hand the subcommand its own argv: "gramothi serve --port 1" -> "gramothi serve" "--port" "1"
  argv[1] = argv[0];
  if (cmd == "serve") return cmd_serve(argc - 1, argv + 1);
  if (cmd == "token") return cmd_token(argc - 1, argv + 1);
  if (cmd == "migrate") return cmd_migrate(argc - 1, argv + 1);
  if (cmd == "version" || cmd == "--version") {
    printf("gramothi %s (plugin ABI %d.%d)\n", GRAMOTHI_VERSION, GRAMOTHI_PLUGIN_ABI_MAJOR,
           GRAMOTHI_PLUGIN_ABI_MINOR);
    return 0;
  }
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    fputs(kUsage, stdout);
    return 0;
  }
  fprintf(stderr, "gramothi: unknown command '%s'\n\n%s", cmd.c_str(), kUsage);
  return 2;
}
