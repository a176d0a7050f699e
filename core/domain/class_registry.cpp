#include "domain/class_registry.hpp"

#include "base/main_loop.hpp"

#include <json-glib/json-glib.h>

#include <algorithm>
#include <memory>

#include "base/ids.hpp"
#include "base/json.hpp"
#include "storage/migrations.hpp"

namespace gramothi {
namespace {

Error unavailable(const std::string &why) {
  return Error{ErrorKind::kUnavailable, "storage_unavailable", "Storage is unavailable: " + why};
}

std::string string_array_json(const std::vector<std::string> &items) {
  std::string out = "[";
  for (const auto &i : items)
    out += (out.size() > 1 ? "," : "") + json_quote(i);
  return out + "]";
}

std::optional<Error> check_class_id(const std::string &class_id) {
  if (valid_class_id(class_id)) return std::nullopt;
  return Error{ErrorKind::kInvalid, "invalid_field",
               "Field 'class_id' must be 1 to 64 characters of letters, digits and . _ : @ -"};
}

}  // namespace

int64_t now_ms() {
  return g_get_real_time() / 1000;
}

Actor actor_for(const TokenClaims &who, const std::string &class_id, bool open_attendance) {
  auto has = [&class_id](const std::vector<std::string> &ids) {
    return std::find(ids.begin(), ids.end(), class_id) != ids.end();
  };
  Actor a{who.user_id, who.role};
  a.token_teaches = who.role != Role::kStudent && has(who.teaches);
  a.token_attends = open_attendance || a.token_teaches || has(who.classes);
  return a;
}

void ClassRegistry::access(const TokenClaims &who, const std::string &class_id,
                           std::function<void(Result<ClassAccess>)> done) {
  if (auto e = check_class_id(class_id)) return run_later([done, e = *e] { done(e); });
  run<ClassStore, ClassAccess>(
      [a = actor(who, class_id), class_id](ClassStore &s) { return s.access(class_id, a); },
      std::move(done));
}

void ClassRegistry::set_teachers(const TokenClaims &who, const std::string &class_id,
                                 const std::vector<std::string> &teachers, StatusCallback done) {
  if (auto e = check_class_id(class_id)) return run_later([done, e = *e] { done(e); });
  for (const auto &t : teachers)
    if (!valid_user_id(t))
      return run_later([done] {
        done(Error{ErrorKind::kInvalid, "invalid_field",
                   "Field 'teachers' must list user ids (1 to 128 characters of letters, "
                   "digits and . _ : @ -)."});
      });
  run<ClassStore, ClassStatus>(
      [a = actor(who, class_id), class_id, teachers](ClassStore &s) {
        return s.set_teachers(class_id, a, teachers, now_ms());
      },
      [this, done = std::move(done)](Result<ClassStatus> r) {
        if (r.ok())
          bus_.publish("class.teachers", JsonObjectWriter()
                                             .str("class_id", r->class_id)
                                             .raw("teachers", string_array_json(r->teachers))
                                             .finish());
        done(std::move(r));
      });
}

std::string ClassRegistry::status_json(const ClassStatus &s) {
  JsonObjectWriter w;
  w.str("class_id", s.class_id)
      .str("state", s.state)
      .str("owner_id", s.owner_id)
      .raw("teachers", string_array_json(s.teachers))
      .opt_str("session_id", s.session_id)
      .opt_str("teacher_id", s.session_teacher);
  if (s.session_id)
    w.str("started_at", iso8601_from_ms(s.started_at_ms));
  else
    w.null("started_at");
  if (s.ended_at_ms)
    w.str("ended_at", iso8601_from_ms(*s.ended_at_ms));
  else
    w.null("ended_at");
  w.num("participant_count", s.participant_count);
  if (s.current_slide_id)
    w.raw("current_slide", JsonObjectWriter().str("slide_id", *s.current_slide_id).finish());
  else
    w.null("current_slide");
  if (s.recording_json)
    w.raw("recording", *s.recording_json);
  else
    w.null("recording");
  return w.finish();
}

// Runs `op` on a Store over the storage thread's database; `done` gets its result on the main
// loop (always on a later iteration, never inside the call).
template <class Store, class T>
void ClassRegistry::run(std::function<Result<T>(Store &)> op, std::function<void(Result<T>)> done) {
  auto result = std::make_shared<std::optional<Result<T>>>();
  worker_.post(
      [result, op = std::move(op)](Database *db, const std::string &open_error) {
        if (!db) {
          result->emplace(unavailable(open_error));
          return;
        }
        Store store(*db);
        result->emplace(op(store));
      },
      [result, done = std::move(done)] { done(std::move(**result)); });
}

void ClassRegistry::run_change(const std::string &class_id, Op op,
                               std::function<void(const ClassChange &)> on_change,
                               ChangeCallback done) {
  if (auto e = check_class_id(class_id)) {
    // Answer on a later iteration, as for every other outcome.
    run_later([done = std::move(done), err = *e] { done(err); });
    return;
  }
  run<ClassStore, ClassChange>(std::move(op),
                               [on_change = std::move(on_change), done = std::move(done)](auto r) {
                                 if (r.ok() && r->changed && on_change) on_change(*r);
                                 done(std::move(r));
                               });
}

void ClassRegistry::start(const TokenClaims &who, const std::string &class_id,
                          ChangeCallback done) {
  run_change(
      class_id,
      [class_id, a = actor(who, class_id)](ClassStore &s) {
        return s.start(class_id, a, now_ms());
      },
      [this](const ClassChange &c) {
        bus_.publish("class.started", JsonObjectWriter()
                                          .str("class_id", c.status.class_id)
                                          .opt_str("session_id", c.status.session_id)
                                          .opt_str("teacher_id", c.status.session_teacher)
                                          .finish());
      },
      std::move(done));
}

void ClassRegistry::stop(const TokenClaims &who, const std::string &class_id, ChangeCallback done) {
  run_change(
      class_id,
      [class_id, a = actor(who, class_id)](ClassStore &s) { return s.stop(class_id, a, now_ms()); },
      [this, by = who.user_id](const ClassChange &c) {
        bus_.publish("class.stopped", JsonObjectWriter()
                                          .str("class_id", c.status.class_id)
                                          .opt_str("session_id", c.status.session_id)
                                          .str("stopped_by", by)
                                          .finish());
      },
      std::move(done));
}

void ClassRegistry::join(const TokenClaims &who, const std::string &class_id, ChangeCallback done) {
  run_change(
      class_id,
      [class_id, a = actor(who, class_id)](ClassStore &s) { return s.join(class_id, a, now_ms()); },
      [this, who](const ClassChange &c) {
        bus_.publish("class.joined", JsonObjectWriter()
                                         .str("class_id", c.status.class_id)
                                         .str("user_id", who.user_id)
                                         .str("role", role_name(who.role))
                                         .num("participant_count", c.status.participant_count)
                                         .finish());
      },
      std::move(done));
}

void ClassRegistry::leave(const TokenClaims &who, const std::string &class_id,
                          ChangeCallback done) {
  run_change(
      class_id,
      [class_id, a = actor(who, class_id)](ClassStore &s) {
        return s.leave(class_id, a, now_ms());
      },
      [this, who](const ClassChange &c) {
        bus_.publish("class.left", JsonObjectWriter()
                                       .str("class_id", c.status.class_id)
                                       .str("user_id", who.user_id)
                                       .num("participant_count", c.status.participant_count)
                                       .finish());
      },
      std::move(done));
}

void ClassRegistry::pin_profile(const TokenClaims &who, const std::string &class_id,
                                const std::string &profile, ChangeCallback done) {
  if (!profiles_.is_valid_choice(profile)) {
    Error e{ErrorKind::kInvalid, "invalid_field",
            "Field 'profile' must be one of: " + profiles_.names_joined() + "."};
    run_change(
        class_id, [e](ClassStore &) -> Result<ClassChange> { return e; }, nullptr, std::move(done));
    return;
  }
  run_change(
      class_id,
      [class_id, profile, a = actor(who, class_id)](ClassStore &s) {
        return s.pin_profile(class_id, a, profile, now_ms());
      },
      [this, who, profile](const ClassChange &c) {
        bus_.publish("class.profile_pinned", JsonObjectWriter()
                                                 .str("class_id", c.status.class_id)
                                                 .str("user_id", who.user_id)
                                                 .str("profile", profile)
                                                 .finish());
      },
      std::move(done));
}

void ClassRegistry::on_recording_state(const std::string &payload) {
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json_parser_load_from_data(p, payload.c_str(), -1, nullptr) ||
      !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
    return;
  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  auto str = [o](const char *k) { return json_object_get_string_member_with_default(o, k, ""); };
  std::string error = str("error");
  JsonObjectWriter w;
  w.str("recording_id", str("recording_id")).str("state", str("state"));
  if (error.empty())
    w.null("error");
  else
    w.str("error", error);
  recording_news_[str("class_id")] = w.finish();
}

void ClassRegistry::status(const std::string &class_id, StatusCallback done) {
  run_change(
      class_id,
      [=](ClassStore &s) -> Result<ClassChange> {
        auto r = s.status(class_id);
        if (!r) return r.error();
        return ClassChange{*r, false};
      },
      nullptr,
      [this, done = std::move(done)](Result<ClassChange> r) {
        if (!r) return done(r.error());
        auto news = recording_news_.find(r->status.class_id);
        if (news != recording_news_.end()) r->status.recording_json = news->second;
        done(std::move(r->status));
      });
}

void ClassRegistry::pinned_profile(const std::string &user_id, const std::string &class_id,
                                   std::function<void(Result<std::optional<std::string>>)> done) {
  run<ClassStore, std::optional<std::string>>(
      [user_id, class_id](ClassStore &s) { return s.pinned_profile(class_id, user_id); },
      std::move(done));
}

void ClassRegistry::attended(const std::string &class_id, const std::string &user_id,
                             std::function<void(Result<bool>)> done) {
  run<ClassStore, bool>(
      [user_id, class_id](ClassStore &s) { return s.attended(class_id, user_id); },
      std::move(done));
}

void ClassRegistry::health(HealthCallback done) {
  auto result = std::make_shared<std::optional<Result<int>>>();
  worker_.post(
      [result](Database *db, const std::string &open_error) {
        if (!db) {
          result->emplace(unavailable(open_error));
          return;
        }
        try {
          db->ping();
          result->emplace(current_schema_version(*db));
        } catch (const StorageError &e) {
          result->emplace(unavailable(e.what()));
        }
      },
      [result, done = std::move(done)] { done(std::move(**result)); });
}

std::string ClassRegistry::chat_json(const ChatMessage &m) {
  return JsonObjectWriter()
      .str("message_id", m.message_id)
      .str("user_id", m.user_id)
      .str("role", role_name(m.role))
      .str("text", m.text)
      .str("sent_at", iso8601_from_ms(m.sent_at_ms))
      .num("sent_at_ms", m.sent_at_ms)
      .finish();
}

void ClassRegistry::run_chat(const std::string &class_id,
                             std::function<Result<std::string>(ChatStore &)> op,
                             JsonCallback done) {
  if (auto e = check_class_id(class_id)) {
    run_later([done = std::move(done), err = *e] { done(err); });
    return;
  }
  run<ChatStore, std::string>(std::move(op), std::move(done));
}

void ClassRegistry::chat_post(const TokenClaims &who, const std::string &class_id,
                              const std::string &text, JsonCallback done) {
  std::string t = text;
  if (g_utf8_validate(t.c_str(), static_cast<gssize>(t.size()), nullptr)) {
    g_autofree char *copy = g_strdup(t.c_str());
    t = g_strstrip(copy);
  }
  auto invalid = [](const std::string &why) {
    return Error{ErrorKind::kInvalid, "invalid_field", why};
  };
  std::optional<Error> bad;
  if (!g_utf8_validate(t.c_str(), static_cast<gssize>(t.size()), nullptr) ||
      t.find('\0') != std::string::npos)
    bad = invalid("Field 'text' must be UTF-8 text.");
  else if (t.empty())
    bad = invalid("Field 'text' is empty.");
  else if (static_cast<size_t>(g_utf8_strlen(t.c_str(), -1)) > kMaxChatChars)
    bad = invalid("A message may be at most " + std::to_string(kMaxChatChars) + " characters.");
  else
    for (unsigned char ch : t)
      if (ch < 0x20 && ch != '\n' && ch != '\t')
        bad = invalid("Field 'text' has control characters.");
  if (bad) {
    run_later([done = std::move(done), err = *bad] { done(err); });
    return;
  }
  run_chat(
      class_id,
      [class_id, t, a = actor(who, class_id)](ChatStore &s) -> Result<std::string> {
        auto m = s.post(class_id, a, t, now_ms());
        if (!m) return m.error();
        return chat_json(*m);
      },
      [this, class_id, done = std::move(done)](Result<std::string> r) {
        if (r)
          bus_.publish("chat.message",
                       JsonObjectWriter().str("class_id", class_id).raw("message", *r).finish());
        done(std::move(r));
      });
}

void ClassRegistry::chat_recent(const std::string &class_id, JsonCallback done) {
  run_chat(
      class_id,
      [class_id](ChatStore &s) -> Result<std::string> {
        auto list = s.recent(class_id, 100);
        if (!list) return list.error();
        std::string a = "[";
        for (const auto &m : *list)
          a += (a.size() > 1 ? "," : "") + chat_json(m);
        return JsonObjectWriter().raw("messages", a + "]").finish();
      },
      std::move(done));
}

void ClassRegistry::chat_remove(const TokenClaims &who, const std::string &class_id,
                                const std::string &message_id, JsonCallback done) {
  run_chat(
      class_id,
      [class_id, message_id, a = actor(who, class_id)](ChatStore &s) -> Result<std::string> {
        auto m = s.remove(class_id, message_id, a, now_ms());
        if (!m) return m.error();
        return chat_json(*m);
      },
      [this, class_id, message_id, done = std::move(done)](Result<std::string> r) {
        if (r)
          bus_.publish(
              "chat.removed",
              JsonObjectWriter().str("class_id", class_id).str("message_id", message_id).finish());
        done(std::move(r));
      });
}

}  // namespace gramothi
