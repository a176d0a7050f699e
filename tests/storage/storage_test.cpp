// The storage suite: migrations and the class lifecycle rules, run once per backend
// (GRAMOTHI_TEST_BACKEND=sqlite|postgresql). PostgreSQL needs GRAMOTHI_TEST_PG_URL, a
// superuser URL of a private server (scripts/test starts one); each test gets its own database.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "common/temp_dir.hpp"
#include "base/ids.hpp"
#include "storage/chat_store.hpp"
#include "storage/class_store.hpp"
#include "storage/migrations.hpp"
#include "storage/slide_store.hpp"

using namespace gramothi;

namespace {

// A user whose token grants them the class acted on (to teach it for teachers, to attend it for
// students).
Actor granted(const std::string &user, Role role) {
  return Actor{user, role, true, role != Role::kStudent};
}
// A user whose token grants nothing: they have only what admins assigned them.
Actor bare(const std::string &user, Role role) {
  return Actor{user, role, false, false};
}

std::string backend() {
  const char *b = g_getenv("GRAMOTHI_TEST_BACKEND");
  return b ? b : "sqlite";
}

void pg_admin(const std::string &admin_url, const std::string &sql) {
  PGconn *c = PQconnectdb(admin_url.c_str());
  PGresult *r = PQexec(c, sql.c_str());
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  std::string err = PQerrorMessage(c);
  PQclear(r);
  PQfinish(c);
  if (!ok) throw std::runtime_error(sql + ": " + err);
}

class StorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (backend() == "postgresql") {
      const char *url = g_getenv("GRAMOTHI_TEST_PG_URL");
      if (!url || !*url) {
        if (g_strcmp0(g_getenv("GRAMOTHI_REQUIRE_PG"), "1") == 0)
          FAIL() << "GRAMOTHI_TEST_PG_URL is not set (scripts/test starts PostgreSQL)";
        GTEST_SKIP() << "no PostgreSQL: run scripts/test, which starts a private one";
      }
      admin_url_ = url;
      pg_name_ = "gramothi_storage_" + std::to_string(getpid()) + "_" +
                 std::to_string(g_random_int_range(0, 1000000));
      pg_admin(admin_url_, "CREATE DATABASE " + pg_name_);
    }
    db_ = open();
  }

  void TearDown() override {
    db_.reset();
    if (!pg_name_.empty())
      pg_admin(admin_url_, "DROP DATABASE IF EXISTS " + pg_name_ + " WITH (FORCE)");
  }

  // A new connection to this test's database.
  std::unique_ptr<Database> open() {
    if (backend() == "postgresql")
      return open_postgres(admin_url_.substr(0, admin_url_.rfind('/') + 1) + pg_name_);
    return open_sqlite(dir_.path() + "/gramothi.db");
  }

  ClassStore migrated() {
    migrate(*db_);
    return ClassStore(*db_);
  }

  TempDir dir_;
  std::string admin_url_, pg_name_;
  std::unique_ptr<Database> db_;
};

TEST_F(StorageTest, ReportsItsBackend) {
  EXPECT_EQ(db_->backend(), backend());
}

TEST_F(StorageTest, MigratesAnEmptyDatabaseToTheLatestVersionOnce) {
  EXPECT_EQ(current_schema_version(*db_), 0);
  EXPECT_EQ(migrate(*db_), latest_schema_version());
  EXPECT_EQ(current_schema_version(*db_), latest_schema_version());
  EXPECT_EQ(migrate(*db_), latest_schema_version()) << "a second run changes nothing";
  auto rows = db_->query("SELECT count(*) FROM schema_migrations");
  EXPECT_EQ(rows.at(0).at(0), std::to_string(latest_schema_version()));
}

TEST_F(StorageTest, TwoConnectionsMigratingAtOnceBothEndAtTheLatestVersion) {
  auto other = open();
  std::atomic<int> failures{0};
  std::thread t([&] {
    try {
      migrate(*other);
    } catch (const StorageError &) {
      failures++;
    }
  });
  try {
    migrate(*db_);
  } catch (const StorageError &) {
    failures++;
  }
  t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(current_schema_version(*db_), latest_schema_version());
  auto rows = db_->query("SELECT count(*) FROM schema_migrations");
  EXPECT_EQ(rows.at(0).at(0), std::to_string(latest_schema_version()));
}

