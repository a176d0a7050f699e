// HttpRouter on a free loopback port, driven by a libsoup client on the same main loop: routes
// by method and path with {params}, JSON errors (404, 405 with Allow, 413 before the handler
// runs, 401 before an upload's body, 503 while draining), answers given later, and routes
// dropped by owner.
#include "http/http_router.hpp"

#include <gtest/gtest.h>
#include <libsoup/soup.h>

#include <string>
#include <vector>

#include "base/main_loop.hpp"

using namespace gramothi;

namespace {

struct Reply {
  unsigned status = 0;
  std::string body, allow, challenge;
};

class HttpRouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto port = router_.listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;
  }

  bool add(const std::string &method, const std::string &pattern, size_t max_body,
           HttpHandler handler, const void *owner = nullptr, std::string *why = nullptr) {
    std::string ignored;
    return router_.add_route(method, pattern, max_body, std::move(handler), owner,
                             why ? why : &ignored);
  }

  // A plain TCP connection that has sent `raw` (a request written by hand), non-blocking for
  // reading; null (and a test failure) if it cannot connect.
  GSocketConnection *send_raw(const std::string &raw) {
    GError *error = nullptr;
    g_autoptr(GSocketClient) client = g_socket_client_new();
    std::string host = "127.0.0.1:" + std::to_string(port_);
    GSocketConnection *conn =
        g_socket_client_connect_to_host(client, host.c_str(), 0, nullptr, &error);
    if (!conn) {
      ADD_FAILURE() << (error ? error->message : "connect failed");
      g_clear_error(&error);
      return nullptr;
    }
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
    EXPECT_TRUE(g_output_stream_write_all(out, raw.data(), raw.size(), nullptr, nullptr, nullptr));
    g_socket_set_blocking(g_socket_connection_get_socket(conn), FALSE);
    return conn;
  }
  Reply request(const std::string &method, const std::string &path, const std::string &body = "",
                const char *authorization = nullptr) {
    g_autoptr(SoupSession) session = soup_session_new();
    std::string url = "http://127.0.0.1:" + std::to_string(port_) + path;
    g_autoptr(SoupMessage) msg = soup_message_new(method.c_str(), url.c_str());
    if (authorization)
      soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
                                   authorization);
    if (!body.empty()) {
      g_autoptr(GBytes) bytes = g_bytes_new(body.data(), body.size());
      soup_message_set_request_body_from_bytes(msg, "application/json", bytes);
    }
    struct Ctx {
      GBytes *body = nullptr;
      bool done = false;
    } c;
    soup_session_send_and_read_async(
        session, msg, G_PRIORITY_DEFAULT, nullptr,
        [](GObject *src, GAsyncResult *res, gpointer p) {
          auto *c = static_cast<Ctx *>(p);
          c->body = soup_session_send_and_read_finish(SOUP_SESSION(src), res, nullptr);
          c->done = true;
        },
        &c);
    int64_t until = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!c.done && g_get_monotonic_time() < until)
      g_main_context_iteration(nullptr, TRUE);
    EXPECT_TRUE(c.done) << method << " " << path << " got no answer";
    Reply r;
    r.status = soup_message_get_status(msg);
    SoupMessageHeaders *h = soup_message_get_response_headers(msg);
    if (const char *allow = soup_message_headers_get_one(h, "Allow")) r.allow = allow;
    if (const char *challenge = soup_message_headers_get_one(h, "WWW-Authenticate"))
      r.challenge = challenge;
    if (c.body) {
      gsize len = 0;
      auto *data = static_cast<const char *>(g_bytes_get_data(c.body, &len));
      r.body.assign(data, len);
      g_bytes_unref(c.body);
    }
    return r;
  }

  static void reply_text(GramothiHttpExchange *ex, const std::string &text) {
    exchange_respond(ex, 200, "text/plain", text.data(), text.size());
  }

  HttpRouter router_;
  int port_ = 0;
};

