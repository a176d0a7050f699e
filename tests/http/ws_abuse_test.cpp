// The class WebSocket under abuse, against the real server and real sockets: a flood gets at
// most one rate_limited answer a second and, sustained, a 1008 close; a socket that never
// authenticates gets a few errors and is closed; presence reaches each socket at a bounded rate
// however many join, as counts to students and as a list only to teachers; a socket is closed
// when its token expires unless it renewed it; a token in the URL is refused; one user cannot
// hold many sockets in a class. Every wait has a deadline (the machine may be busy).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "../http/server_process.hpp"
#include "../media/ws_connect.hpp"
#include "auth/jwt.hpp"
#include "raw_socket.hpp"

using namespace gramothi;

namespace {

const std::string kSecret = "ws-abuse-secret-0123456789abcdef-0123456";
const std::string kClass = "abuse";
constexpr int kRate = 10;  // rate_per_second in the server's config: bursts of 50

// Granted the test's classes.
std::string token(const std::string &user, Role role) {
  return test_token(kSecret, user, role, {kClass, "crowd"});
}

// A token that expires `seconds` from now.
std::string short_token(const std::string &user, Role role, int seconds) {
  int64_t now = g_get_real_time() / G_USEC_PER_SEC;
  TokenClaims c{user, role, now, now + seconds};
  (role == Role::kStudent ? c.classes : c.teaches) = {kClass};
  return JwtCodec(kSecret).sign(c);
}

double seconds_since(int64_t start_us) {
  return static_cast<double>(g_get_monotonic_time() - start_us) / 1e6;
}

// Sends `text` `per_second` times a second, evenly, for `duration_ms` or until `stop()`.
void send_paced(
    WsClient &ws, const std::string &text, int per_second, int duration_ms,
    const std::function<bool()> &stop = [] { return false; }) {
  int64_t start = g_get_monotonic_time();
  int64_t step = G_USEC_PER_SEC / per_second;
  for (int64_t next = start; next < start + int64_t{duration_ms} * 1000; next += step) {
    spin_until([&] { return g_get_monotonic_time() >= next; }, 1000);
    if (stop() || ws.closed()) return;
    ws.send(text);
  }
}

// Sends a message that is answered with not_listening until it is answered (it may be dropped
// for the rate): messages are handled in order, so everything sent before was handled then.
bool drained(WsClient &ws) {
  size_t before = ws.received("error:not_listening");
  return spin_until(
      [&] {
        ws.send("{\"type\":\"profile\",\"profile\":\"low\"}");
        return spin_until([&] { return ws.received("error:not_listening") > before; }, 300);
      },
      20000);
}

class WsAbuseTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_autofree char *d = g_dir_make_tmp("gramothi-ws-abuse-XXXXXX", nullptr);
    dir_ = d;
    std::string config = "[server]\nlisten_address=127.0.0.1\nport=0\n[storage]\ndata_dir=" + dir_ +
                         "/data\n[auth]\njwt_secret=" + kSecret +
                         "\n[media]\nenabled=false\n[plugins]\nload=rest;signaling\ndir=" +
                         g_getenv("GRAMOTHI_PLUGIN_DIR") +
                         "\n[plugin.signaling]\nrate_per_second=" + std::to_string(kRate) + "\n";
    std::string path = dir_ + "/gramothi.ini";
    g_file_set_contents(path.c_str(), config.c_str(), -1, nullptr);
    server_ = new ServerProcess();
    server_->start(path, dir_ + "/server.log", "info");
    HttpClient http(server_->base());
    auto r = http.post("/api/v1/streaming/start", token("teacher-1", Role::kTeacher),
                       "{\"class_id\":\"" + kClass + "\"}");
    ASSERT_EQ(r.status, 200u) << r.body;
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(server_->stop(), 0) << server_->log();
    delete server_;
    std::string cmd = "rm -rf '" + dir_ + "'";
    if (system(cmd.c_str()) != 0) g_warning("cannot remove %s", dir_.c_str());
  }
  std::unique_ptr<WsClient> connect(const std::string &user, Role role) {
    return connect_authenticated(server_->port(), kClass, token(user, role), user);
  }
  // Waits for the socket to close; false at the deadline.
  static bool closes(WsClient &ws, int timeout_ms) {
    return spin_until([&] { return ws.closed(); }, timeout_ms);
  }

  static ServerProcess *server_;
  static std::string dir_;
};
ServerProcess *WsAbuseTest::server_ = nullptr;
std::string WsAbuseTest::dir_;

}  // namespace