TEST_F(StorageTest, RefusesADatabaseNewerThanThisBuild) {
  migrate(*db_);
  db_->query("INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)",
             {std::to_string(latest_schema_version() + 1), std::string("0")});
  try {
    migrate(*db_);
    FAIL() << "migrate accepted a newer schema";
  } catch (const StorageError &e) {
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
  }
}

// Issue 12, finding 3: ownership is assigned, never claimed. Classes created before teachers
// were assigned keep their creator as their teacher.
TEST_F(StorageTest, ClassesCreatedBeforeAssignmentKeepTheirCreatorAsTeacher) {
  ASSERT_EQ(migrate(*db_, 3), 3);
  db_->query(
      "INSERT INTO classes (class_id, owner_id, state, created_at_ms) VALUES ('old', 't-old', "
      "'ended', 5)");
  EXPECT_EQ(migrate(*db_), latest_schema_version());
  ClassStore s(*db_);
  EXPECT_EQ(s.status("old")->teachers, std::vector<std::string>{"t-old"});
  EXPECT_TRUE(s.start("old", bare("t-old", Role::kTeacher), 10).ok());
  EXPECT_EQ(s.start("old", bare("t-other", Role::kTeacher), 11).error().code, "not_class_owner");
  // They are marked inherited until an admin reviews the class.
  EXPECT_EQ(*s.inherited_teachers(), std::vector<std::string>{"old"});
  ASSERT_TRUE(s.set_teachers("old", bare("admin-1", Role::kAdmin), {"t-other"}, 12).ok());
  EXPECT_TRUE(s.inherited_teachers()->empty());
  EXPECT_EQ(s.stop("old", bare("t-old", Role::kTeacher), 13).ok(), true)
      << "the live session's teacher may still end it";
  EXPECT_EQ(s.start("old", bare("t-old", Role::kTeacher), 14).error().code, "not_class_owner");
}

TEST_F(StorageTest, NoTeacherClaimsAClassByStartingOrUploadingFirst) {
  ClassStore s = migrated();
  SlideStore slides(*db_);
  // Teacher B has no grant and no assignment for math-101: neither a start nor an upload
  // creates it for them.
  EXPECT_EQ(s.start("math-101", bare("teacher-b", Role::kTeacher), 1).error().code,
            "not_class_owner");
  EXPECT_EQ(slides.create_deck("math-101", bare("teacher-b", Role::kTeacher), "d", "x.pdf", 1, 1)
                .error()
                .code,
            "not_class_owner");
  EXPECT_EQ(s.status("math-101").error().code, "class_not_found");
  // Teacher A, whose class it is (the school's token says so), starts it.
  ASSERT_TRUE(s.start("math-101", granted("teacher-a", Role::kTeacher), 2).ok());
  // A "teaches" grant in a student's token means nothing.
  EXPECT_EQ(s.stop("math-101", Actor{"student-1", Role::kStudent, true, true}, 3).error().code,
            "forbidden_role");
}

TEST_F(StorageTest, AdminsAssignTeachersWhoThenTeachWithoutAGrant) {
  ClassStore s = migrated();
  EXPECT_EQ(s.set_teachers("bio", bare("teacher-1", Role::kTeacher), {"teacher-1"}, 1).error().code,
            "forbidden_role");
  auto made = s.set_teachers("bio", bare("admin-1", Role::kAdmin), {"teacher-1", "teacher-2"}, 1);
  ASSERT_TRUE(made.ok()) << made.error().message;
  EXPECT_EQ(made->state, "ended");
  EXPECT_EQ(made->teachers, (std::vector<std::string>{"teacher-1", "teacher-2"}));
  auto access = s.access("bio", bare("teacher-2", Role::kTeacher));
  ASSERT_TRUE(access.ok());
  EXPECT_TRUE(access->teach);
  EXPECT_TRUE(access->attend);
  ASSERT_TRUE(s.start("bio", bare("teacher-2", Role::kTeacher), 2).ok());
  // Replacing the list takes teacher-2's class away.
  ASSERT_TRUE(s.set_teachers("bio", bare("admin-1", Role::kAdmin), {"teacher-1"}, 3).ok());
  EXPECT_FALSE(s.access("bio", bare("teacher-2", Role::kTeacher))->teach);
  EXPECT_EQ(s.stop("bio", bare("teacher-3", Role::kTeacher), 4).error().code, "not_class_owner");
  // The session's own teacher may still end the session they started.
  EXPECT_TRUE(s.stop("bio", bare("teacher-2", Role::kTeacher), 4).ok());
}

