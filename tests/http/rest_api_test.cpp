// The original module's REST API, end to end: the real gramothi binary with the real rest
// plugin, over real HTTP, against the storage backend named by GRAMOTHI_TEST_BACKEND.
#include <gtest/gtest.h>

#include "auth/jwt.hpp"
#include "base/secrets.hpp"
#include "common/test_keys.hpp"
#include "server_process.hpp"

using namespace gramothi;

namespace {

const std::string kJwtSecret = "integration-test-secret-0123456789abcdef";
const std::string kTurnSecret = "turn-rest-secret-0123456789";

std::string tmpdir() {
  char *p = g_dir_make_tmp("gramothi-http-XXXXXX", nullptr);
  std::string s = p;
  g_free(p);
  return s;
}

// A PostgreSQL database of our own on the test server, dropped afterwards.
class PgDatabase {
 public:
  explicit PgDatabase(const std::string &admin_url) : admin_url_(admin_url) {
    name_ = "gramothi_http_" + std::to_string(getpid()) + "_" +
            std::to_string(g_random_int_range(0, 1000000));
    exec("CREATE DATABASE " + name_);
    url_ = admin_url.substr(0, admin_url.rfind('/') + 1) + name_;
  }
  ~PgDatabase() { exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)"); }
  const std::string &url() const { return url_; }