// 4 × the rate for 3 s: the burst passes, most of the rest is dropped, and the client hears
// about it at most once a second; the socket stays open (4 × is not a flood that closes).
TEST_F(WsAbuseTest, OverTheRateAtMostOneRateLimitedAnswerASecond) {
  auto ws = connect("student-rate", Role::kStudent);
  int64_t start = g_get_monotonic_time();
  send_paced(*ws, "{\"type\":\"ping\"}", 4 * kRate, 3000);
  ASSERT_TRUE(drained(*ws)) << server_->log();
  double elapsed = seconds_since(start);
  size_t limited = ws->received("error:rate_limited"), pongs = ws->received("pong");
  EXPECT_GE(limited, 1u) << "the client is told it was limited";
  EXPECT_LE(static_cast<double>(limited), std::ceil(elapsed) + 1)
      << limited << " rate_limited answers in " << elapsed << " s";
  EXPECT_GE(pongs, static_cast<size_t>(5 * kRate)) << "the burst passes";
  EXPECT_LT(pongs, static_cast<size_t>(4 * kRate * 3)) << "nothing was dropped";
  EXPECT_FALSE(ws->closed()) << "closed with " << ws->close_code() << " " << ws->close_reason();
}

// 10 × the rate, kept up: the socket is closed with 1008 within seconds, and until then it got
// at most one rate_limited a second.
TEST_F(WsAbuseTest, ASustainedFloodIsClosedWith1008) {
  auto ws = connect("student-flood", Role::kStudent);
  int64_t start = g_get_monotonic_time();
  send_paced(*ws, "{\"type\":\"ping\"}", 10 * kRate, 20000);
  ASSERT_TRUE(closes(*ws, 5000)) << "still open after a 20 s flood at 10 × the rate";
  double elapsed = seconds_since(start);
  EXPECT_EQ(ws->close_code(), 1008);
  EXPECT_EQ(ws->close_reason(), "rate_limited");
  EXPECT_LE(elapsed, 15.0) << "closed only after " << elapsed << " s";
  EXPECT_LE(static_cast<double>(ws->received("error:rate_limited")), std::ceil(elapsed) + 1);
}

// Thousands of frames as fast as they go, never authenticating: a few answers, then the socket
// is closed (before: one answer per frame).
TEST_F(WsAbuseTest, AnUnauthenticatedFloodGetsAFewAnswersAndIsClosed) {
  WsClient ws(server_->port(), kClass);
  ASSERT_TRUE(ws.connected()) << ws.error();
  for (int i = 0; i < 5000 && !ws.closed(); i++) {
    ws.send("{\"type\":\"listen\"}");
    if (i % 100 == 0) g_main_context_iteration(nullptr, FALSE);
  }
  ASSERT_TRUE(closes(ws, 10000));
  EXPECT_EQ(ws.close_code(), 4401);
  EXPECT_EQ(ws.close_reason(), "not_authenticated");
  EXPECT_EQ(ws.received("error"), static_cast<size_t>(3));
  EXPECT_EQ(ws.received("error:not_authenticated"), static_cast<size_t>(3));
}

// A few mistakes before authentication are answered and forgiven.
TEST_F(WsAbuseTest, AFewMistakesBeforeAuthenticationAreAnswered) {
  WsClient ws(server_->port(), kClass);
  ws.send("{\"type\":\"listen\"}");
  ws.send("{\"type\":\"authenticate\"}");
  WsMessage m;
  ASSERT_TRUE(ws.wait_for("error", &m));
  EXPECT_EQ(m.str("code"), "not_authenticated");
  ASSERT_TRUE(ws.wait_for("error", &m));
  EXPECT_EQ(m.str("code"), "missing_field");
  ws.send(json_msg("authenticate", {{"token", token("student-slow", Role::kStudent)}}));
  ASSERT_TRUE(ws.wait_for("authenticated", nullptr));
  EXPECT_FALSE(ws.closed());
}