// Issue 12 (review): a refusal must not tell an outsider whether the class exists, and leave
// must not hand an outsider the class's status.
TEST_F(StorageTest, OutsidersGetTheSameRefusalWhetherOrNotTheClassExists) {
  ClassStore s = migrated();
  SlideStore slides(*db_);
  ChatStore chat(*db_);
  ASSERT_TRUE(s.start("real", granted("teacher-1", Role::kTeacher), 1).ok());
  for (const char *id : {"real", "imaginary"}) {
    EXPECT_EQ(s.join(id, bare("student-x", Role::kStudent), 2).error().code, "not_in_class") << id;
    EXPECT_EQ(s.leave(id, bare("student-x", Role::kStudent), 2).error().code, "not_in_class") << id;
    EXPECT_EQ(s.pin_profile(id, bare("student-x", Role::kStudent), "low", 2).error().code,
              "not_in_class")
        << id;
    EXPECT_EQ(s.stop(id, bare("teacher-x", Role::kTeacher), 2).error().code, "not_class_owner")
        << id;
    EXPECT_EQ(slides.move(id, bare("teacher-x", Role::kTeacher), "next", std::nullopt, std::nullopt)
                  .error()
                  .code,
              "not_class_owner")
        << id;
    EXPECT_EQ(chat.post(id, bare("student-x", Role::kStudent), "hi", 2).error().code,
              "not_in_class")
        << id;
  }
  // Whoever joined may leave even after their grant is gone.
  ASSERT_TRUE(s.join("real", granted("student-1", Role::kStudent), 3).ok());
  EXPECT_TRUE(s.leave("real", bare("student-1", Role::kStudent), 4)->changed);
}

TEST_F(StorageTest, AttendingNeedsAGrantOrTeachingTheClass) {
  ClassStore s = migrated();
  ChatStore chat(*db_);
  ASSERT_TRUE(s.start("c", granted("teacher-1", Role::kTeacher), 1).ok());
  auto j = s.join("c", bare("student-9", Role::kStudent), 2);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.error().kind, ErrorKind::kForbidden);
  EXPECT_EQ(j.error().code, "not_in_class");
  EXPECT_EQ(s.pin_profile("c", bare("student-9", Role::kStudent), "low", 2).error().code,
            "not_in_class");
  EXPECT_EQ(chat.post("c", bare("student-9", Role::kStudent), "hi", 2).error().code,
            "not_in_class");
  EXPECT_FALSE(s.access("c", bare("student-9", Role::kStudent))->attend);
  EXPECT_FALSE(s.access("c", bare("teacher-9", Role::kTeacher))->attend);
  EXPECT_TRUE(s.join("c", granted("student-1", Role::kStudent), 3).ok());
  EXPECT_TRUE(s.access("c", bare("admin-1", Role::kAdmin))->teach);
  auto student = s.access("c", granted("student-1", Role::kStudent));
  EXPECT_TRUE(student->attend);
  EXPECT_FALSE(student->teach);
}

TEST_F(StorageTest, ParametersAreDataNeverSql) {
  migrate(*db_);
  std::string evil = "x'); DROP TABLE classes; --";
  db_->query(
      "INSERT INTO classes (class_id, owner_id, state, created_at_ms) VALUES ($1, $2, 'live', 1)",
      {evil, std::string("o")});
  auto rows = db_->query("SELECT class_id FROM classes WHERE owner_id = $1", {std::string("o")});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], evil);
  auto nulls = db_->query("SELECT current_slide_id FROM classes WHERE class_id = $1", {evil});
  EXPECT_FALSE(nulls.at(0).at(0).has_value()) << "SQL NULL comes back as nullopt";
}

