// Tokens from a school's identity provider against the real server (issue 18): a Keycloak-style
// key set and claims, on REST and on the class WebSocket; expired and not-yet-valid tokens; key
// rotation while the server runs, when the key file changes and on SIGHUP; a broken key file
// keeps the keys in use. Keys are made here with OpenSSL; tokens are signed by libjwt.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../http/server_process.hpp"
#include "../media/ws_connect.hpp"
#include "auth/jwt.hpp"
#include "common/test_keys.hpp"

using namespace gramothi;

namespace {

const std::string kSecret = "idp-test-secret-0123456789abcdef-0123456";
const std::string kIssuer = "https://idp.school.test/realms/school";
const std::string kClass = "bio-7";

class IdentityProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_autofree char *d = g_dir_make_tmp("gramothi-idp-XXXXXX", nullptr);
    dir_ = d;
    jwks_path_ = dir_ + "/jwks.json";
    write_jwks({&key_a_});
    std::string config = "[server]\nlisten_address=127.0.0.1\nport=0\n[storage]\ndata_dir=" + dir_ +
                         "/data\n[auth]\njwt_secret=" + kSecret + "\nissuer=" + kIssuer +
                         "\naudience=gramothi\njwks_file=" + jwks_path_ +
                         "\nuser_claim=preferred_username\nrole_claim=realm_access.roles\n"
                         "role_values=editingteacher=teacher, student=student\n"
                         "[media]\nenabled=false\n[plugins]\nload=rest;signaling\ndir=" +
                         g_getenv("GRAMOTHI_PLUGIN_DIR") + "\n";
    std::string path = dir_ + "/gramothi.ini";
    g_file_set_contents(path.c_str(), config.c_str(), -1, nullptr);
    server_ = std::make_unique<ServerProcess>();
    server_->start(path, dir_ + "/server.log");
    http_ = std::make_unique<HttpClient>(server_->base());
  }
  void TearDown() override {
    EXPECT_EQ(server_->stop(), 0) << server_->log();
    std::string cmd = "rm -rf '" + dir_ + "'";
    if (system(cmd.c_str()) != 0) g_warning("cannot remove %s", dir_.c_str());
  }

  // Replaces the key file the way careful tools do: write aside, then rename over it.
  void write_jwks(std::vector<const TestKey *> keys) {
    std::string json = "{\"keys\":[";
    for (size_t i = 0; i < keys.size(); i++)
      json += (i ? "," : "") + keys[i]->jwk;
    write_file(json + "]}");
  }
  void write_file(const std::string &text) {
    std::string tmp = jwks_path_ + ".new";
    ASSERT_TRUE(g_file_set_contents(tmp.c_str(), text.c_str(), -1, nullptr));
    ASSERT_EQ(rename(tmp.c_str(), jwks_path_.c_str()), 0);
  }

  // A Keycloak-style token: the user in preferred_username, roles in realm_access.roles.
  static std::string idp_token(const TestKey &key, const char *kid, const std::string &user,
                               const std::string &role, int64_t exp_in = 600, int64_t nbf_in = 0) {
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    std::string grant = role == "student" ? "classes" : "teaches";
    std::string claims =
        "{\"iss\":\"" + kIssuer +
        "\",\"aud\":[\"account\",\"gramothi\"],\"sub\":\"f3a1c2d4-0000-4000-8000-" +
        "00000000000a\",\"preferred_username\":\"" + user +
        "\",\"realm_access\":{\"roles\":[\"offline_access\",\"" + role + "\"]},\"" + grant +
        "\":[\"" + kClass + "\"],\"iat\":" + std::to_string(now) +
        ",\"exp\":" + std::to_string(now + exp_in) +
        (nbf_in ? ",\"nbf\":" + std::to_string(now + nbf_in) : "") + "}";
    jwt_alg_t alg = key.jwk.find("\"RSA\"") != std::string::npos ? JWT_ALG_RS256 : JWT_ALG_ES256;
    return sign_test_token(alg, key.private_pem, claims, kid);
  }
  unsigned status_with(const std::string &token) {
    return http_->get("/api/v1/streaming/status/" + kClass, token).status;
  }
  // Waits (up to 15 s) until a request with `token` gets `status`.
  bool comes_to(const std::string &token, unsigned status) {
    return spin_until([&] { return status_with(token) == status; }, 15000);
  }
  bool log_shows(const std::string &text) {
    return spin_until([&] { return server_->log().find(text) != std::string::npos; }, 15000);
  }

  static inline TestKey key_a_ = make_test_key("RSA", "2026-10");
  static inline TestKey key_b_ = make_test_key("EC", "2026-11");
  std::string dir_, jwks_path_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<HttpClient> http_;
};

}  // namespace