TEST_F(HttpRouterTest, RoutesByMethodAndPathAndPassesParameters) {
  ASSERT_TRUE(add("GET", "/api/classes/{class_id}/slides/{n}", 0, [](GramothiHttpExchange *ex) {
    reply_text(ex, std::string(exchange_param(ex, "class_id")) + "#" + exchange_param(ex, "n"));
  }));
  ASSERT_TRUE(add("POST", "/api/classes/{class_id}/slides/{n}", 1024, [](GramothiHttpExchange *ex) {
    reply_text(ex, std::string(exchange_body(ex)));
  }));
  Reply get = request("GET", "/api/classes/math-101/slides/7");
  EXPECT_EQ(get.status, 200u);
  EXPECT_EQ(get.body, "math-101#7");
  Reply post = request("POST", "/api/classes/math-101/slides/7", R"({"a":1})");
  EXPECT_EQ(post.status, 200u);
  EXPECT_EQ(post.body, R"({"a":1})");
}

TEST_F(HttpRouterTest, UnknownPathIs404AndWrongMethodIs405NamingTheAllowedOnes) {
  ASSERT_TRUE(add("GET", "/only-get", 0, [](GramothiHttpExchange *ex) { reply_text(ex, "ok"); }));
  Reply missing = request("GET", "/nothing-here");
  EXPECT_EQ(missing.status, 404u);
  EXPECT_NE(missing.body.find(R"("code":"not_found")"), std::string::npos) << missing.body;
  Reply wrong = request("DELETE", "/only-get");
  EXPECT_EQ(wrong.status, 405u);
  EXPECT_NE(wrong.allow.find("GET"), std::string::npos) << wrong.allow;
  EXPECT_NE(wrong.body.find(R"("code":"method_not_allowed")"), std::string::npos) << wrong.body;
}

TEST_F(HttpRouterTest, ABodyOverTheRouteLimitIs413AndNeverReachesTheHandler) {
  bool called = false;
  ASSERT_TRUE(add("POST", "/small", 16, [&](GramothiHttpExchange *ex) {
    called = true;
    reply_text(ex, "ok");
  }));
  Reply big = request("POST", "/small", std::string(17, 'x'));
  EXPECT_EQ(big.status, 413u);
  EXPECT_NE(big.body.find(R"("code":"body_too_large")"), std::string::npos) << big.body;
  EXPECT_FALSE(called);
  EXPECT_EQ(request("POST", "/small", std::string(16, 'x')).status, 200u);
}

TEST_F(HttpRouterTest, AnUploadRouteWantsAValidTokenBeforeItsBody) {
  router_.set_token_check([](const char *authorization) -> std::optional<Error> {
    if (g_strcmp0(authorization, "Bearer good") == 0) return std::nullopt;
    return Error{ErrorKind::kUnauthorized, "token_invalid", "That token is no good."};
  });
  int called = 0;
  auto handler = [&](GramothiHttpExchange *ex) {
    called++;
    reply_text(ex, "stored");
  };
  ASSERT_TRUE(add("POST", "/upload", 1024 * 1024, handler));
  ASSERT_TRUE(add("POST", "/json", HttpRouter::kAuthenticatedBodyOver, handler));
  Reply refused = request("POST", "/upload", "%PDF-1.4", "Bearer bad");
  EXPECT_EQ(refused.status, 401u);
  EXPECT_EQ(refused.challenge, "Bearer");
  EXPECT_NE(refused.body.find(R"("code":"token_invalid")"), std::string::npos) << refused.body;
  EXPECT_EQ(called, 0);
  EXPECT_EQ(request("POST", "/upload", "%PDF-1.4", "Bearer good").body, "stored");
  // Small bodies: whether they need a token is the route's business.
  EXPECT_EQ(request("POST", "/json", "{}").body, "stored");
  EXPECT_EQ(called, 2);
}