TEST_F(StorageTest, ABrokenStatementIsAStorageErrorAndTheConnectionStaysUsable) {
  EXPECT_THROW(db_->query("SELEKT nonsense"), StorageError);
  db_->begin();
  EXPECT_THROW(db_->query("SELECT * FROM no_such_table"), StorageError);
  db_->rollback();
  EXPECT_NO_THROW(db_->ping());
}

TEST_F(StorageTest, StartCreatesALiveClassOwnedByTheTeacher) {
  ClassStore s = migrated();
  auto r = s.start("maths-7", granted("teacher-1", Role::kTeacher), 1000);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->status.state, "live");
  EXPECT_EQ(r->status.owner_id, "teacher-1");
  EXPECT_EQ(r->status.session_teacher, "teacher-1");
  EXPECT_EQ(r->status.started_at_ms, 1000);
  EXPECT_FALSE(r->status.ended_at_ms.has_value());
  EXPECT_EQ(r->status.participant_count, 0);
  ASSERT_TRUE(r->status.session_id.has_value());

  auto again = s.start("maths-7", granted("teacher-1", Role::kTeacher), 2000);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed);
  EXPECT_EQ(again->status.session_id, r->status.session_id);
  EXPECT_EQ(again->status.started_at_ms, 1000);
}

TEST_F(StorageTest, StudentsMayNotStartOrStop) {
  ClassStore s = migrated();
  auto r = s.start("c", granted("student-1", Role::kStudent), 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "forbidden_role");
  EXPECT_EQ(s.status("c").error().code, "class_not_found") << "nothing was created";
  ASSERT_TRUE(s.start("c", granted("teacher-1", Role::kTeacher), 1).ok());
  auto stop = s.stop("c", granted("student-1", Role::kStudent), 2);
  ASSERT_FALSE(stop.ok());
  EXPECT_EQ(stop.error().code, "forbidden_role");
  EXPECT_EQ(s.status("c")->state, "live");
}

TEST_F(StorageTest, OnlyATeacherOfTheClassOrAnAdminControlsIt) {
  ClassStore s = migrated();
  ASSERT_TRUE(s.start("c", granted("teacher-1", Role::kTeacher), 1).ok());
  auto r = s.start("c", bare("teacher-2", Role::kTeacher), 2);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kForbidden);
  EXPECT_EQ(r.error().code, "not_class_owner");
  auto admin_start = s.start("c", granted("admin-1", Role::kAdmin), 3);
  ASSERT_FALSE(admin_start.ok());
  EXPECT_EQ(admin_start.error().code, "class_already_live");
  EXPECT_EQ(admin_start.error().kind, ErrorKind::kConflict);
  EXPECT_EQ(s.stop("c", bare("teacher-2", Role::kTeacher), 4).error().code, "not_class_owner");
  auto stopped = s.stop("c", granted("admin-1", Role::kAdmin), 5);
  ASSERT_TRUE(stopped.ok()) << stopped.error().message;
  EXPECT_EQ(stopped->status.state, "ended");
  EXPECT_EQ(stopped->status.owner_id, "teacher-1") << "an admin's stop does not take the class";
}

TEST_F(StorageTest, StopEndsTheSessionAndClosesAttendance) {
  ClassStore s = migrated();
  auto started = s.start("c", granted("teacher-1", Role::kTeacher), 100);
  ASSERT_TRUE(s.join("c", granted("student-1", Role::kStudent), 200).ok());
  auto stopped = s.stop("c", granted("teacher-1", Role::kTeacher), 300);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->status.state, "ended");
  EXPECT_EQ(stopped->status.ended_at_ms, 300);
  EXPECT_EQ(stopped->status.participant_count, 0);
  auto att = s.attendance(*started->status.session_id);
  ASSERT_TRUE(att.ok());
  ASSERT_EQ(att->size(), 1u);
  EXPECT_EQ((*att)[0].left_at_ms, 300);

  auto again = s.stop("c", granted("teacher-1", Role::kTeacher), 400);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "class_not_live");
  EXPECT_EQ(s.join("c", granted("student-2", Role::kStudent), 500).error().code, "class_not_live");
  EXPECT_EQ(s.leave("c", granted("student-1", Role::kStudent), 500).error().code, "class_not_live");
  EXPECT_EQ(s.stop("nope", granted("teacher-1", Role::kTeacher), 1).error().code,
            "class_not_found");
}

