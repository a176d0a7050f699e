#include "plugin_host/plugin_host.hpp"
#include "storage/migrations.hpp"

#include <gtest/gtest.h>
#include <libsoup/soup.h>

#include "domain/class_registry.hpp"
#include "gramothi/plugin.h"
#include "common/temp_dir.hpp"

using namespace gramothi;

namespace {

std::string plugin_path(const std::string &name) {
  return std::string(TEST_PLUGIN_DIR) + "/gramothi-" + name + "." + G_MODULE_SUFFIX;
}

// A host with real parts: an HTTP router on a free loopback port, an event bus, and a class
// registry over SQLite in a temporary directory.
class PluginHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.plugin_settings["good"]["greeting"] = "namaste";
    auto profiles =
        ProfileSet::load(std::string(g_getenv("GRAMOTHI_SOURCE_ROOT")) + "/pipelines/profiles.ini");
    ASSERT_TRUE(profiles.ok());
    profiles_ = std::move(*profiles);
    auto db = open_sqlite(dir_.path() + "/test.db");
    migrate(*db);
    worker_ = std::make_unique<StorageWorker>(std::move(db), nullptr, g_main_context_default());
    classes_ = std::make_unique<ClassRegistry>(*worker_, bus_, profiles_);
    auto port = router_.listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok());
    port_ = *port;
    HostServices s;
    s.config = &config_;
    s.profiles = &profiles_;
    s.jwt = &jwt_;
    s.router = &router_;
    s.bus = &bus_;
    s.classes = classes_.get();
    s.storage_backend = "sqlite";
    host_ = std::make_unique<PluginHost>(s);
  }

  void TearDown() override {
    worker_.reset();
    host_.reset();
  }

  // GET path on our server; returns "STATUS BODY".
  std::string get(const std::string &path) {
    g_autoptr(SoupSession) session = soup_session_new();
    std::string url = "http://127.0.0.1:" + std::to_string(port_) + path;
    g_autoptr(SoupMessage) msg = soup_message_new("GET", url.c_str());
    GBytes *body = nullptr;
    bool done = false;
    struct Ctx {
      GBytes **body;
      bool *done;
    } c{&body, &done};
    soup_session_send_and_read_async(
        session, msg, G_PRIORITY_DEFAULT, nullptr,
        [](GObject *src, GAsyncResult *res, gpointer p) {
          auto *c = static_cast<Ctx *>(p);
          *c->body = soup_session_send_and_read_finish(SOUP_SESSION(src), res, nullptr);
          *c->done = true;
        },
        &c);
    while (!done)
      g_main_context_iteration(nullptr, TRUE);
    std::string out = std::to_string(soup_message_get_status(msg)) + " ";
    if (body) {
      gsize len = 0;
      auto *data = static_cast<const char *>(g_bytes_get_data(body, &len));
      out.append(data, len);
      g_bytes_unref(body);
    }
    return out;
  }

  void iterate_until_idle() {
    for (int i = 0; i < 50; i++) {
      while (g_main_context_iteration(nullptr, FALSE)) {
      }
      g_usleep(2000);
    }
  }

  TempDir dir_;
  Config config_;
  ProfileSet profiles_;
  JwtCodec jwt_{"0123456789abcdef0123456789abcdef"};
  HttpRouter router_;
  EventBus bus_;
  std::unique_ptr<StorageWorker> worker_;
  std::unique_ptr<ClassRegistry> classes_;
  std::unique_ptr<PluginHost> host_;
  int port_ = 0;
};

}  // namespace

TEST_F(PluginHostTest, GoodPluginServesRoutesWithItsConfigAndSeesEvents) {
  std::vector<std::string> published;
  bus_.subscribe("test.", [&](const std::string &t, const std::string &p) {
    published.push_back(t + " " + p);
  });
  ASSERT_FALSE(host_->load_file("good", plugin_path("good")).has_value());
  EXPECT_EQ(host_->loaded_names(), std::vector<std::string>{"good"});
  EXPECT_EQ(get("/test/echo/world"), "200 namaste world");

  bool started = false;
  TokenClaims teacher{"teacher-1", Role::kTeacher, 0, 0, {}, {"physics-101"}};
  classes_->start(teacher, "physics-101", [&](Result<ClassChange> r) {
    EXPECT_TRUE(r.ok());
    started = true;
  });
  while (!started)
    g_main_context_iteration(nullptr, TRUE);
  iterate_until_idle();
  std::string events = get("/test/events");
  EXPECT_NE(events.find("class.started"), std::string::npos) << events;
  EXPECT_NE(events.find("\"class_id\":\"physics-101\""), std::string::npos) << events;
  ASSERT_EQ(published.size(), 1u);
  EXPECT_EQ(published[0], "test.loaded {\"plugin\":\"good\"}");
}

TEST_F(PluginHostTest, UnloadDropsRoutes) {
  ASSERT_FALSE(host_->load_file("good", plugin_path("good")).has_value());
  host_->unload_all();
  EXPECT_EQ(get("/test/echo/world").substr(0, 3), "404");
}

TEST_F(PluginHostTest, WrongAbiMajorIsRefusedNamingBothVersions) {
  auto e = host_->load_file("bad-abi", plugin_path("bad-abi"));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "plugin_abi_mismatch");
  std::string theirs = std::to_string(GRAMOTHI_PLUGIN_ABI_MAJOR + 1) + ".0";
  std::string ours =
      std::to_string(GRAMOTHI_PLUGIN_ABI_MAJOR) + "." + std::to_string(GRAMOTHI_PLUGIN_ABI_MINOR);
  EXPECT_NE(e->message.find("ABI " + theirs), std::string::npos) << e->message;
  EXPECT_NE(e->message.find("ABI " + ours), std::string::npos) << e->message;
  EXPECT_TRUE(host_->loaded_names().empty());
}

TEST_F(PluginHostTest, MissingEntrySymbolIsRefused) {
  auto e = host_->load_file("no-entry", plugin_path("no-entry"));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "plugin_no_entry");
  EXPECT_NE(e->message.find(GRAMOTHI_PLUGIN_ENTRY), std::string::npos);
}

TEST_F(PluginHostTest, FailingInitIsRefusedWithItsReasonAndItsRoutesAreDropped) {
  auto e = host_->load_file("failing-init", plugin_path("failing-init"));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "plugin_init_failed");
  EXPECT_NE(e->message.find("the frobnicator is missing"), std::string::npos) << e->message;
  EXPECT_EQ(get("/test/failing").substr(0, 3), "404");
}

TEST_F(PluginHostTest, MissingFileAndWrongNameAreRefused) {
  auto e = host_->load_file("ghost", plugin_path("ghost"));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "plugin_open_failed");
  e = host_->load_file("other", plugin_path("good"));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "plugin_invalid");
  EXPECT_NE(e->message.find("calls itself 'good'"), std::string::npos);
}

TEST_F(PluginHostTest, OptionalPluginMayFailRequiredMayNot) {
  auto e = host_->load_all({{"good", false}, {"failing-init", true}}, TEST_PLUGIN_DIR);
  EXPECT_FALSE(e.has_value()) << "an optional plugin's failure must not stop the start";
  EXPECT_EQ(host_->loaded_names(), std::vector<std::string>{"good"});
  host_->unload_all();
  e = host_->load_all({{"good", false}, {"failing-init", false}}, TEST_PLUGIN_DIR);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "plugin_init_failed");
}
