// The browser pages as the server serves them: the landing page, gzip for clients that accept
// it, ETag revalidation, and no file outside web/.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <vector>

#include "http/web_pages.hpp"
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

// Issue 19: on 2G every request costs a round trip or two before its bytes. The student page
// (and the teacher's) is one response: its stylesheet and scripts inlined without their
// comments, and nothing from outside the server. The student's is at most 10.5 KB on the wire
// (at 2G's 6 KB/s every kilobyte is a sixth of a second before the Join button): what it needs
// only once it is ready comes later, in class-later.js.
TEST_F(WebTest, TheStudentPageIsOneResponseOfAtMost10AndAHalfKB) {
  for (const std::string page : {"/class/physics-101", "/teach/physics-101"}) {
    std::string html = HttpClient(server_.base()).get(page).body;
    EXPECT_NE(html.find("<style>"), std::string::npos) << page;
    EXPECT_NE(html.find("<script>"), std::string::npos) << page;
    EXPECT_NE(html.find("class SlideView"), std::string::npos) << page << ": live.js inlined";
    EXPECT_EQ(html.find("src=\"/web/"), std::string::npos) << page << " loads a script";
    EXPECT_EQ(html.find("href=\"/web/"), std::string::npos) << page << " loads a stylesheet";
    for (const char *outside : {"src=\"http", "href=\"http", "url(http", "src=\"//", "href=\"//"})
      EXPECT_EQ(html.find(outside), std::string::npos)
          << page << " loads from outside: " << outside;
    // Whole-line comments are left out (the sources are generously commented).
    EXPECT_EQ(html.find("\n// "), std::string::npos) << page;
    std::string response = raw_get(server_.port(), page);
    EXPECT_NE(lower_head(response).find("content-encoding: gzip"), std::string::npos) << page;
    g_print("%s: %zu bytes on the wire, %zu unpacked\n", page.c_str(), response.size(),
            html.size());
    if (page.rfind("/class/", 0) == 0) {
      EXPECT_LE(response.size(), 10u * 1024 + 512);
      EXPECT_EQ(html.find("class Chat"), std::string::npos) << "chat comes later";
    }
  }
  // The files stay where they were, for whoever links them.
  EXPECT_EQ(HttpClient(server_.base()).get("/web/live.js").status, 200u);
  // The student page's second part: minified like what is inlined, also when paced for a
  // profile (?pace=, as the page asks for it on a slow link).
  for (const char *later : {"/web/live-extra.js", "/web/class-later.js?pace=2g"}) {
    auto r = HttpClient(server_.base()).get(later);
    EXPECT_EQ(r.status, 200u) << later;
    EXPECT_NE(r.body.find("GL"), std::string::npos) << later;
    EXPECT_EQ(r.body.find("\n// "), std::string::npos) << later << " is not minified";
  }
}

TEST(WebMinify, OnlyWhatIsSafeWithoutParsingGoes) {
  EXPECT_EQ(gramothi::WebPages::minify_js("// a\n  const x = 1;  // gone\n\n    // b\nf(x);\n"),
            "const x = 1;\nf(x);\n");
  // A comment after code goes only when nothing before it could open a string or a regular
  // expression (a quote or a slash).
  EXPECT_EQ(gramothi::WebPages::minify_js("f('a');  // kept\nx = a / b;  // kept\n"),
            "f('a');  // kept\nx = a / b;  // kept\n");
  // A template literal or a continued string may span lines: the script is left alone.
  std::string tpl = "const t = `a\n  // not a comment\n`;\n";
  EXPECT_EQ(gramothi::WebPages::minify_js(tpl), tpl);
  std::string cont = "const s = 'a\\\n  // b';\n";
  EXPECT_EQ(gramothi::WebPages::minify_js(cont), cont);
  EXPECT_EQ(gramothi::WebPages::minify_css("/* a */\n  .x { content: \"/* b */\"; }\n\n"),
            ".x { content: \"/* b */\"; }\n");
}

TEST(WebMinify, AFileThatWouldEndItsElementEarlyStaysAReference) {
  std::map<std::string, std::string> files = {
      {"a.js", "// c\nx();\n"}, {"b.js", "s = '</SCRIPT>';\n"}, {"c.css", "p { color: red }\n"}};
  std::string html =
      "<head><link rel=\"stylesheet\" href=\"/web/c.css\"></head><body>"
      "<script src=\"/web/a.js\"></script><script src=\"/web/b.js\"></script>"
      "<script src=\"/web/none.js\"></script><script>\n  // own\n  y();\n</script></body>";
  EXPECT_EQ(gramothi::WebPages::inline_assets(html, files),
            "<head><style>\np { color: red }\n</style></head><body><script>\nx();\n</script>"
            "<script src=\"/web/b.js\"></script><script src=\"/web/none.js\"></script>"
            "<script>\ny();\n</script></body>");
}