TEST_F(StorageTest, StartingAnEndedClassOpensANewSession) {
  ClassStore s = migrated();
  auto first = s.start("c", granted("teacher-1", Role::kTeacher), 100);
  ASSERT_TRUE(s.stop("c", granted("teacher-1", Role::kTeacher), 200).ok());
  auto second = s.start("c", granted("teacher-1", Role::kTeacher), 300);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->changed);
  EXPECT_NE(second->status.session_id, first->status.session_id);
  EXPECT_EQ(second->status.started_at_ms, 300);
  EXPECT_FALSE(second->status.ended_at_ms.has_value());
}

TEST_F(StorageTest, JoinAndLeaveCountDistinctParticipants) {
  ClassStore s = migrated();
  EXPECT_EQ(s.join("c", granted("student-1", Role::kStudent), 1).error().code, "class_not_found");
  auto started = s.start("c", granted("teacher-1", Role::kTeacher), 10);
  auto j = s.join("c", granted("student-1", Role::kStudent), 20);
  ASSERT_TRUE(j.ok());
  EXPECT_TRUE(j->changed);
  EXPECT_EQ(j->status.participant_count, 1);
  EXPECT_FALSE(s.join("c", granted("student-1", Role::kStudent), 21)->changed);
  EXPECT_EQ(s.join("c", granted("student-2", Role::kStudent), 22)->status.participant_count, 2);
  auto l = s.leave("c", granted("student-1", Role::kStudent), 30);
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->changed);
  EXPECT_EQ(l->status.participant_count, 1);
  EXPECT_FALSE(s.leave("c", granted("student-1", Role::kStudent), 31)->changed);
  EXPECT_FALSE(s.leave("c", granted("never-joined", Role::kStudent), 31)->changed);
  // Coming back is a second attendance interval, not a rewrite of the first.
  EXPECT_TRUE(s.join("c", granted("student-1", Role::kStudent), 40)->changed);
  auto att = s.attendance(*started->status.session_id);
  ASSERT_TRUE(att.ok());
  ASSERT_EQ(att->size(), 3u);
  EXPECT_EQ((*att)[0].user_id, "student-1");
  EXPECT_EQ((*att)[0].joined_at_ms, 20);
  EXPECT_EQ((*att)[0].left_at_ms, 30);
  EXPECT_EQ((*att)[2].joined_at_ms, 40);
  EXPECT_FALSE((*att)[2].left_at_ms.has_value());
  EXPECT_EQ((*att)[1].role, Role::kStudent);
}

TEST_F(StorageTest, PinnedProfilesAreRecordedPerUserAndClass) {
  ClassStore s = migrated();
  EXPECT_EQ(s.pin_profile("c", granted("student-1", Role::kStudent), "low", 1).error().code,
            "class_not_found");
  ASSERT_TRUE(s.start("c", granted("teacher-1", Role::kTeacher), 1).ok());
  EXPECT_FALSE(s.pinned_profile("c", "student-1")->has_value());
  EXPECT_TRUE(s.pin_profile("c", granted("student-1", Role::kStudent), "low", 2)->changed);
  EXPECT_FALSE(s.pin_profile("c", granted("student-1", Role::kStudent), "low", 3)->changed);
  EXPECT_TRUE(s.pin_profile("c", granted("student-1", Role::kStudent), "ultra-low", 4)->changed);
  ASSERT_TRUE(s.pin_profile("c", granted("student-2", Role::kStudent), "auto", 5).ok());
  EXPECT_EQ(**s.pinned_profile("c", "student-1"), "ultra-low");
  EXPECT_EQ(**s.pinned_profile("c", "student-2"), "auto");
}