TEST_F(IdentityProviderTest, ProviderTokensWorkOnRestAndOnTheWebSocket) {
  std::string teacher = idp_token(key_a_, "2026-10", "asha.k", "editingteacher");
  auto started =
      http_->post("/api/v1/streaming/start", teacher, "{\"class_id\":\"" + kClass + "\"}");
  ASSERT_EQ(started.status, 200u) << started.body;
  EXPECT_EQ(started.str("class.owner_id"), "asha.k") << "the user comes from preferred_username";

  std::string student = idp_token(key_a_, "2026-10", "ravi.s", "student");
  EXPECT_EQ(status_with(student), 200u);
  auto ws = connect_authenticated(server_->port(), kClass, student, "provider student");
  EXPECT_FALSE(ws->closed());

  // The server's own HS256 tokens keep working next to the provider's.
  JwtCodec own(kSecret, kIssuer, "gramothi");
  TokenClaims c{"student-own", Role::kStudent, 0, g_get_real_time() / G_USEC_PER_SEC + 600};
  c.classes = {kClass};
  EXPECT_EQ(status_with(own.sign(c)), 200u);

  // Expired, not yet valid, the wrong kid, another issuer's key: refused on both.
  struct Bad {
    std::string token, code;
  } bad[] = {
      {idp_token(key_a_, "2026-10", "ravi.s", "student", -120), "token_expired"},
      {idp_token(key_a_, "2026-10", "ravi.s", "student", 600, 300), "token_not_yet_valid"},
      {idp_token(key_a_, "2026-11", "ravi.s", "student"), "token_invalid"},
      {idp_token(key_b_, "2026-10", "ravi.s", "student"), "token_invalid"},
  };
  for (const auto &b : bad) {
    auto r = http_->get("/api/v1/streaming/status/" + kClass, b.token);
    EXPECT_EQ(r.status, 401u) << b.code;
    EXPECT_EQ(r.str("error.code"), b.code);
    WsClient refused(server_->port(), kClass, b.token);
    ASSERT_TRUE(spin_until([&] { return refused.closed(); }, 10000)) << b.code;
    EXPECT_EQ(refused.close_code(), 4401) << b.code;
    EXPECT_EQ(refused.close_reason(), b.code);
    EXPECT_EQ(refused.received("authenticated"), 0u);
  }
}

// Rotation without a restart: a key added to the file works within moments; a key removed
// stops working; sockets already open stay.
TEST_F(IdentityProviderTest, KeysRotateWhenTheKeyFileChanges) {
  std::string old_token = idp_token(key_a_, "2026-10", "ravi.s", "student");
  std::string new_token = idp_token(key_b_, "2026-11", "ravi.s", "student");
  ASSERT_EQ(status_with(old_token), 404u) << "valid token, class not started";
  ASSERT_EQ(status_with(new_token), 401u);

  write_jwks({&key_a_, &key_b_});
  EXPECT_TRUE(comes_to(new_token, 404u)) << server_->log();
  EXPECT_EQ(status_with(old_token), 404u);

  write_jwks({&key_b_});
  EXPECT_TRUE(comes_to(old_token, 401u)) << server_->log();
  EXPECT_EQ(status_with(new_token), 404u);
  EXPECT_TRUE(server_->running());
}

// SIGHUP reads the keys again (it used to end the server); a file that does not parse keeps
// the keys in use, with a warning.
TEST_F(IdentityProviderTest, SighupReadsTheKeysAgainAndABrokenFileKeepsTheOldOnes) {
  std::string old_token = idp_token(key_a_, "2026-10", "ravi.s", "student");
  write_file("{\"keys\": [ {\"kty\": \"RSA\", \"n\": ");
  ASSERT_TRUE(log_shows("identity provider keys not changed")) << server_->log();
  EXPECT_EQ(status_with(old_token), 404u) << "the keys in use stay";

  // Replaced with a set of only the new key, then SIGHUP.
  std::string json = "{\"keys\":[" + key_b_.jwk + "]}";
  ASSERT_TRUE(g_file_set_contents(jwks_path_.c_str(), json.c_str(), -1, nullptr));
  ASSERT_EQ(kill(server_->pid(), SIGHUP), 0);
  ASSERT_TRUE(log_shows("identity provider keys read again (SIGHUP): 1 key: ES256 kid 2026-11"))
      << server_->log();
  EXPECT_TRUE(comes_to(old_token, 401u));
  EXPECT_EQ(status_with(idp_token(key_b_, "2026-11", "ravi.s", "student")), 404u);
  EXPECT_TRUE(server_->running()) << "SIGHUP must not end the server";
}

// A truncated download, or something that is not a file, never replaces the keys in use.
TEST_F(IdentityProviderTest, AnEmptyFileOrAFifoKeepsTheKeysInUse) {
  std::string token = idp_token(key_a_, "2026-10", "ravi.s", "student");
  write_file("");
  ASSERT_TRUE(log_shows("keys not changed (a key file changed): " + jwks_path_ + " is empty"))
      << server_->log();
  EXPECT_EQ(status_with(token), 404u);
  ASSERT_EQ(unlink(jwks_path_.c_str()), 0);
  ASSERT_EQ(mkfifo(jwks_path_.c_str(), 0600), 0);
  ASSERT_EQ(kill(server_->pid(), SIGHUP), 0);
  ASSERT_TRUE(log_shows(jwks_path_ + " is not a regular file")) << server_->log();
  EXPECT_EQ(status_with(token), 404u);
  // Reading goes on afterwards: a good file is taken.
  ASSERT_EQ(unlink(jwks_path_.c_str()), 0);
  write_jwks({&key_b_});
  EXPECT_TRUE(comes_to(token, 401u)) << server_->log();
  EXPECT_TRUE(server_->running());
}

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
