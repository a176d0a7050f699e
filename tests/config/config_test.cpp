#include "config/config.hpp"

#include <gtest/gtest.h>

#include "common/temp_dir.hpp"

using namespace gramothi;

namespace {

std::string load_error(const TempDir &dir, const std::string &ini) {
  std::string path = dir.file("test.ini", ini);
  auto r = load_config(path);
  EXPECT_FALSE(r.ok()) << "expected this config to be refused:\n" << ini;
  return r.ok() ? "" : r.error().message;
}

}  // namespace

TEST(Config, DefaultsNeedNoFile) {
  Config c;
  EXPECT_EQ(c.port, 8080);
  EXPECT_EQ(c.data_dir, "data");
  EXPECT_FALSE(c.uses_postgres());
  EXPECT_EQ(c.sqlite_path(), "data/gramothi.db");
  ASSERT_EQ(c.plugins.size(), 3u);
  EXPECT_EQ(c.plugins[0].name, "rest");
  EXPECT_EQ(c.plugins[1].name, "signaling");
  EXPECT_EQ(c.plugins[2].name, "recording");
  EXPECT_TRUE(c.media_enabled);
  EXPECT_FALSE(validate_config(c).has_value());
}

TEST(Config, FileSetsEveryGroup) {
  TempDir dir;
  std::string secret_file = dir.file("turn-secret", "turn-secret-0123456789abcdef\n");
  std::string path = dir.file("full.ini",
                              "[server]\nlisten_address=0.0.0.0\nport=9090\n"
                              "public_url=https://class.example.org\n"
                              "[storage]\ndata_dir=/var/lib/gramothi\n"
                              "database_url=postgresql://gramothi@db/gramothi\n"
                              "[auth]\njwt_secret=0123456789abcdef0123456789abcdef\n"
                              "issuer=school\naudience=gramothi\nleeway_seconds=10\n"
                              "[ice]\nstun_urls=stun:stun.example.org:3478\n"
                              "turn_urls=turn:turn.example.org:3478?transport=udp;"
                              "turn:turn.example.org:3478?transport=tcp\n"
                              "turn_shared_secret_file=" +
                                  secret_file +
                                  "\nturn_credential_ttl=600\n"
                                  "[plugins]\nload=rest;metrics\noptional=metrics\n"
                                  "dir=/usr/lib/gramothi/plugins\n"
                                  "[media]\npipelines_dir=/etc/gramothi/pipelines\n"
                                  "[plugin.rest]\nmax_body_bytes=8192\n");
  auto r = load_config(path);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Config &c = *r;
  EXPECT_EQ(c.listen_address, "0.0.0.0");
  EXPECT_EQ(c.port, 9090);
  EXPECT_EQ(c.public_url, "https://class.example.org");
  EXPECT_EQ(c.data_dir, "/var/lib/gramothi");
  EXPECT_TRUE(c.uses_postgres());
  EXPECT_EQ(c.jwt_secret, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(c.jwt_issuer, "school");
  EXPECT_EQ(c.jwt_audience, "gramothi");
  EXPECT_EQ(c.jwt_leeway_s, 10);
  ASSERT_EQ(c.stun_urls.size(), 1u);
  ASSERT_EQ(c.turn_urls.size(), 2u);
  EXPECT_EQ(c.turn_shared_secret, "turn-secret-0123456789abcdef");
  EXPECT_EQ(c.turn_credential_ttl_s, 600);
  ASSERT_EQ(c.plugins.size(), 2u);
  EXPECT_FALSE(c.plugins[0].optional);
  EXPECT_EQ(c.plugins[1].name, "metrics");
  EXPECT_TRUE(c.plugins[1].optional);
  EXPECT_EQ(c.plugin_dir, "/usr/lib/gramothi/plugins");
  EXPECT_EQ(c.pipelines_dir, "/etc/gramothi/pipelines");
  EXPECT_EQ(c.plugin_settings.at("rest").at("max_body_bytes"), "8192");
}

TEST(Config, SqliteUrlNamesTheFile) {
  TempDir dir;
  auto r = load_config(dir.file("s.ini", "[storage]\ndatabase_url=sqlite:/tmp/x/class.db\n"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->uses_postgres());
  EXPECT_EQ(r->sqlite_path(), "/tmp/x/class.db");
}

TEST(Config, ErrorsNameFileGroupKeyAndProblem) {
  TempDir dir;
  std::string path = dir.path() + "/test.ini";
  std::string e = load_error(dir, "[server]\nport=eighty\n");
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find("[server] port"), std::string::npos) << e;
  EXPECT_NE(e.find("'eighty'"), std::string::npos) << e;

  e = load_error(dir, "[server]\nport=70000\n");
  EXPECT_NE(e.find("[server] port"), std::string::npos) << e;

  e = load_error(dir, "[server]\nlisten_adress=1.2.3.4\n");
  EXPECT_NE(e.find("[server] listen_adress: unknown key"), std::string::npos) << e;

  e = load_error(dir, "[servr]\nport=1\n");
  EXPECT_NE(e.find("[servr]: unknown group"), std::string::npos) << e;

  e = load_error(dir, "[server]\nlisten_address=localhost.example\n");
  EXPECT_NE(e.find("not an IP address"), std::string::npos) << e;

  e = load_error(dir, "[auth]\njwt_secret=short\n");
  EXPECT_NE(e.find("[auth] jwt_secret"), std::string::npos) << e;
  EXPECT_NE(e.find("at least 32"), std::string::npos) << e;

  e = load_error(dir, "[auth]\njwt_secret_file=/nonexistent/secret\n");
  EXPECT_NE(e.find("[auth] jwt_secret_file: cannot read"), std::string::npos) << e;

  e = load_error(dir, "[storage]\ndatabase_url=mysql://x\n");
  EXPECT_NE(e.find("[storage] database_url"), std::string::npos) << e;

  e = load_error(dir, "[ice]\nturn_urls=turn:turn.example.org\n");
  EXPECT_NE(e.find("turn_shared_secret"), std::string::npos) << e;
  EXPECT_NE(e.find("static TURN passwords are not supported"), std::string::npos) << e;

  e = load_error(dir, "[ice]\nstun_urls=http://stun.example.org\n");
  EXPECT_NE(e.find("[ice] stun_urls"), std::string::npos) << e;

  e = load_error(dir, "[plugins]\nload=rest\noptional=metrics\n");
  EXPECT_NE(e.find("[plugins] optional: 'metrics' is not in [plugins] load"), std::string::npos)
      << e;

  e = load_error(dir, "[plugins]\nload=rest;rest\n");
  EXPECT_NE(e.find("listed twice"), std::string::npos) << e;

  e = load_error(dir, "[plugins]\nload=../evil\n");
  EXPECT_NE(e.find("not a plugin name"), std::string::npos) << e;

  e = load_error(dir, "[media]\nice_addresses=127.0.0.1;not-an-ip\n");
  EXPECT_NE(e.find("[media] ice_addresses: 'not-an-ip' is not an IP address"), std::string::npos)
      << e;

  e = load_error(dir, "[media]\nice_port_min=40000\n");
  EXPECT_NE(e.find("[media] ice_port_max"), std::string::npos) << e;

  e = load_error(dir, "[media]\nstun_server=stun.example.org\n");
  EXPECT_NE(e.find("[media] stun_server"), std::string::npos) << e;

  e = load_error(dir, "[media]\nenabled=yes please\n");
  EXPECT_NE(e.find("[media] enabled"), std::string::npos) << e;

  e = load_error(dir, "this is not a key file\n");
  EXPECT_NE(e.find(path), std::string::npos) << e;
}

TEST(Config, MissingFileIsAnErrorNamingIt) {
  auto r = load_config("/nonexistent/gramothi.ini");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("/nonexistent/gramothi.ini"), std::string::npos);
}