TEST_F(StorageTest, EverythingSurvivesReopeningTheDatabase) {
  {
    ClassStore s = migrated();
    ASSERT_TRUE(s.start("c", granted("teacher-1", Role::kTeacher), 10).ok());
    ASSERT_TRUE(s.join("c", granted("student-1", Role::kStudent), 20).ok());
    ASSERT_TRUE(s.pin_profile("c", granted("student-1", Role::kStudent), "medium", 30).ok());
  }
  db_.reset();
  db_ = open();
  EXPECT_EQ(current_schema_version(*db_), latest_schema_version());
  ClassStore s(*db_);
  auto st = s.status("c");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state, "live");
  EXPECT_EQ(st->owner_id, "teacher-1");
  EXPECT_EQ(st->started_at_ms, 10);
  EXPECT_EQ(st->participant_count, 1);
  EXPECT_EQ(**s.pinned_profile("c", "student-1"), "medium");
}

// Two servers (or two requests racing) start the same new class: exactly one session results,
// and the loser gets a clear answer rather than a storage error.
TEST_F(StorageTest, ConcurrentStartsOfOneClassCreateOneSession) {
  migrate(*db_);
  auto other = open();
  std::optional<Result<ClassChange>> a, b;
  std::thread t([&] {
    ClassStore s(*other);
    b.emplace(s.start("race", granted("teacher-2", Role::kTeacher), 2));
  });
  ClassStore s(*db_);
  a.emplace(s.start("race", granted("teacher-1", Role::kTeacher), 1));
  t.join();
  ASSERT_NE(a->ok(), b->ok()) << (a->ok() ? "" : a->error().message)
                              << (b->ok() ? "" : b->error().message);
  const Error &loser = a->ok() ? b->error() : a->error();
  EXPECT_EQ(loser.code, "class_already_live") << loser.message;
  auto rows = db_->query("SELECT count(*) FROM sessions WHERE class_id = 'race'");
  EXPECT_EQ(rows.at(0).at(0), "1");
}

TEST_F(StorageTest, ManyConcurrentJoinsAreAllCounted) {
  ClassStore s = migrated();
  ASSERT_TRUE(s.start("c", granted("teacher-1", Role::kTeacher), 1).ok());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      auto db = open();
      ClassStore store(*db);
      for (int i = 0; i < 10; i++) {
        auto r = store.join(
            "c", granted("s" + std::to_string(t) + "-" + std::to_string(i), Role::kStudent),
            10 + i);
        if (r.ok()) ok++;
      }
    });
  }
  for (auto &t : threads)
    t.join();
  EXPECT_EQ(ok.load(), 40);
  EXPECT_EQ(s.status("c")->participant_count, 40);
}

TEST(StorageOpen, ANonDatabaseFileIsRefusedWithAReason) {
  TempDir dir;
  std::string path = dir.file("junk.db", std::string(4096, 'x'));
  try {
    open_sqlite(path);
    FAIL() << "opened a file that is not a database";
  } catch (const StorageError &e) {
    EXPECT_NE(std::string(e.what()).find("not a database"), std::string::npos) << e.what();
  }
}

TEST(StorageOpen, AnUnreachablePostgresIsUnavailable) {
  try {
    open_postgres("postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=2");
    FAIL() << "connected to nothing";
  } catch (const StorageError &e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable);
    EXPECT_NE(std::string(e.what()).find("PostgreSQL"), std::string::npos) << e.what();
  }
}

TEST(StorageIds, ClassAndUserIdsAreShortSafeTokens) {
  EXPECT_TRUE(valid_class_id("maths-7.b_2026:term@1"));
  EXPECT_FALSE(valid_class_id(""));
  EXPECT_FALSE(valid_class_id("a b"));
  EXPECT_FALSE(valid_class_id("../x"));
  EXPECT_FALSE(valid_class_id(".."));
  EXPECT_FALSE(valid_class_id(std::string(65, 'a')));
  EXPECT_TRUE(valid_user_id(std::string(128, 'a')));
  EXPECT_FALSE(valid_user_id(std::string(129, 'a')));
  EXPECT_EQ(parse_role("teacher"), Role::kTeacher);
  EXPECT_FALSE(parse_role("Teacher").has_value());
  EXPECT_EQ(role_name(Role::kAdmin), "admin");
}

}  // namespace

