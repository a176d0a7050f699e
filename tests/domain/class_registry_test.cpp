// ClassRegistry over a real StorageWorker and SQLite in a temporary folder: answers arrive on the
// main loop (never inside the call), input is checked before storage is touched, and every change
// (and only a change) is published on the event bus.
#include "domain/class_registry.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "common/temp_dir.hpp"
#include "storage/migrations.hpp"

using namespace gramothi;

namespace {

class ClassRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto profiles =
        ProfileSet::load(std::string(g_getenv("GRAMOTHI_SOURCE_ROOT")) + "/pipelines/profiles.ini");
    ASSERT_TRUE(profiles.ok());
    profiles_ = std::move(*profiles);
    auto db = open_sqlite(dir_.path() + "/test.db");
    migrate(*db);
    worker_ = std::make_unique<StorageWorker>(std::move(db), nullptr, g_main_context_default());
    registry_ = std::make_unique<ClassRegistry>(*worker_, bus_, profiles_);
    bus_.subscribe("", [this](const std::string &topic, const std::string &payload) {
      events_.push_back(topic + " " + payload);
    });
  }
  void TearDown() override {
    registry_.reset();
    worker_.reset();
  }

  // Runs the main loop until `done` holds (or 10 s pass: a failure, not a wait).
  template <class Pred>
  bool spin_until(Pred done) {
    int64_t until = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!done() && g_get_monotonic_time() < until)
      g_main_context_iteration(nullptr, TRUE);
    return done();
  }
  // One lifecycle call, waited for; also checks that it did not answer inside the call.
  template <class Call>
  Result<ClassChange> change(Call call) {
    std::optional<Result<ClassChange>> out;
    call([&](Result<ClassChange> r) { out.emplace(std::move(r)); });
    EXPECT_FALSE(out.has_value()) << "answered inside the call";
    EXPECT_TRUE(spin_until([&] { return out.has_value(); }));
    return std::move(*out);
  }
  // Lets queued events arrive.
  void settle() {
    while (g_main_context_iteration(nullptr, FALSE)) {
    }
  }
  std::vector<std::string> events_named(const std::string &topic) {
    settle();
    std::vector<std::string> out;
    for (const auto &e : events_)
      if (e.rfind(topic + " ", 0) == 0) out.push_back(e);
    return out;
  }

  // A user whose token grants class "math" (teachers teach it, students attend it).
  static TokenClaims who(const std::string &user, Role role) {
    TokenClaims c;
    c.user_id = user;
    c.role = role;
    (role == Role::kStudent ? c.classes : c.teaches) = {"math"};
    return c;
  }

  TempDir dir_;
  ProfileSet profiles_;
  EventBus bus_;
  std::unique_ptr<StorageWorker> worker_;
  std::unique_ptr<ClassRegistry> registry_;
  std::vector<std::string> events_;
};

TEST_F(ClassRegistryTest, StartAnswersOnTheMainLoopAndPublishesClassStarted) {
  auto r = change([&](auto done) { registry_->start(who("t1", Role::kTeacher), "math", done); });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status.state, "live");
  EXPECT_EQ(r->status.owner_id, "t1");
  auto started = events_named("class.started");
  ASSERT_EQ(started.size(), 1u);
  EXPECT_NE(started[0].find("\"class_id\":\"math\""), std::string::npos) << started[0];
  EXPECT_NE(started[0].find("\"teacher_id\":\"t1\""), std::string::npos) << started[0];
}

TEST_F(ClassRegistryTest, ABadClassIdIsRefusedBeforeStorageAndPublishesNothing) {
  for (const char *bad : {"", "..", "a/b", "has space"}) {
    auto r = change([&](auto done) { registry_->start(who("t1", Role::kTeacher), bad, done); });
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, "invalid_field") << bad;
  }
  EXPECT_TRUE(events_named("class.started").empty());
}