 private:
  void exec(const std::string &sql) {
    PGconn *c = PQconnectdb(admin_url_.c_str());
    PGresult *r = PQexec(c, sql.c_str());
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    std::string err = PQerrorMessage(c);
    PQclear(r);
    PQfinish(c);
    if (!ok) throw std::runtime_error(sql + ": " + err);
  }
  std::string admin_url_, name_, url_;
};

class RestApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    backend_ = g_getenv("GRAMOTHI_TEST_BACKEND") ? g_getenv("GRAMOTHI_TEST_BACKEND") : "sqlite";
    dir_ = tmpdir();
    std::string db_line;
    if (backend_ == "postgresql") {
      const char *url = g_getenv("GRAMOTHI_TEST_PG_URL");
      if (!url || !*url) return;  // each test skips or fails (see SetUp)
      pg_ = new PgDatabase(url);
      db_line = "database_url=" + pg_->url() + "\n";
    }
    std::string config =
        "[server]\nlisten_address=127.0.0.1\nport=0\n"
        "[storage]\ndata_dir=" +
        dir_ + "/data\n" + db_line + "[auth]\njwt_secret=" + kJwtSecret +
        "\npublic_key_file=" + write_provider_key() +
        "\npublic_key_id=idp-1\n"
        "[ice]\nstun_urls=stun:stun.school.test:3478\n"
        "turn_urls=turn:turn.school.test:3478?transport=udp\n"
        "turn_shared_secret=" +
        kTurnSecret +
        "\nturn_credential_ttl=900\n"
        "[plugins]\nload=rest\ndir=" +
        g_getenv("GRAMOTHI_PLUGIN_DIR") +
        "\n"
        "[plugin.rest]\nmax_body_bytes=4096\n";
    config_path_ = dir_ + "/gramothi.ini";
    g_file_set_contents(config_path_.c_str(), config.c_str(), -1, nullptr);
    server_ = new ServerProcess();
    server_->start(config_path_, dir_ + "/server.log");
  }

  static void TearDownTestSuite() {
    if (server_) {
      bool crashed = !server_->running();
      int status = server_->stop();
      if (crashed || status != 0) {
        ADD_FAILURE() << "server exit " << status << ":\n" << server_->log();
      }
    }
    delete server_;
    server_ = nullptr;
    delete pg_;
    pg_ = nullptr;
    std::string cmd = "rm -rf '" + dir_ + "'";
    if (system(cmd.c_str()) != 0) g_warning("could not remove %s", dir_.c_str());
  }

  void SetUp() override {
    if (!server_) {
      if (g_strcmp0(g_getenv("GRAMOTHI_REQUIRE_PG"), "1") == 0)
        FAIL() << "GRAMOTHI_TEST_PG_URL is not set (scripts/test starts PostgreSQL and sets it)";
      GTEST_SKIP() << "no PostgreSQL: run scripts/test, which starts a private one";
    }
    client_ = std::make_unique<HttpClient>(server_->base());
  }

  void TearDown() override {
    if (server_) {
      ASSERT_TRUE(server_->running()) << "the server died:\n" << server_->log();
    }
  }

  // A token for `user` as the school's backend issues it: granted every class the tests made so
  // far (taught by teachers, attended by students) unless `granted` is false.
  // The school's identity provider: an EC P-256 key made here; the server gets its public half.
  static std::string write_provider_key() {
    TestKey key = make_test_key("EC");
    provider_private_pem_ = key.private_pem;
    std::string path = dir_ + "/idp.pem";
    g_file_set_contents(path.c_str(), key.public_pem.c_str(), -1, nullptr);
    return path;
  }
  // An ES256 token from the identity provider, granted `teaches`.
  static std::string provider_token(const std::string &user, const std::string &teaches,
                                    const char *kid = "idp-1") {
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    std::string claims = "{\"sub\":\"" + user +
                         "\",\"role\":\"teacher\",\"exp\":" + std::to_string(now + 600) +
                         ",\"teaches\":[\"" + teaches + "\"]}";
    return sign_test_token(JWT_ALG_ES256, provider_private_pem_, claims, kid);
  }

  static std::string token(const std::string &user, Role role, int64_t ttl = 3600,
                           bool granted = true) {
    JwtCodec jwt(kJwtSecret);
    TokenClaims c;
    c.user_id = user;
    c.role = role;
    c.issued_at = g_get_real_time() / G_USEC_PER_SEC;
    c.expires_at = c.issued_at + ttl;
    if (granted) (role == Role::kStudent ? c.classes : c.teaches) = classes_made_;
    return jwt.sign(c);
  }
  // A class id no other test uses.
  static std::string fresh_class(const char *prefix) {
    static int n = 0;
    std::string id = std::string(prefix) + "-" + std::to_string(++n);
    classes_made_.push_back(id);
    return id;
  }
  static std::string body(const std::string &class_id) {
    return "{\"class_id\":\"" + class_id + "\"}";
  }

  HttpResponse post(const char *endpoint, const std::string &tok, const std::string &b) {
    return client_->post(std::string("/api/v1/streaming/") + endpoint, tok, b);
  }
  HttpResponse status_of(const std::string &class_id, const std::string &tok) {
    return client_->get("/api/v1/streaming/status/" + class_id, tok);
  }

  // Asserts an error response: status, JSON error shape, code, and that the message mentions
  // `mention` when given.
  static void expect_error(HttpResponse r, unsigned status, const std::string &code,
                           const std::string &mention = "") {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.content_type, "application/json") << r.body;
    EXPECT_EQ(r.str("error.code"), code) << r.body;
    std::string message = r.str("error.message");
    EXPECT_FALSE(message.empty() || message[0] == '<') << r.body;
    if (!mention.empty()) {
      EXPECT_NE(message.find(mention), std::string::npos) << r.body;
    }
  }

  // Teacher 1 and the students hold grants for the classes made so far; teacher 2 holds none.
  static std::string teacher() { return token("teacher-1", Role::kTeacher); }
  static std::string student() { return token("student-1", Role::kStudent); }
  static std::string student2() { return token("student-2", Role::kStudent); }
  const std::string teacher2_ = token("teacher-2", Role::kTeacher, 3600, false);
  const std::string admin_ = token("admin-1", Role::kAdmin);
  std::unique_ptr<HttpClient> client_;

  static inline std::string backend_, dir_, config_path_;
  static inline std::vector<std::string> classes_made_;
  static inline std::string provider_private_pem_;
  static inline ServerProcess *server_ = nullptr;
  static inline PgDatabase *pg_ = nullptr;
};

}  // namespace

TEST_F(RestApiTest, HealthReportsStorageBackendAndPlugins) {
  auto r = client_->get("/health");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.str("status"), "ok");
  EXPECT_EQ(r.str("storage.backend"), backend_);
  EXPECT_EQ(r.str("storage.status"), "ok");
  EXPECT_NE(r.body.find("\"plugins\":[\"rest\"]"), std::string::npos) << r.body;
}