// ---- slides ----

namespace {

SlideInfo slide(const std::string &deck, int n, const std::string &status = "ready") {
  SlideInfo s;
  s.slide_id = deck + "-" + std::to_string(n);
  s.deck_id = deck;
  s.order_no = n;
  s.status = status;
  s.text = "page " + std::to_string(n);
  s.images_json = "{}";
  if (status != "ready") s.error = "page " + std::to_string(n) + ": cannot render";
  return s;
}

}  // namespace

TEST_F(StorageTest, OnlyTheOwningTeacherOrAnAdminUploadsAndTheNewDeckIsActive) {
  ClassStore classes = migrated();
  SlideStore s(*db_);
  auto student = s.create_deck("bio-1", granted("student-1", Role::kStudent), "d0", "a.pdf", 10, 1);
  ASSERT_FALSE(student.ok());
  EXPECT_EQ(student.error().code, "forbidden_role");

  // An unknown class is created for its uploader, not live: decks are prepared before class.
  auto d1 =
      s.create_deck("bio-1", granted("teacher-1", Role::kTeacher), "d1", "cells.pdf", 1234, 5);
  ASSERT_TRUE(d1.ok()) << d1.error().message;
  EXPECT_EQ(d1->status, "rendering");
  EXPECT_TRUE(d1->active);
  auto status = classes.status("bio-1");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state, "ended");
  EXPECT_EQ(status->owner_id, "teacher-1");

  auto other = s.create_deck("bio-1", bare("teacher-2", Role::kTeacher), "d2", "x.pdf", 1, 6);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, "not_class_owner");
  auto admin = s.create_deck("bio-1", granted("admin-1", Role::kAdmin), "d3", "y.pdf", 1, 7);
  ASSERT_TRUE(admin.ok());
  EXPECT_TRUE(admin->active);
  auto first = s.deck("d1");
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->active) << "the newest deck is the active one";
}

TEST_F(StorageTest, PageOneBecomesCurrentAndMovesStayWithinTheReadySlides) {
  migrated();
  SlideStore s(*db_);
  ASSERT_TRUE(s.create_deck("geo", granted("t", Role::kTeacher), "g", "maps.pdf", 1, 1).ok());
  ASSERT_TRUE(s.record_page_count("g", 4).ok());
  // Pages arrive out of order; page 3 failed. Page 1 makes itself current.
  EXPECT_FALSE(*s.add_slide(slide("g", 2)));
  EXPECT_TRUE(*s.add_slide(slide("g", 1)));
  EXPECT_FALSE(*s.add_slide(slide("g", 1))) << "a page reported twice counts once";
  ASSERT_TRUE(s.add_slide(slide("g", 3, "failed")).ok());
  ASSERT_TRUE(s.add_slide(slide("g", 4)).ok());
  auto d = s.finish_deck("g", "ready", std::nullopt, std::nullopt);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->pages_done, 3);
  EXPECT_EQ(d->pages_failed, 1);
  EXPECT_EQ(d->page_count, 4);

  auto listed = s.active_slides("geo");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->slides.size(), 4u);
  EXPECT_EQ(listed->slides[2].status, "failed");
  EXPECT_EQ(listed->current_slide_id, "g-1");

  auto prev = s.move("geo", granted("t", Role::kTeacher), "previous", std::nullopt, std::nullopt);
  ASSERT_TRUE(prev.ok());
  EXPECT_FALSE(prev->changed);
  EXPECT_EQ(prev->reason, "first_slide");
  auto next = s.move("geo", granted("t", Role::kTeacher), "next", std::nullopt, std::nullopt);
  ASSERT_TRUE(next.ok());
  EXPECT_TRUE(next->changed);
  EXPECT_EQ(next->current.order_no, 2);
  ASSERT_TRUE(next->next);
  EXPECT_EQ(next->next->order_no, 4) << "the failed page 3 is skipped";
  next = s.move("geo", granted("t", Role::kTeacher), "next", std::nullopt, std::nullopt);
  EXPECT_EQ(next->current.order_no, 4);
  EXPECT_FALSE(next->next);
  auto last = s.move("geo", granted("t", Role::kTeacher), "next", std::nullopt, std::nullopt);
  EXPECT_FALSE(last->changed);
  EXPECT_EQ(last->reason, "last_slide");
  auto go = s.move("geo", granted("t", Role::kTeacher), "goto", std::nullopt, 1);
  ASSERT_TRUE(go.ok());
  EXPECT_EQ(go->current.slide_id, "g-1");
  auto by_id =
      s.move("geo", granted("t", Role::kTeacher), "goto", std::string("g-4"), std::nullopt);
  ASSERT_TRUE(by_id.ok());
  EXPECT_EQ(by_id->current.order_no, 4);
  auto missing =
      s.move("geo", granted("t", Role::kTeacher), "goto", std::string("g-3"), std::nullopt);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "slide_not_found");
  auto student = s.move("geo", granted("s", Role::kStudent), "next", std::nullopt, std::nullopt);
  ASSERT_FALSE(student.ok());
  EXPECT_EQ(student.error().code, "forbidden_role");
  EXPECT_EQ(s.active_slides("geo")->current_slide_id, "g-4") << "refused moves change nothing";
}