// K students and a teacher join one class. Each socket gets presence at most about once a
// second however many join (before: one message per join, to every socket), as counts without
// names; the students never see a list of people; the teacher gets the list.
TEST_F(WsAbuseTest, PresenceIsCoalescedAndTheListGoesOnlyToTeachers) {
  constexpr int kStudents = 200;
  const std::string room = "crowd";
  {
    HttpClient http(server_->base());
    auto r = http.post("/api/v1/streaming/start", token("teacher-1", Role::kTeacher),
                       "{\"class_id\":\"" + room + "\"}");
    ASSERT_EQ(r.status, 200u) << r.body;
  }
  auto teacher =
      connect_authenticated(server_->port(), room, token("teacher-1", Role::kTeacher), "teacher");
  int64_t start = g_get_monotonic_time();
  std::vector<std::unique_ptr<WsClient>> students;
  std::vector<int64_t> joined_at;
  for (int i = 0; i < kStudents; i++) {
    std::string user = "crowd-" + std::to_string(1000 + i);
    joined_at.push_back(g_get_monotonic_time());
    students.push_back(
        std::make_unique<WsClient>(server_->port(), room, token(user, Role::kStudent)));
    ASSERT_TRUE(students.back()->connected()) << students.back()->error();
  }
  for (auto &s : students)
    ASSERT_TRUE(s->wait_for("authenticated", nullptr, 20000));
  // Everyone is in once the teacher's list has them all and the first student counts them.
  std::string last_list;
  ASSERT_TRUE(spin_until(
      [&] {
        for (const std::string &text : teacher->take_all("listeners"))
          last_list = text;
        return last_list.find("crowd-" + std::to_string(1000 + kStudents - 1)) != std::string::npos;
      },
      30000))
      << "the teacher's last list: " << last_list.substr(0, 300);
  std::string last_presence;
  ASSERT_TRUE(spin_until(
      [&] {
        for (const std::string &text : students[0]->take_all("presence"))
          last_presence = text;
        return last_presence.find("\"connected\":" + std::to_string(kStudents + 1)) !=
               std::string::npos;
      },
      30000))
      << "the first student's last presence: " << last_presence;
  double elapsed = seconds_since(start);

  size_t first_count = students[0]->received("presence");
  EXPECT_LE(static_cast<double>(first_count), elapsed + 2)
      << first_count << " presence messages in " << elapsed << " s while " << kStudents
      << " joined";
  EXPECT_LE(static_cast<double>(teacher->received("listeners")), elapsed + 3);
  EXPECT_LE(static_cast<double>(teacher->received("presence")), elapsed + 2);
  // Per student: presence at most about once a second since it joined, never a name, never
  // the roster.
  int too_many = 0, named = 0, rostered = 0;
  std::string example;
  for (int i = 0; i < kStudents; i++) {
    double window = seconds_since(joined_at[i]);
    if (static_cast<double>(students[i]->received("presence")) > window + 2) too_many++;
    if (students[i]->received("listeners") > 0) rostered++;
    for (const std::string &text : students[i]->take_all("presence"))
      if (text.find("user_id") != std::string::npos || text.find("crowd-") != std::string::npos) {
        named++;
        example = text;
        break;
      }
  }
  EXPECT_EQ(too_many, 0) << "students with more presence messages than seconds + 2";
  EXPECT_EQ(named, 0) << "students told who joined, e.g. " << example;
  EXPECT_EQ(rostered, 0) << "students who got the teachers' list";
  EXPECT_NE(last_presence.find("\"teacher_live\":false"), std::string::npos) << last_presence;
  EXPECT_EQ(last_presence.find("crowd-"), std::string::npos) << last_presence;

  // The teacher's list names every student (it holds up to 500).
  g_autoptr(JsonParser) p = json_parser_new();
  ASSERT_TRUE(json_parser_load_from_data(p, last_list.c_str(), -1, nullptr));
  JsonObject *list = json_node_get_object(json_parser_get_root(p));
  JsonArray *people = json_object_get_array_member(list, "people");
  ASSERT_EQ(json_array_get_length(people), static_cast<guint>(kStudents));
  EXPECT_STREQ(json_object_get_string_member(json_array_get_object_element(people, 0), "user_id"),
               "crowd-1000");
  EXPECT_EQ(json_object_get_int_member_with_default(list, "listening", -1), 0);

  // One leaves: the others hear the new count.
  students.pop_back();
  ASSERT_TRUE(spin_until(
      [&] {
        for (const std::string &text : students[0]->take_all("presence"))
          last_presence = text;
        return last_presence.find("\"connected\":" + std::to_string(kStudents)) !=
               std::string::npos;
      },
      10000))
      << last_presence;
}