TEST_F(HttpRouterTest, MalformedAndDuplicateRoutesAreRefusedWithAReason) {
  auto handler = [](GramothiHttpExchange *ex) { reply_text(ex, "ok"); };
  std::string why;
  EXPECT_FALSE(add("GET", "relative/path", 0, handler, nullptr, &why));
  EXPECT_NE(why.find("absolute"), std::string::npos) << why;
  EXPECT_FALSE(add("GET", "/a/{broken", 0, handler, nullptr, &why));
  EXPECT_NE(why.find("placeholder"), std::string::npos) << why;
  EXPECT_TRUE(add("GET", "/twice", 0, handler));
  EXPECT_FALSE(add("GET", "/twice", 0, handler, nullptr, &why));
  EXPECT_NE(why.find("already registered"), std::string::npos) << why;
}

TEST_F(HttpRouterTest, RemovingAnOwnersRoutesLeavesTheOthers) {
  int plugin_a = 0, plugin_b = 0;
  ASSERT_TRUE(add(
      "GET", "/a", 0, [](GramothiHttpExchange *ex) { reply_text(ex, "a"); }, &plugin_a));
  ASSERT_TRUE(add(
      "GET", "/b", 0, [](GramothiHttpExchange *ex) { reply_text(ex, "b"); }, &plugin_b));
  router_.remove_routes(&plugin_a);
  EXPECT_EQ(request("GET", "/a").status, 404u);
  EXPECT_EQ(request("GET", "/b").body, "b");
}

TEST_F(HttpRouterTest, AHandlerMayAnswerLater) {
  ASSERT_TRUE(add("GET", "/later", 0, [](GramothiHttpExchange *ex) {
    run_later([ex] { reply_text(ex, "answered later"); });
  }));
  Reply r = request("GET", "/later");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "answered later");
  EXPECT_EQ(router_.pending(), 0u);
}

// Issue 14: a slide image for a listener on a slow link goes at a pace, so that it never queues
// in front of the audio. The body arrives whole, no faster than the pace (a lower bound: a busy
// machine only makes it slower), and a Range request gets the whole body, not a slice of the
// part sent so far.
TEST_F(HttpRouterTest, APacedResponseArrivesWholeAndNoFasterThanItsPace) {
  std::string image(20000, '\0');
  for (size_t i = 0; i < image.size(); i++)
    image[i] = static_cast<char>(i * 7 + i / 256);
  ASSERT_TRUE(add("GET", "/paced", 0, [&image](GramothiHttpExchange *ex) {
    exchange_set_pace(ex, 10000);  // bytes per second
    exchange_respond(ex, 200, "image/webp", image.data(), image.size());
  }));
  int64_t t0 = g_get_monotonic_time();
  Reply r = request("GET", "/paced");
  int64_t took_ms = (g_get_monotonic_time() - t0) / 1000;
  EXPECT_EQ(r.status, 200u);
  EXPECT_TRUE(r.body == image) << "got " << r.body.size() << " bytes";
  EXPECT_GE(took_ms, 1500) << "20000 bytes at 10000 B/s";

  g_autoptr(SoupSession) session = soup_session_new();
  std::string url = "http://127.0.0.1:" + std::to_string(port_) + "/paced";
  g_autoptr(SoupMessage) msg = soup_message_new("GET", url.c_str());
  soup_message_headers_replace(soup_message_get_request_headers(msg), "Range", "bytes=0-99");
  GBytes *body = nullptr;
  bool done = false;
  soup_session_send_and_read_async(
      session, msg, G_PRIORITY_DEFAULT, nullptr,
      [](GObject *src, GAsyncResult *res, gpointer p) {
        auto **out = static_cast<GBytes **>(p);
        *out = soup_session_send_and_read_finish(SOUP_SESSION(src), res, nullptr);
      },
      &body);
  int64_t until = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  while (!body && g_get_monotonic_time() < until)
    g_main_context_iteration(nullptr, TRUE);
  (void)done;
  ASSERT_TRUE(body);
  EXPECT_EQ(soup_message_get_status(msg), 200u);
  EXPECT_EQ(g_bytes_get_size(body), image.size());
  g_bytes_unref(body);
}

