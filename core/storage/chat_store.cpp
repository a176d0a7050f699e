// Chat messages, written once for both backends.
#include "storage/chat_store.hpp"

#include "storage/store_support.hpp"

namespace gramothi {
namespace {

ChatMessage chat_from(const SqlRow &r) {
  ChatMessage m;
  m.message_id = r[0].value_or("");
  m.class_id = r[1].value_or("");
  m.user_id = r[2].value_or("");
  m.role = parse_role(r[3].value_or("")).value_or(Role::kStudent);
  m.text = r[4].value_or("");
  m.sent_at_ms = to_i64(r[5]);
  return m;
}

const char *kChatColumns = "message_id, class_id, user_id, role, text, sent_at_ms";

}  // namespace

Result<ChatMessage> ChatStore::post(const std::string &class_id, const Actor &who,
                                    const std::string &text, int64_t now_ms) {
  const std::string &user_id = who.user_id;
  const Role role = who.role;
  return in_transaction<ChatMessage>(db_, [&]() -> Result<ChatMessage> {
    if (!may_attend(db_, class_id, who)) return not_in_class(class_id);
    auto cls = db_.query("SELECT 1 FROM classes WHERE class_id = $1", {class_id});
    if (cls.empty()) return not_found(class_id);
    ChatMessage m;
    m.message_id = new_id();
    m.class_id = class_id;
    m.user_id = user_id;
    m.role = role;
    m.text = text;
    m.sent_at_ms = now_ms;
    db_.query(std::string("INSERT INTO chat_messages (") + kChatColumns +
                  ") VALUES ($1, $2, $3, $4, $5, $6)",
              {m.message_id, class_id, user_id, std::string(role_name(role)), text, num(now_ms)});
    return m;
  });
}

Result<std::vector<ChatMessage>> ChatStore::recent(const std::string &class_id, int limit) {
  try {
    // The newest `limit`, returned oldest first.
    auto rows = db_.query(std::string("SELECT ") + kChatColumns +
                              " FROM chat_messages WHERE class_id = $1 AND removed_at_ms IS NULL "
                              "ORDER BY sent_at_ms DESC, message_id DESC LIMIT $2",
                          {class_id, num(limit)});
    std::vector<ChatMessage> out;
    for (auto it = rows.rbegin(); it != rows.rend(); ++it)
      out.push_back(chat_from(*it));
    return out;
  } catch (const StorageError &e) {
    return from_storage(e);
  }
}

Result<ChatMessage> ChatStore::remove(const std::string &class_id, const std::string &message_id,
                                      const Actor &who, int64_t now_ms) {
  const std::string &user_id = who.user_id;
  if (who.role == Role::kStudent)
    return Error{ErrorKind::kForbidden, "forbidden_role", "Students may not remove messages."};
  return in_transaction<ChatMessage>(db_, [&]() -> Result<ChatMessage> {
    auto cls = lock_class(db_, class_id);
    if (!may_teach(db_, class_id, who)) return not_owner(class_id);
    if (!cls) return not_found(class_id);
    auto rows = db_.query(std::string("SELECT ") + kChatColumns +
                              " FROM chat_messages WHERE message_id = $1 AND class_id = $2 AND "
                              "removed_at_ms IS NULL",
                          {message_id, class_id});
    if (rows.empty())
      return Error{ErrorKind::kNotFound, "message_not_found", "No such message in this class."};
    db_.query("UPDATE chat_messages SET removed_at_ms = $1, removed_by = $2 WHERE message_id = $3",
              {num(now_ms), user_id, message_id});
    return chat_from(rows[0]);
  });
}

}  // namespace gramothi