TEST_F(RestApiTest, ConfigIsPublicAndHoldsNoSecrets) {
  auto r = client_->get("/config");
  ASSERT_EQ(r.status, 200u) << r.body;
  JsonObject *o = json_node_get_object(r.json());
  ASSERT_TRUE(json_object_has_member(o, "profiles"));
  JsonArray *profiles = json_object_get_array_member(o, "profiles");
  ASSERT_EQ(json_array_get_length(profiles), 5u);
  EXPECT_STREQ(json_object_get_string_member(json_array_get_object_element(profiles, 0), "name"),
               "2g");
  EXPECT_EQ(r.str("websocket_path"), "/api/v1/streaming/ws/{class_id}");
  EXPECT_EQ(r.body.find(kJwtSecret), std::string::npos);
  EXPECT_EQ(r.body.find(kTurnSecret), std::string::npos);
}

TEST_F(RestApiTest, TeacherStartsAClassAndOwnsIt) {
  std::string id = fresh_class("start");
  auto r = post("start", teacher(), body(id));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.str("changed"), "true");
  EXPECT_EQ(r.str("class.state"), "live");
  EXPECT_EQ(r.str("class.owner_id"), "teacher-1");

  auto s = status_of(id, student());
  ASSERT_EQ(s.status, 200u) << s.body;
  EXPECT_EQ(s.str("class_id"), id);
  EXPECT_EQ(s.str("state"), "live");
  EXPECT_EQ(s.str("owner_id"), "teacher-1");
  EXPECT_EQ(s.str("participant_count"), "0");
  EXPECT_EQ(s.str("current_slide"), "<null>");
  std::string started = s.str("started_at");
  EXPECT_TRUE(g_regex_match_simple("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$",
                                   started.c_str(), G_REGEX_DEFAULT, G_REGEX_MATCH_DEFAULT))
      << started;

  auto again = post("start", teacher(), body(id));
  ASSERT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(again.str("changed"), "false") << "a repeated start by the owner is idempotent";
}

TEST_F(RestApiTest, StartRefusesStudentsOtherTeachersAndASecondLiveSession) {
  std::string id = fresh_class("owned");
  expect_error(post("start", student(), body(id)), 403, "forbidden_role");
  ASSERT_EQ(post("start", teacher(), body(id)).status, 200u);
  expect_error(post("start", teacher2_, body(id)), 403, "not_class_owner", id);
  expect_error(post("start", admin_, body(id)), 409, "class_already_live", id);
}

TEST_F(RestApiTest, MissingBadAndExpiredTokensAre401) {
  std::string id = fresh_class("auth");
  expect_error(post("start", "", body(id)), 401, "token_missing");
  expect_error(post("start", "not-a-jwt", body(id)), 401, "token_invalid");
  JwtCodec other("some-other-secret-some-other-secret!!");
  TokenClaims c{"teacher-1", Role::kTeacher, 0, g_get_real_time() / G_USEC_PER_SEC + 600};
  expect_error(post("start", other.sign(c), body(id)), 401, "token_invalid");
  c.expires_at = g_get_real_time() / G_USEC_PER_SEC - 3600;
  expect_error(post("start", JwtCodec(kJwtSecret).sign(c), body(id)), 401, "token_expired");
  expect_error(status_of(id, ""), 401, "token_missing");
  expect_error(client_->get("/api/v1/streaming/ice-servers"), 401, "token_missing");
  // Nothing was created by the refused requests.
  expect_error(status_of(id, student()), 404, "class_not_found");
}

TEST_F(RestApiTest, MalformedBodiesAre400NamingTheField) {
  expect_error(post("start", teacher(), "{not json"), 400, "invalid_json");
  expect_error(post("start", teacher(), "[1,2,3]"), 400, "invalid_json");
  expect_error(post("start", teacher(), ""), 400, "invalid_json");
  expect_error(post("start", teacher(), "{}"), 400, "missing_field", "class_id");
  expect_error(post("start", teacher(), "{\"x\":" + std::string(1000, '[') + "}"), 400,
               "invalid_json", "64 levels");
  expect_error(post("start", teacher(), "{\"class_id\":42}"), 400, "invalid_field", "class_id");
  expect_error(post("start", teacher(), "{\"class_id\":\"\"}"), 400, "invalid_field", "class_id");
  expect_error(post("start", teacher(), "{\"class_id\":\"../../etc/passwd\"}"), 400,
               "invalid_field", "class_id");
  expect_error(post("start", teacher(), "{\"class_id\":\"" + std::string(65, 'a') + "\"}"), 400,
               "invalid_field", "class_id");
  expect_error(post("join", student(), "{\"class_id\":null}"), 400, "invalid_field", "class_id");
  expect_error(client_->post("/api/v1/streaming/start", teacher(), body("x"), "text/plain"), 415,
               "unsupported_media_type");
  expect_error(status_of("bad%20id", student()), 400, "invalid_field", "class_id");
}