// A socket lives as long as its token: closed with 4401 token_expired when it expires, unless a
// new token for the same user came before. A token for someone else does not renew it.
TEST_F(WsAbuseTest, ASocketIsClosedWhenItsTokenExpiresUnlessRenewed) {
  constexpr int kLife = 3;
  auto plain = connect_authenticated(server_->port(), kClass,
                                     short_token("student-exp", Role::kStudent, kLife), "plain");
  auto renewed = connect_authenticated(
      server_->port(), kClass, short_token("student-renew", Role::kStudent, kLife), "renewed");
  auto stranger = connect_authenticated(
      server_->port(), kClass, short_token("student-other", Role::kStudent, kLife), "stranger");
  int64_t expires_at = g_get_real_time() / G_USEC_PER_SEC + kLife;

  renewed->send(json_msg("authenticate", {{"token", token("student-renew", Role::kStudent)}}));
  WsMessage m;
  ASSERT_TRUE(renewed->wait_for("token-renewed", &m));
  EXPECT_GT(std::stoll(m.str("expires_at")), expires_at + 3000);
  stranger->send(json_msg("authenticate", {{"token", token("student-renew", Role::kStudent)}}));
  ASSERT_TRUE(stranger->wait_for("error", &m));
  EXPECT_EQ(m.str("code"), "token_mismatch");
  EXPECT_EQ(m.str("about"), "authenticate");
  stranger->send(json_msg("authenticate", {{"token", "not-a-token"}}));
  ASSERT_TRUE(stranger->wait_for("error", &m));
  EXPECT_EQ(m.str("code"), "token_invalid");
  EXPECT_FALSE(stranger->closed()) << "a bad new token leaves the socket on its old one";

  for (WsClient *ws : {plain.get(), stranger.get()}) {
    ASSERT_TRUE(closes(*ws, (kLife + 10) * 1000)) << "still open after the token expired";
    EXPECT_EQ(ws->close_code(), 4401);
    EXPECT_EQ(ws->close_reason(), "token_expired");
    EXPECT_EQ(ws->received("error:token_expired"), 1u);
  }
  // By now the first token has expired; the renewed socket stays (checked for 2 s more).
  EXPECT_GE(g_get_real_time() / G_USEC_PER_SEC, expires_at);
  EXPECT_FALSE(closes(*renewed, 2000)) << renewed->close_code() << " " << renewed->close_reason();
  renewed->send("{\"type\":\"ping\"}");
  EXPECT_TRUE(renewed->wait_for("pong", nullptr));
}

// A browser's way to authenticate with the upgrade: the token as a subprotocol beside
// "gramothi", which the server chooses. `authenticated` comes without a message sent; a bad
// token is refused as in `authenticate`; "gramothi" alone leaves the message way open.
TEST_F(WsAbuseTest, ATokenAmongTheSubprotocolsAuthenticatesWithTheUpgrade) {
  WsClient ws(server_->port(), kClass, "", "",
              {"gramothi", "gramothi.bearer." + token("student-proto", Role::kStudent)});
  ASSERT_TRUE(ws.connected()) << ws.error();
  EXPECT_EQ(ws.protocol(), "gramothi");
  WsMessage m;
  ASSERT_TRUE(ws.wait_for("authenticated", &m));
  EXPECT_EQ(m.str("user_id"), "student-proto") << m.text;
  ws.send("{\"type\":\"ping\"}");
  EXPECT_TRUE(ws.wait_for("pong", nullptr));

  WsClient bad(server_->port(), kClass, "", "", {"gramothi", "gramothi.bearer.not-a-token"});
  ASSERT_TRUE(bad.connected()) << bad.error();
  ASSERT_TRUE(bad.wait_for("error", &m));
  EXPECT_EQ(m.str("code"), "token_invalid");
  EXPECT_EQ(m.str("about"), "authenticate");
  ASSERT_TRUE(closes(bad, 5000));
  EXPECT_EQ(bad.close_code(), 4401);
  EXPECT_EQ(bad.received("authenticated"), 0u);

  WsClient plain(server_->port(), kClass, token("student-plain", Role::kStudent), "", {"gramothi"});
  ASSERT_TRUE(plain.connected()) << plain.error();
  EXPECT_EQ(plain.protocol(), "gramothi");
  EXPECT_TRUE(plain.wait_for("authenticated", nullptr));
}

