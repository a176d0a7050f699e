// The browser pages as the server serves them: the landing page, gzip for clients that accept
// it, ETag revalidation, and no file outside web/.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "server_process.hpp"

namespace {

class WebTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_autofree char *d = g_dir_make_tmp("gramothi-web-XXXXXX", nullptr);
    dir_ = d;
    std::string config = "[server]\nlisten_address=127.0.0.1\nport=0\n[storage]\ndata_dir=" + dir_ +
                         "/data\n[media]\nenabled=false\n[plugins]\nload=rest\ndir=" +
                         g_getenv("GRAMOTHI_PLUGIN_DIR") + "\n";
    std::string path = dir_ + "/gramothi.ini";
    g_file_set_contents(path.c_str(), config.c_str(), -1, nullptr);
    server_.start(path, dir_ + "/server.log");
  }
  void TearDown() override {
    EXPECT_EQ(server_.stop(), 0) << server_.log();
    std::string cmd = "rm -rf '" + dir_ + "'";
    if (system(cmd.c_str()) != 0) g_warning("cannot remove %s", dir_.c_str());
  }
  std::string dir_;
  ServerProcess server_;
};

}  // namespace

TEST_F(WebTest, TheLandingPageIsSmallCompressedAndRevalidated) {
  HttpClient http(server_.base());
  HttpResponse plain =
      http.request("GET", "/", "", nullptr, nullptr, {{"Accept-Encoding", "identity"}});
  ASSERT_EQ(plain.status, 200u);
  EXPECT_EQ(plain.content_type, "text/html");
  EXPECT_NE(plain.body.find("GramOthi Live"), std::string::npos);
  EXPECT_NE(plain.body.find("/class/"), std::string::npos) << "it explains where students go";
  EXPECT_EQ(plain.headers["cache-control"], "no-cache");
  EXPECT_EQ(plain.headers.count("content-encoding"), 0u);
  std::string etag = plain.headers["etag"];
  ASSERT_FALSE(etag.empty());

  HttpResponse again = http.request("GET", "/", "", nullptr, nullptr, {{"If-None-Match", etag}});
  EXPECT_EQ(again.status, 304u);
  EXPECT_TRUE(again.body.empty());

  // No asset from outside the server, and small for a 2G phone.
  EXPECT_EQ(plain.body.find("http://"), std::string::npos);
  EXPECT_EQ(plain.body.find("https://"), std::string::npos);
  EXPECT_LT(plain.body.size(), 30u * 1024);

  EXPECT_EQ(http.get("/web/index.html").status, 200u);
  EXPECT_EQ(http.get("/web/nope.js").status, 404u);
  unsigned escape = http.get("/web/..%2Fmeson.build").status;
  EXPECT_TRUE(escape == 400u || escape == 404u) << escape;
}

// One GET over a raw socket, as a browser that accepts gzip sends it: libsoup's client would
// decode gzip for us and hide the header. Returns the whole response as it came off the wire.
std::string raw_get(int port, const std::string &path) {
  GSocketClient *client = g_socket_client_new();
  GSocketConnection *conn =
      g_socket_client_connect_to_host(client, "127.0.0.1", port, nullptr, nullptr);
  std::string response;
  if (conn) {
    std::string req = "GET " + path +
                      " HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n";
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
    g_output_stream_write_all(out, req.data(), req.size(), nullptr, nullptr, nullptr);
    GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
    char buf[4096];
    gssize n;
    while ((n = g_input_stream_read(in, buf, sizeof buf, nullptr, nullptr)) > 0)
      response.append(buf, static_cast<size_t>(n));
    g_object_unref(conn);
  }
  g_object_unref(client);
  return response;
}

std::string lower_head(const std::string &response) {
  g_autofree char *lower =
      g_ascii_strdown(response.c_str(), static_cast<gssize>(response.find("\r\n\r\n")));
  return lower;
}

TEST_F(WebTest, ClientsThatAcceptGzipGetIt) {
  std::string response = raw_get(server_.port(), "/");
  std::string head = lower_head(response);
  EXPECT_NE(head.find("content-encoding: gzip"), std::string::npos) << head;
  std::string body = response.substr(response.find("\r\n\r\n") + 4);
  ASSERT_GE(body.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(body[0]), 0x1f);  // gzip magic (not chunked: one write)
  EXPECT_EQ(static_cast<unsigned char>(body[1]), 0x8b);
}

// The student page's first load, everything it references included, is at most 30 KB on the
// wire, and nothing comes from outside the server.
TEST_F(WebTest, TheStudentPageFirstLoadIsAtMost30KB) {
  for (const std::string page : {"/class/physics-101", "/teach/physics-101"}) {
    std::string html = HttpClient(server_.base()).get(page).body;
    ASSERT_NE(html.find("<script"), std::string::npos) << page;
    size_t wire = raw_get(server_.port(), page).size();
    std::vector<std::string> assets;
    for (const char *attr : {"src=\"", "href=\""}) {
      for (size_t at = html.find(attr); at != std::string::npos; at = html.find(attr, at + 1)) {
        size_t start = at + strlen(attr);
        std::string url = html.substr(start, html.find('"', start) - start);
        EXPECT_TRUE(url.rfind("/web/", 0) == 0 || url.rfind("data:", 0) == 0)
            << page << " loads " << url << " from outside the server";
        if (url.rfind("/web/", 0) == 0) assets.push_back(url);
      }
    }
    EXPECT_GE(assets.size(), 3u) << page;  // the stylesheet and two scripts
    for (const auto &a : assets) {
      std::string r = raw_get(server_.port(), a);
      EXPECT_NE(r.find(" 200 "), std::string::npos) << a;
      EXPECT_NE(lower_head(r).find("content-encoding: gzip"), std::string::npos) << a;
      wire += r.size();
    }
    g_print("%s: %zu bytes on the first load\n", page.c_str(), wire);
    if (page.rfind("/class/", 0) == 0) {
      EXPECT_LE(wire, 30u * 1024);
    }
  }
}