TEST_F(StorageTest, DecksLeftRenderingByAStoppedServerAreMarkedFailed) {
  migrated();
  SlideStore s(*db_);
  ASSERT_TRUE(s.create_deck("c", granted("t", Role::kTeacher), "r", "a.pdf", 1, 1).ok());
  auto n = s.fail_unfinished(2);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  auto d = s.deck("r");
  EXPECT_EQ(d->status, "failed");
  EXPECT_EQ(d->error_code, "interrupted");
  auto none = s.move("c", granted("t", Role::kTeacher), "next", std::nullopt, std::nullopt);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, "no_slides");
}

// ---- chat ----

TEST_F(StorageTest, ChatKeepsTheLast100MessagesAndOnlyTheOwnerRemovesThem) {
  ClassStore classes = migrated();
  ASSERT_TRUE(classes.start("lit", granted("teacher-1", Role::kTeacher), 1).ok());
  ChatStore chat(*db_);
  EXPECT_EQ(chat.post("nope", granted("s", Role::kStudent), "hi", 2).error().code,
            "class_not_found");
  for (int i = 0; i < 105; i++)
    ASSERT_TRUE(chat.post("lit", granted("s" + std::to_string(i % 3), Role::kStudent),
                          "message " + std::to_string(i), 10 + i)
                    .ok());
  auto recent = chat.recent("lit", 100);
  ASSERT_TRUE(recent.ok());
  ASSERT_EQ(recent->size(), 100u);
  EXPECT_EQ(recent->front().text, "message 5") << "the newest 100, oldest first";
  EXPECT_EQ(recent->back().text, "message 104");
  std::string id = recent->back().message_id;

  auto student = chat.remove("lit", id, granted("s1", Role::kStudent), 500);
  EXPECT_EQ(student.error().code, "forbidden_role");
  auto other = chat.remove("lit", id, bare("teacher-2", Role::kTeacher), 500);
  EXPECT_EQ(other.error().code, "not_class_owner");
  auto removed = chat.remove("lit", id, granted("teacher-1", Role::kTeacher), 500);
  ASSERT_TRUE(removed.ok()) << removed.error().message;
  EXPECT_EQ(removed->text, "message 104");
  EXPECT_EQ(chat.remove("lit", id, granted("teacher-1", Role::kTeacher), 501).error().code,
            "message_not_found");
  recent = chat.recent("lit", 100);
  EXPECT_EQ(recent->back().text, "message 103") << "a removed message is gone from the history";
  // Text is data, never SQL or markup to the store.
  std::string tricky = "<img src=x onerror=alert(1)>'); DROP TABLE chat_messages; --";
  ASSERT_TRUE(chat.post("lit", granted("s0", Role::kStudent), tricky, 900).ok());
  EXPECT_EQ(chat.recent("lit", 1)->front().text, tricky);
}