// A list header may come split over lines (proxies may split it): the token is found on any line.
TEST_F(WsAbuseTest, ASubprotocolListSplitOverTwoHeaderLinesStillCarriesTheToken) {
  RawSocket raw("127.0.0.1", server_->port());
  ASSERT_TRUE(raw.connected());
  std::string request = "GET /api/v1/streaming/ws/" + kClass +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
                        "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Protocol: gramothi.bearer." +
                        token("student-split", Role::kStudent) +
                        "\r\nSec-WebSocket-Protocol: gramothi\r\n\r\n";
  ASSERT_TRUE(raw.send_all(request));
  // The 101, then (unmasked server frames) the `authenticated` text.
  ASSERT_TRUE(raw.read_until(
      [](const std::string &r) { return r.find("\"authenticated\"") != std::string::npos; }, 10000))
      << raw.received();
  EXPECT_EQ(raw.received().rfind("HTTP/1.1 101", 0), 0u) << raw.received();
  EXPECT_NE(raw.received().find("student-split"), std::string::npos);
}

// A message sent right behind `authenticate`, while the token and the class are being checked,
// waits for the check and is handled after `authenticated` (not refused as not_authenticated).
TEST_F(WsAbuseTest, AMessageSentWhileTheTokenIsCheckedWaitsForIt) {
  WsClient ws(server_->port(), kClass, token("student-eager", Role::kStudent));
  ASSERT_TRUE(ws.connected()) << ws.error();
  ws.send(json_msg("chat-message", {{"text", "sent at once"}}));
  WsMessage m;
  ASSERT_TRUE(ws.wait_for("authenticated", &m));
  ASSERT_TRUE(ws.wait_for("chat-message", &m));
  EXPECT_NE(m.text.find("sent at once"), std::string::npos) << m.text;
  EXPECT_EQ(ws.received("error:not_authenticated"), 0u);
}

// ?token= on the socket's URL is refused with a message that says where the token goes.
TEST_F(WsAbuseTest, ATokenInTheUrlIsRefused) {
  WsClient ws(server_->port(), kClass, "", "?token=" + token("student-url", Role::kStudent));
  ASSERT_TRUE(ws.connected()) << ws.error();
  WsMessage m;
  ASSERT_TRUE(ws.wait_for("error", &m));
  EXPECT_EQ(m.str("code"), "token_in_url");
  EXPECT_NE(m.str("message").find("authenticate"), std::string::npos) << m.text;
  ASSERT_TRUE(closes(ws, 5000));
  EXPECT_EQ(ws.close_code(), 4401);
  EXPECT_EQ(ws.close_reason(), "token_in_url");
  EXPECT_EQ(ws.received("authenticated"), 0u);
}

// One user holds at most 5 sockets in a class: a 6th closes the oldest with 4409.
TEST_F(WsAbuseTest, OneUserHoldsAtMostFiveSocketsInAClass) {
  std::vector<std::unique_ptr<WsClient>> mine;
  for (int i = 0; i < 6; i++)
    mine.push_back(connect("student-tabs", Role::kStudent));
  ASSERT_TRUE(closes(*mine[0], 5000));
  EXPECT_EQ(mine[0]->close_code(), 4409);
  EXPECT_EQ(mine[0]->close_reason(), "too_many_sockets");
  for (int i = 1; i < 6; i++) {
    mine[i]->send("{\"type\":\"ping\"}");
    EXPECT_TRUE(mine[i]->wait_for("pong", nullptr)) << "socket " << i;
    EXPECT_FALSE(mine[i]->closed()) << "socket " << i;
  }
}

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