// `curl -d '{...}'` labels the body application/x-www-form-urlencoded; it is still read as JSON
// (and still has to be JSON).
TEST_F(RestApiTest, CurlsDefaultContentTypeIsReadAsJson) {
  std::string id = fresh_class("curl");
  const char *form = "application/x-www-form-urlencoded";
  auto r = client_->post("/api/v1/streaming/start", teacher(), body(id), form);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.str("class.state"), "live");
  expect_error(client_->post("/api/v1/streaming/join", student(), "class_id=" + id, form), 400,
               "invalid_json");
}

TEST_F(RestApiTest, OversizedBodyIs413) {
  std::string huge = "{\"class_id\":\"big\",\"pad\":\"" + std::string(5000, 'x') + "\"}";
  expect_error(post("start", teacher(), huge), 413, "body_too_large");
  // Up to 64 KiB the refused body is read (and dropped) and the connection lives on; a larger
  // one is never read: the server answers and closes the connection (tests/http/limits_test.cpp).
  std::string very_huge(64 * 1024, ' ');
  expect_error(post("join", student(), very_huge), 413, "body_too_large");
  expect_error(client_->request("GET", "/health", "", &huge), 413, "body_too_large");
}

TEST_F(RestApiTest, JoinAndLeaveRecordAttendanceAndCountParticipants) {
  std::string id = fresh_class("attend");
  expect_error(post("join", student(), body(id)), 404, "class_not_found");
  ASSERT_EQ(post("start", teacher(), body(id)).status, 200u);

  auto j = post("join", student(), body(id));
  ASSERT_EQ(j.status, 200u) << j.body;
  EXPECT_EQ(j.str("changed"), "true");
  EXPECT_EQ(j.str("class.participant_count"), "1");
  EXPECT_EQ(post("join", student(), body(id)).str("changed"), "false");
  EXPECT_EQ(post("join", student2(), body(id)).str("class.participant_count"), "2");
  EXPECT_EQ(status_of(id, teacher()).str("participant_count"), "2");

  auto l = post("leave", student(), body(id));
  ASSERT_EQ(l.status, 200u) << l.body;
  EXPECT_EQ(l.str("class.participant_count"), "1");
  EXPECT_EQ(post("leave", student(), body(id)).str("changed"), "false");
  EXPECT_EQ(status_of(id, teacher()).str("participant_count"), "1");
}

TEST_F(RestApiTest, StopIsForTheOwnerOrAnAdminAndEndsTheClass) {
  std::string id = fresh_class("stop");
  expect_error(post("stop", teacher(), body(id)), 404, "class_not_found");
  ASSERT_EQ(post("start", teacher(), body(id)).status, 200u);
  ASSERT_EQ(post("join", student(), body(id)).status, 200u);
  expect_error(post("stop", student(), body(id)), 403, "forbidden_role");
  expect_error(post("stop", teacher2_, body(id)), 403, "not_class_owner");

  auto s = post("stop", teacher(), body(id));
  ASSERT_EQ(s.status, 200u) << s.body;
  EXPECT_EQ(s.str("class.state"), "ended");
  EXPECT_EQ(s.str("class.participant_count"), "0");
  EXPECT_NE(s.str("class.ended_at"), "<null>");
  expect_error(post("stop", teacher(), body(id)), 409, "class_not_live");
  expect_error(post("join", student2(), body(id)), 409, "class_not_live");
  expect_error(post("leave", student(), body(id)), 409, "class_not_live");
  EXPECT_EQ(status_of(id, student()).str("state"), "ended");

  // The owner starts it again; an admin may stop someone else's class.
  ASSERT_EQ(post("start", teacher(), body(id)).status, 200u);
  EXPECT_EQ(post("stop", admin_, body(id)).status, 200u);
}

TEST_F(RestApiTest, BandwidthProfileIsValidatedAndRecorded) {
  std::string id = fresh_class("profile");
  expect_error(
      post("bandwidth-profile", student(), "{\"class_id\":\"" + id + "\",\"profile\":\"low\"}"),
      404, "class_not_found");
  ASSERT_EQ(post("start", teacher(), body(id)).status, 200u);
  for (const char *p : {"auto", "ultra-low", "low", "medium", "high"}) {
    auto r = post("bandwidth-profile", student(),
                  "{\"class_id\":\"" + id + "\",\"profile\":\"" + p + "\"}");
    EXPECT_EQ(r.status, 200u) << p << ": " << r.body;
  }
  expect_error(
      post("bandwidth-profile", student(), "{\"class_id\":\"" + id + "\",\"profile\":\"turbo\"}"),
      400, "invalid_field", "profile");
  expect_error(post("bandwidth-profile", student(), body(id)), 400, "missing_field", "profile");
}