TEST(Config, MediaKeysSetIceAndIngest) {
  TempDir dir;
  auto r = load_config(dir.file("m.ini",
                                "[media]\nice_addresses=127.0.0.1;10.0.0.5\n"
                                "nat_1to1_address=203.0.113.7\nice_port_min=40000\n"
                                "ice_port_max=40100\nstun_server=stun://stun.example.org:3478\n"
                                "ingest_latency_ms=80\nenabled=false\n"
                                "ice_consent_timeout_ms=5000\n"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->ice_addresses, (std::vector<std::string>{"127.0.0.1", "10.0.0.5"}));
  EXPECT_EQ(r->nat_1to1_address, "203.0.113.7");
  EXPECT_EQ(r->ice_port_min, 40000);
  EXPECT_EQ(r->ice_port_max, 40100);
  EXPECT_EQ(r->media_stun_server, "stun://stun.example.org:3478");
  EXPECT_EQ(r->ingest_latency_ms, 80);
  EXPECT_FALSE(r->media_enabled);
  EXPECT_EQ(r->ice_consent_timeout_ms, 5000);
  EXPECT_EQ(Config{}.ice_consent_timeout_ms, 30000);  // RFC 7675
  auto low = load_config(dir.file("c.ini", "[media]\nice_consent_timeout_ms=10\n"));
  ASSERT_FALSE(low.ok());
  EXPECT_NE(low.error().message.find("ice_consent_timeout_ms"), std::string::npos);
}

TEST(Config, LimitsHaveDefaultsForASchoolBehindOneAddress) {
  Config c;
  EXPECT_EQ(c.max_connections, 10000);
  EXPECT_EQ(c.max_connections_per_ip, 1000);
  EXPECT_EQ(c.new_connections_per_ip_per_second, 100);
  EXPECT_EQ(c.new_connections_per_ip_burst, 500);
  EXPECT_EQ(c.header_timeout_s, 20);
  EXPECT_EQ(c.idle_timeout_s, 60);
  EXPECT_EQ(c.ws_idle_timeout_s, 150);
  EXPECT_EQ(c.ws_max_queued_bytes, 1024 * 1024);
  EXPECT_EQ(c.ws_max_read_bytes_per_second, 64 * 1024);
}

TEST(Config, LimitsKeysAreReadAndChecked) {
  TempDir dir;
  auto r = load_config(dir.file("l.ini",
                                "[limits]\nmax_connections=2000\nmax_connections_per_ip=40\n"
                                "new_connections_per_ip_per_second=5\n"
                                "new_connections_per_ip_burst=20\nheader_timeout_s=5\n"
                                "idle_timeout_s=30\nws_idle_timeout_s=90\n"
                                "ws_max_queued_bytes=65536\n"
                                "ws_max_read_bytes_per_second=131072\n"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->max_connections, 2000);
  EXPECT_EQ(r->max_connections_per_ip, 40);
  EXPECT_EQ(r->new_connections_per_ip_per_second, 5);
  EXPECT_EQ(r->new_connections_per_ip_burst, 20);
  EXPECT_EQ(r->header_timeout_s, 5);
  EXPECT_EQ(r->idle_timeout_s, 30);
  EXPECT_EQ(r->ws_idle_timeout_s, 90);
  EXPECT_EQ(r->ws_max_queued_bytes, 65536);
  EXPECT_EQ(r->ws_max_read_bytes_per_second, 131072);

  std::string path = dir.path() + "/test.ini";
  std::string e = load_error(dir, "[limits]\nmax_conections=10\n");
  EXPECT_NE(e.find(path + ": [limits] max_conections: unknown key"), std::string::npos) << e;
  e = load_error(dir, "[limits]\nheader_timeout_s=0\n");
  EXPECT_NE(e.find("[limits] header_timeout_s: '0' is not a whole number from 1"),
            std::string::npos)
      << e;
  e = load_error(dir, "[limits]\nws_max_queued_bytes=1k\n");
  EXPECT_NE(e.find("[limits] ws_max_queued_bytes"), std::string::npos) << e;
  e = load_error(dir, "[limits]\nws_max_read_bytes_per_second=100\n");
  EXPECT_NE(e.find("[limits] ws_max_read_bytes_per_second"), std::string::npos) << e;
}

// Issue 18: where the identity provider's tokens carry the user, role and grants.
TEST(Config, ClaimNamesAndRoleValuesAreReadAndChecked) {
  TempDir dir;
  auto c = load_config(dir.file("claims.ini",
                                "[auth]\nuser_claim=preferred_username\n"
                                "role_claim=realm_access.roles\nclasses_claim=school.courses\n"
                                "teaches_claim=https://school.test/teaches\n"
                                "role_values=editingteacher=teacher, manager = admin\n"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->jwt_user_claim, "preferred_username");
  EXPECT_EQ(c->jwt_role_claim, "realm_access.roles");
  EXPECT_EQ(c->jwt_classes_claim, "school.courses");
  EXPECT_EQ(c->jwt_teaches_claim, "https://school.test/teaches");
  ASSERT_EQ(c->jwt_role_values.size(), 2u);
  EXPECT_EQ(c->jwt_role_values[1].first, "manager");
  EXPECT_EQ(c->jwt_role_values[1].second, Role::kAdmin);
  auto defaults = load_config(dir.file("none.ini", "[auth]\n"));
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->jwt_role_claim, "role");
  EXPECT_EQ(defaults->jwt_classes_claim, "classes");

  std::string e = load_error(dir, "[auth]\nrole_values=editingteacher=janitor\n");
  EXPECT_NE(e.find("[auth] role_values: 'editingteacher=janitor'"), std::string::npos) << e;
  e = load_error(dir, "[auth]\nrole_claim=realm_access..roles\n");
  EXPECT_NE(e.find("[auth] role_claim"), std::string::npos) << e;
  e = load_error(dir, "[auth]\njwks_file=/nonexistent/jwks.json\n");
  EXPECT_NE(e.find("[auth] jwks_file: cannot read"), std::string::npos) << e;
}

TEST(Config, SlideWorkersRunAsAUserThatIsNotRoot) {
  EXPECT_EQ(Config().slides_worker_user, "nobody");
  EXPECT_EQ(resolve_worker_user("nobody"), (std::pair<uint32_t, uint32_t>{65534, 65534}));
  EXPECT_EQ(resolve_worker_user("4321"), (std::pair<uint32_t, uint32_t>{4321, 4321}));
  EXPECT_FALSE(resolve_worker_user("root"));
  EXPECT_FALSE(resolve_worker_user("0"));
  EXPECT_FALSE(resolve_worker_user("no-such-user-here"));

  TempDir dir;
  auto r = load_config(dir.file("w.ini", "[slides]\nworker_user=4321\n"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->slides_worker_user, "4321");
  std::string e = load_error(dir, "[slides]\nworker_user=root\n");
  EXPECT_NE(e.find("[slides] worker_user: 'root' is neither a user nor a uid other than root's"),
            std::string::npos)
      << e;
  e = load_error(dir, "[slides]\nworker_user=no-such-user-here\n");
  EXPECT_NE(e.find("[slides] worker_user"), std::string::npos) << e;
}