// At a slow pace the body goes in slices of at least 600 bytes, not a tenth of a second's
// worth: 120-byte slices would each carry 52 bytes of TCP/IP headers the pace does not see. The
// pace counts those headers.
TEST_F(HttpRouterTest, ASlowPaceSendsFewSlicesAndCountsTheirHeaders) {
  std::string image(3000, 'x');
  ASSERT_TRUE(add("GET", "/slow", 0, [&image](GramothiHttpExchange *ex) {
    exchange_set_pace(ex, 1200);
    exchange_respond(ex, 200, "image/webp", image.data(), image.size());
  }));
  int64_t t0 = g_get_monotonic_time();
  g_autoptr(GSocketConnection) conn = send_raw("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(conn);
  GSocket *sock = g_socket_connection_get_socket(conn);
  std::string got;
  std::vector<size_t> reads;
  int64_t until = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
  char buf[8192];
  auto body_done = [&] {
    size_t end = got.find("\r\n\r\n");
    return end != std::string::npos && got.size() - end - 4 >= image.size();
  };
  while (!body_done() && g_get_monotonic_time() < until) {
    g_main_context_iteration(nullptr, FALSE);
    gssize n = g_socket_receive(sock, buf, sizeof buf, nullptr, nullptr);
    if (n > 0) {
      got.append(buf, static_cast<size_t>(n));
      reads.push_back(static_cast<size_t>(n));
    } else {
      g_usleep(1000);
    }
  }
  int64_t took_ms = (g_get_monotonic_time() - t0) / 1000;
  ASSERT_TRUE(body_done()) << got.size() << " bytes";
  // The headers and five slices of 600 bytes (a busy machine only merges reads): every read
  // between the first (the headers, perhaps alone) and the last holds at least a slice.
  EXPECT_LE(reads.size(), 6u) << "slices of a tenth of a second would take ~25 reads";
  for (size_t i = 1; i + 1 < reads.size(); i++)
    EXPECT_GE(reads[i], 600u) << "read " << i;
  // A slice and its 52 header bytes every 652 / 1200 s: the last of five slices 2.17 s after
  // the first (2 s if the headers were not counted).
  EXPECT_GE(took_ms, 2150) << "3000 bytes at 1200 B/s, 52 bytes of headers per slice";
}

// A client that goes away in the middle of a paced body costs nothing more: the rest is never
// sent and the next request is served.
TEST_F(HttpRouterTest, AClientLeavingDuringAPacedBodyEndsIt) {
  std::string image(50000, 'x');
  ASSERT_TRUE(add("GET", "/paced", 0, [&image](GramothiHttpExchange *ex) {
    exchange_set_pace(ex, 5000);
    exchange_respond(ex, 200, "image/webp", image.data(), image.size());
  }));
  ASSERT_TRUE(add("GET", "/x", 0, [](GramothiHttpExchange *ex) { reply_text(ex, "x"); }));
  g_autoptr(GSocketConnection) conn = send_raw("GET /paced HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(conn);
  // Wait until some of the body has come, then hang up.
  GSocket *sock = g_socket_connection_get_socket(conn);
  size_t got = 0;
  int64_t until = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  char buf[4096];
  while (got < 1000 && g_get_monotonic_time() < until) {
    g_main_context_iteration(nullptr, FALSE);
    gssize n = g_socket_receive(sock, buf, sizeof buf, nullptr, nullptr);
    if (n > 0) got += static_cast<size_t>(n);
  }
  ASSERT_GE(got, 1000u);
  g_io_stream_close(G_IO_STREAM(conn), nullptr, nullptr);
  // Let the server notice, then ask again.
  for (int i = 0; i < 50; i++)
    g_main_context_iteration(nullptr, FALSE);
  EXPECT_EQ(request("GET", "/x").body, "x");
}

TEST_F(HttpRouterTest, WhileDrainingNewRequestsGet503) {
  ASSERT_TRUE(add("GET", "/x", 0, [](GramothiHttpExchange *ex) { reply_text(ex, "x"); }));
  EXPECT_EQ(request("GET", "/x").status, 200u);
  router_.drain();
  Reply r = request("GET", "/x");
  EXPECT_EQ(r.status, 503u);
  EXPECT_NE(r.body.find("\"error\""), std::string::npos) << r.body;
}

}  // namespace
