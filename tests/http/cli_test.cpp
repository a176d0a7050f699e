// The gramothi command line: token, migrate, and how serve refuses bad configuration.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "auth/jwt.hpp"
#include "base/secrets.hpp"
#include "common/test_keys.hpp"
#include "server_process.hpp"

using namespace gramothi;

namespace {

struct CliRun {
  int status = -1;
  std::string out, err;
};

CliRun run(std::vector<std::string> args, const char *log_level = nullptr) {
  std::vector<const char *> argv = {g_getenv("GRAMOTHI_BIN")};
  for (auto &a : args)
    argv.push_back(a.c_str());
  argv.push_back(nullptr);
  g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(static_cast<GSubprocessFlags>(
      G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE));
  if (log_level) g_subprocess_launcher_setenv(l, "LOG_LEVEL", log_level, TRUE);
  g_autoptr(GError) err = nullptr;
  g_autoptr(GSubprocess) p = g_subprocess_launcher_spawnv(l, argv.data(), &err);
  CliRun r;
  if (!p) return r;
  g_autofree char *out = nullptr;
  g_autofree char *errs = nullptr;
  g_subprocess_communicate_utf8(p, nullptr, nullptr, &out, &errs, nullptr);
  r.status = g_subprocess_get_if_exited(p) ? g_subprocess_get_exit_status(p) : -1;
  r.out = out ? out : "";
  r.err = errs ? errs : "";
  return r;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char *p = g_dir_make_tmp("gramothi-cli-XXXXXX", nullptr);
    dir_ = p;
    g_free(p);
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  std::string write(const std::string &name, const std::string &text) {
    std::string path = dir_ + "/" + name;
    g_file_set_contents(path.c_str(), text.c_str(), -1, nullptr);
    return path;
  }
  std::string dir_;
};

}  // namespace