// Issue 18: a token from the school's identity provider (ES256, its public key in the config)
// works like the server's own; a wrong kid or a token signed elsewhere does not.
TEST_F(RestApiTest, IdentityProviderTokensAreAccepted) {
  std::string id = fresh_class("idp");
  auto started = post("start", provider_token("teacher-idp", id), body(id));
  ASSERT_EQ(started.status, 200u) << started.body;
  EXPECT_EQ(started.str("class.owner_id"), "teacher-idp");
  expect_error(post("stop", provider_token("teacher-idp", id, "idp-2"), body(id)), 401,
               "token_invalid");
  ASSERT_EQ(post("stop", provider_token("teacher-idp", id), body(id)).status, 200u);
}

TEST_F(RestApiTest, StatusOfAnUnknownClassIs404) {
  std::string id = fresh_class("never-started");
  expect_error(status_of(id, student()), 404, "class_not_found", id);
}

// Issue 12, finding 2: any signed-in student could join any class (and so gain its
// recordings). Joining, the status and the slides need a grant for the class.
TEST_F(RestApiTest, StudentsWithoutAGrantForTheClassAreRefused) {
  std::string id = fresh_class("granted-only");
  ASSERT_EQ(post("start", teacher(), body(id)).status, 200u);
  std::string outsider = token("student-x", Role::kStudent, 3600, false);
  expect_error(post("join", outsider, body(id)), 403, "not_in_class", id);
  expect_error(status_of(id, outsider), 403, "not_in_class", id);
  expect_error(client_->get("/api/v1/streaming/slides/" + id, outsider), 403, "not_in_class");
  expect_error(
      post("bandwidth-profile", outsider, "{\"class_id\":\"" + id + "\",\"profile\":\"low\"}"), 403,
      "not_in_class");
  // A teacher of another class is an outsider here too.
  expect_error(status_of(id, teacher2_), 403, "not_in_class");
  ASSERT_EQ(post("join", student(), body(id)).status, 200u);
  ASSERT_EQ(status_of(id, student()).status, 200u);
}

// Issue 12, finding 3: the first teacher to start a class id or upload a deck to it owned it
// for good.
TEST_F(RestApiTest, NoTeacherSquatsAClassIdAndAdminsAssignTeachers) {
  std::string id = fresh_class("math-101");
  std::string pdf = "%PDF-1.4\n";
  auto upload = client_->post("/api/v1/streaming/slides/" + id, teacher2_, pdf, "application/pdf");
  expect_error(std::move(upload), 403, "not_class_owner");
  expect_error(post("start", teacher2_, body(id)), 403, "not_class_owner");
  auto started = post("start", teacher(), body(id));
  ASSERT_EQ(started.status, 200u) << started.body << " (teacher A, whose class it is)";
  EXPECT_EQ(started.str("class.owner_id"), "teacher-1");

  // An admin names teacher-2 a teacher of the class: from then on they teach it without a
  // grant in their token.
  std::string assign = "{\"teachers\":[\"teacher-1\",\"teacher-2\"]}";
  expect_error(
      client_->request("PUT", "/api/v1/classes/" + id, teacher(), &assign, "application/json"), 403,
      "forbidden_role");
  auto assigned =
      client_->request("PUT", "/api/v1/classes/" + id, admin_, &assign, "application/json");
  ASSERT_EQ(assigned.status, 200u) << assigned.body;
  EXPECT_NE(assigned.body.find("\"teachers\":[\"teacher-1\",\"teacher-2\"]"), std::string::npos)
      << assigned.body;
  auto stopped = post("stop", teacher2_, body(id));
  EXPECT_EQ(stopped.status, 200u) << stopped.body;
  std::string bad = "{\"teachers\":\"teacher-2\"}";
  expect_error(client_->request("PUT", "/api/v1/classes/" + id, admin_, &bad, "application/json"),
               400, "invalid_field", "teachers");
  std::string bad_id = "{\"teachers\":[\"no spaces allowed\"]}";
  expect_error(
      client_->request("PUT", "/api/v1/classes/" + id, admin_, &bad_id, "application/json"), 400,
      "invalid_field", "teachers");
}