TEST_F(ClassRegistryTest, AStudentMayNotStartAClass) {
  auto r = change([&](auto done) { registry_->start(who("s1", Role::kStudent), "math", done); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "forbidden_role");
  EXPECT_EQ(r.error().kind, ErrorKind::kForbidden);
}

// Grants name classes: a grant for "math" opens "math" only; open attendance opens every class
// to attend, never to teach.
TEST_F(ClassRegistryTest, GrantsOpenOnlyTheClassesTheyNameAndOpenAttendanceNeverTeaches) {
  change([&](auto done) { registry_->start(who("t1", Role::kTeacher), "math", done); });
  auto other = change([&](auto done) { registry_->start(who("t1", Role::kTeacher), "art", done); });
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, "not_class_owner");
  auto access = [&](ClassRegistry &r, const TokenClaims &c, const std::string &class_id) {
    std::optional<Result<ClassAccess>> out;
    r.access(c, class_id, [&](Result<ClassAccess> a) { out.emplace(std::move(a)); });
    EXPECT_TRUE(spin_until([&] { return out.has_value(); }));
    EXPECT_TRUE(out->ok());
    return **out;
  };
  EXPECT_TRUE(access(*registry_, who("s1", Role::kStudent), "math").attend);
  EXPECT_FALSE(access(*registry_, who("s1", Role::kStudent), "art").attend);
  EXPECT_TRUE(access(*registry_, who("t1", Role::kTeacher), "math").teach);
  EXPECT_FALSE(access(*registry_, who("t1", Role::kTeacher), "art").attend);

  ClassRegistry open(*worker_, bus_, profiles_, /*open_attendance=*/true);
  ClassAccess s1 = access(open, who("s1", Role::kStudent), "art");
  EXPECT_TRUE(s1.attend);
  EXPECT_FALSE(s1.teach);
  EXPECT_FALSE(access(open, who("t1", Role::kTeacher), "art").teach);
}

TEST_F(ClassRegistryTest, ARepeatedJoinChangesNothingAndIsPublishedOnce) {
  change([&](auto done) { registry_->start(who("t1", Role::kTeacher), "math", done); });
  auto first = change([&](auto done) { registry_->join(who("s1", Role::kStudent), "math", done); });
  auto again = change([&](auto done) { registry_->join(who("s1", Role::kStudent), "math", done); });
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_TRUE(first->changed);
  EXPECT_FALSE(again->changed);
  EXPECT_EQ(again->status.participant_count, 1);
  EXPECT_EQ(events_named("class.joined").size(), 1u);
}

TEST_F(ClassRegistryTest, PinningAnUnknownProfileNamesTheChoices) {
  change([&](auto done) { registry_->start(who("t1", Role::kTeacher), "math", done); });
  auto r = change(
      [&](auto done) { registry_->pin_profile(who("s1", Role::kStudent), "math", "huge", done); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_field");
  EXPECT_NE(r.error().message.find("ultra-low"), std::string::npos) << r.error().message;
  auto ok = change(
      [&](auto done) { registry_->pin_profile(who("s1", Role::kStudent), "math", "low", done); });
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(events_named("class.profile_pinned").size(), 1u);
}

TEST_F(ClassRegistryTest, StatusCarriesTheLatestRecordingNews) {
  change([&](auto done) { registry_->start(who("t1", Role::kTeacher), "math", done); });
  bus_.publish("recording.state",
               R"({"class_id":"math","recording_id":"r1","state":"failed","error":"disk full"})");
  settle();
  std::optional<Result<ClassStatus>> status;
  registry_->status("math", [&](Result<ClassStatus> r) { status.emplace(std::move(r)); });
  ASSERT_TRUE(spin_until([&] { return status.has_value(); }));
  ASSERT_TRUE(status->ok());
  std::string json = ClassRegistry::status_json(**status);
  EXPECT_NE(json.find(R"("recording":{"recording_id":"r1","state":"failed","error":"disk full"})"),
            std::string::npos)
      << json;
}

TEST_F(ClassRegistryTest, ChatTextIsTrimmedAndCheckedBeforeItIsStored) {
  change([&](auto done) { registry_->start(who("t1", Role::kTeacher), "math", done); });
  auto post = [&](const std::string &text) {
    std::optional<Result<std::string>> out;
    registry_->chat_post(who("s1", Role::kStudent), "math", text,
                         [&](Result<std::string> r) { out.emplace(std::move(r)); });
    EXPECT_FALSE(out.has_value()) << "answered inside the call";
    EXPECT_TRUE(spin_until([&] { return out.has_value(); }));
    return std::move(*out);
  };
  auto ok = post("  namaste  ");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_NE(ok->find("\"text\":\"namaste\""), std::string::npos) << *ok;
  EXPECT_EQ(post("   ").error().message, "Field 'text' is empty.");
  EXPECT_EQ(post("bell\x07").error().message, "Field 'text' has control characters.");
  EXPECT_EQ(post(std::string("\xff\xfe")).error().message, "Field 'text' must be UTF-8 text.");
  EXPECT_EQ(post(std::string(ClassRegistry::kMaxChatChars + 1, 'a')).error().code, "invalid_field");
  EXPECT_EQ(events_named("chat.message").size(), 1u);
}

}  // namespace