TEST_F(CliTest, TokenFromDataDirIsSignedWithTheGeneratedSecretKeptPrivate) {
  std::string data = dir_ + "/data";
  CliRun r = run(
      {"token", "--role", "teacher", "--user", "teacher-9", "--ttl", "120", "--data-dir", data});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string token = g_strstrip(r.out.data());
  struct stat st {};
  ASSERT_EQ(stat((data + "/jwt-secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  g_autofree char *secret = nullptr;
  ASSERT_TRUE(g_file_get_contents((data + "/jwt-secret").c_str(), &secret, nullptr, nullptr));
  auto claims = JwtCodec(g_strstrip(secret)).verify(token, g_get_real_time() / G_USEC_PER_SEC);
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  EXPECT_EQ(claims->user_id, "teacher-9");
  EXPECT_EQ(claims->role, Role::kTeacher);
  EXPECT_NEAR(static_cast<double>(claims->expires_at - claims->issued_at), 120.0, 1.0);

  // The same data dir keeps the same secret.
  CliRun again = run({"token", "--role", "student", "--user", "s", "--data-dir", data});
  ASSERT_EQ(again.status, 0);
  EXPECT_TRUE(JwtCodec(g_strstrip(secret))
                  .verify(g_strstrip(again.out.data()), g_get_real_time() / G_USEC_PER_SEC)
                  .ok());
}

TEST_F(CliTest, TokenWithAConfigUsesItsSecret) {
  std::string config = write("c.ini", "[auth]\njwt_secret=config-secret-0123456789-0123456789\n");
  CliRun r = run({"token", "--role", "admin", "--user", "root-ops", "--config", config});
  ASSERT_EQ(r.status, 0) << r.err;
  auto claims = JwtCodec("config-secret-0123456789-0123456789")
                    .verify(g_strstrip(r.out.data()), g_get_real_time() / G_USEC_PER_SEC);
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(claims->role, Role::kAdmin);
}

TEST_F(CliTest, TokenGrantsClassesByRoleWithinTheMaximumLifetime) {
  std::string config = write("g.ini",
                             "[auth]\njwt_secret=config-secret-0123456789-0123456789\n"
                             "max_token_lifetime_s=7200\n");
  JwtCodec jwt("config-secret-0123456789-0123456789");
  int64_t now = g_get_real_time() / G_USEC_PER_SEC;
  CliRun t = run({"token", "--role", "teacher", "--user", "t1", "--class", "physics-7a", "--class",
                  "maths-7a", "--config", config});
  ASSERT_EQ(t.status, 0) << t.err;
  auto teacher = jwt.verify(g_strstrip(t.out.data()), now);
  ASSERT_TRUE(teacher.ok());
  EXPECT_EQ(teacher->teaches, (std::vector<std::string>{"physics-7a", "maths-7a"}));
  EXPECT_TRUE(teacher->classes.empty());
  CliRun s = run(
      {"token", "--role", "student", "--user", "s1", "--class", "physics-7a", "--config", config});
  ASSERT_EQ(s.status, 0) << s.err;
  auto student = jwt.verify(g_strstrip(s.out.data()), now);
  ASSERT_TRUE(student.ok());
  EXPECT_EQ(student->classes, std::vector<std::string>{"physics-7a"});
  EXPECT_TRUE(student->teaches.empty());
  EXPECT_NE(run({"token", "--role", "student", "--user", "s1", "--class", "no spaces", "--config",
                 config})
                .status,
            0);
  CliRun long_lived =
      run({"token", "--role", "student", "--user", "s1", "--ttl", "7201", "--config", config});
  EXPECT_NE(long_lived.status, 0);
  EXPECT_NE(long_lived.err.find("max_token_lifetime_s"), std::string::npos) << long_lived.err;
}

// Issue 18: `gramothi token --key` signs as the identity provider would (RS256 / ES256, the
// claims named as [auth] says), so tests and schools with their own key pair can make tokens.
TEST_F(CliTest, TokenSignsWithAPrivateKeyAsTheProviderWould) {
  TestKey key = make_test_key("EC");
  std::string private_file = write("idp-private.pem", key.private_pem);
  std::string public_file = write("idp-public.pem", key.public_pem);
  std::string config = write("k.ini",
                             "[auth]\njwt_secret=config-secret-0123456789-0123456789\n"
                             "role_claim=realm_access.roles\npublic_key_file=" +
                                 public_file + "\npublic_key_id=idp-1\n");
  CliRun r = run({"token", "--role", "teacher", "--user", "t1", "--class", "m-1", "--key",
                  private_file, "--kid", "idp-1", "--config", config});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string token = g_strstrip(r.out.data());
  std::string header = *base64url_decode(token.substr(0, token.find('.')));
  EXPECT_NE(header.find("\"alg\":\"ES256\""), std::string::npos) << header;
  EXPECT_NE(header.find("\"kid\":\"idp-1\""), std::string::npos) << header;
  JwtCodec jwt("config-secret-0123456789-0123456789");
  ASSERT_FALSE(jwt.add_public_key(key.public_pem, "idp-1").has_value());
  jwt.set_claim_names(ClaimNames{"sub", "realm_access.roles", "classes", "teaches", {}});
  auto claims = jwt.verify(token, g_get_real_time() / G_USEC_PER_SEC);
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  EXPECT_EQ(claims->role, Role::kTeacher);
  EXPECT_EQ(claims->teaches, std::vector<std::string>{"m-1"});

  CliRun with_public =
      run({"token", "--role", "teacher", "--user", "t1", "--key", public_file, "--config", config});
  EXPECT_NE(with_public.status, 0);
  EXPECT_NE(with_public.err.find("private key"), std::string::npos) << with_public.err;
  EXPECT_NE(
      run({"token", "--role", "teacher", "--user", "t1", "--kid", "x", "--config", config}).status,
      0);
}

TEST_F(CliTest, TokenRefusesBadArguments) {
  EXPECT_NE(run({"token", "--role", "janitor", "--user", "x", "--data-dir", dir_}).status, 0);
  EXPECT_NE(run({"token", "--role", "student", "--data-dir", dir_}).status, 0);
  EXPECT_NE(run({"token", "--role", "student", "--user", "a b", "--data-dir", dir_}).status, 0);
  EXPECT_NE(
      run({"token", "--role", "student", "--user", "a", "--ttl", "0", "--data-dir", dir_}).status,
      0);
}

TEST_F(CliTest, MigrateBringsAnEmptyDatabaseToTheLatestSchema) {
  CliRun r = run({"migrate", "--data-dir", dir_ + "/m"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(g_str_has_prefix(r.out.c_str(), "sqlite schema version 0 -> ")) << r.out;
  CliRun again = run({"migrate", "--data-dir", dir_ + "/m"});
  ASSERT_EQ(again.status, 0) << again.err;
  std::string latest = r.out.substr(r.out.find("-> ") + 3, 1);
  EXPECT_NE(again.out.find("version " + latest + " -> " + latest), std::string::npos) << again.out;
}

TEST_F(CliTest, ServeRefusesABadConfigNamingFileKeyAndProblem) {
  std::string config = write("bad.ini", "[server]\nport=eighty\n");
  CliRun r = run({"serve", "--config", config});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find(config + ": [server] port: 'eighty'"), std::string::npos) << r.err;

  config = write("typo.ini", "[storage]\ndatabse_url=postgresql://x\n");
  r = run({"serve", "--config", config});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("[storage] databse_url: unknown key"), std::string::npos) << r.err;
}

TEST_F(CliTest, ServeRefusesAMissingRequiredPluginButNotAnOptionalOne) {
  std::string base = "[server]\nport=0\n[storage]\ndata_dir=" + dir_ +
                     "/d\n[plugins]\ndir=" + g_getenv("GRAMOTHI_PLUGIN_DIR") + "\n";
  CliRun r = run({"serve", "--config", write("req.ini", base + "load=rest;ghost\n")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("plugin 'ghost' refused"), std::string::npos) << r.err;

  ServerProcess server;
  server.start(write("opt.ini", base + "load=rest;ghost\noptional=ghost\n"), dir_ + "/log");
  HttpClient client(server.base());
  EXPECT_EQ(client.get("/health").status, 200u);
  EXPECT_EQ(server.stop(), 0);
  EXPECT_NE(server.log().find("optional plugin 'ghost' is not loaded"), std::string::npos);
}

TEST_F(CliTest, UnreachablePostgresFailsTheStartWithAClearMessage) {
  std::string config =
      write("pg.ini", "[storage]\ndata_dir=" + dir_ +
                          "/d\ndatabase_url=postgresql://gramothi:hunter2@127.0.0.1:1/x\n");
  CliRun r = run({"serve", "--config", config});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("storage"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("hunter2"), std::string::npos) << "the password must not be logged";
}

TEST_F(CliTest, UnknownLogLevelAndCommandAreRefused) {
  EXPECT_EQ(run({"version"}, "loud").status, 2);
  EXPECT_EQ(run({"frobnicate"}).status, 2);
  CliRun v = run({"version"});
  EXPECT_EQ(v.status, 0);
  EXPECT_TRUE(g_str_has_prefix(v.out.c_str(), "gramothi ")) << v.out;
}