TEST_F(RestApiTest, IceServersCarryShortLivedTurnRestCredentials) {
  auto r = client_->get("/api/v1/streaming/ice-servers", student());
  ASSERT_EQ(r.status, 200u) << r.body;
  JsonArray *servers = json_object_get_array_member(json_node_get_object(r.json()), "ice_servers");
  ASSERT_EQ(json_array_get_length(servers), 2u) << r.body;
  JsonObject *turn = json_array_get_object_element(servers, 1);
  std::string user = json_object_get_string_member(turn, "username");
  std::string credential = json_object_get_string_member(turn, "credential");
  int64_t now = g_get_real_time() / G_USEC_PER_SEC;
  int64_t expiry = g_ascii_strtoll(user.c_str(), nullptr, 10);
  EXPECT_NEAR(static_cast<double>(expiry), static_cast<double>(now + 900), 5.0);
  EXPECT_EQ(user.substr(user.find(':')), ":student-1");
  std::string mac = hmac(G_CHECKSUM_SHA1, kTurnSecret, user);
  g_autofree char *expected =
      g_base64_encode(reinterpret_cast<const guchar *>(mac.data()), mac.size());
  EXPECT_EQ(credential, expected);
  EXPECT_EQ(r.body.find(kTurnSecret), std::string::npos);
  EXPECT_EQ(r.str("ttl_seconds"), "900");
}

TEST_F(RestApiTest, UnknownRoutesAndWrongMethodsGetJsonErrors) {
  expect_error(client_->get("/api/v1/streaming/nope", teacher()), 404, "not_found");
  expect_error(client_->get("/api/v1/streaming/start", teacher()), 405, "method_not_allowed");
}

TEST_F(RestApiTest, HostileInputLeavesTheServerServing) {
  std::string id = fresh_class("hostile");
  ASSERT_EQ(post("start", teacher(), body(id)).status, 200u);
  std::string deep(3000, '[');
  std::vector<std::string> bodies = {deep,
                                     std::string("\0\1\2\3", 4),
                                     "{\"class_id\":\"\xff\xfe\"}",
                                     "{\"class_id\":\"" + id + "\",\"class_id\":{}}",
                                     "{\"class_id\":\"" + id + "\"}garbage",
                                     "\"just a string\""};
  for (int i = 0; i < 64; i++) {
    std::string noise;
    for (int k = 0; k < 200; k++)
      noise += static_cast<char>(g_random_int_range(0, 256));
    bodies.push_back(noise);
  }
  for (const auto &b : bodies) {
    for (const char *ep : {"start", "stop", "join", "leave", "bandwidth-profile"}) {
      auto r = post(ep, teacher(), b);
      EXPECT_GE(r.status, 400u) << ep;
      EXPECT_LT(r.status, 500u) << ep << ": " << r.body;
    }
  }
  EXPECT_EQ(client_->get("/health").status, 200u);
  EXPECT_EQ(status_of(id, teacher()).str("state"), "live") << "stored state is intact";
}

// Restart: everything above survives, and the server shut down cleanly on SIGTERM.
TEST_F(RestApiTest, StateSurvivesARestart) {
  std::string id = fresh_class("restart");
  ASSERT_EQ(post("start", teacher(), body(id)).status, 200u);
  ASSERT_EQ(post("join", student(), body(id)).status, 200u);
  ASSERT_EQ(post("join", student2(), body(id)).status, 200u);
  ASSERT_EQ(post("leave", student2(), body(id)).status, 200u);
  auto before = status_of(id, teacher());
  ASSERT_EQ(before.status, 200u);

  EXPECT_EQ(server_->stop(), 0) << server_->log();
  server_->start(config_path_, dir_ + "/server2.log");
  client_ = std::make_unique<HttpClient>(server_->base());

  auto after = status_of(id, teacher());
  ASSERT_EQ(after.status, 200u) << after.body;
  EXPECT_EQ(after.body, before.body);
  EXPECT_EQ(after.str("state"), "live");
  EXPECT_EQ(after.str("participant_count"), "1");
  EXPECT_EQ(post("stop", teacher(), body(id)).status, 200u) << "the owner still owns it";
}
