// A class's chat messages, on a Database.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "base/role.hpp"
#include "storage/class_store.hpp"
#include "storage/database.hpp"

namespace gramothi {

struct ChatMessage {
  std::string message_id, class_id, user_id;
  Role role = Role::kStudent;
  std::string text;
  int64_t sent_at_ms = 0;
};

// A class's chat. post: the class must exist (kNotFound "class_not_found") and the caller
// attend it (kForbidden "not_in_class"); the caller checked the text. recent: the newest
// `limit` not removed, oldest first. remove: the class's teachers or an admin (students ->
// kForbidden "forbidden_role", other teachers -> "not_class_owner");
// unknown or already removed -> kNotFound "message_not_found".
class ChatStore {
 public:
  explicit ChatStore(Database &db) : db_(db) {}
  Result<ChatMessage> post(const std::string &class_id, const Actor &who, const std::string &text,
                           int64_t now_ms);
  Result<std::vector<ChatMessage>> recent(const std::string &class_id, int limit);
  Result<ChatMessage> remove(const std::string &class_id, const std::string &message_id,
                             const Actor &who, int64_t now_ms);

 private:
  Database &db_;
};

}  // namespace gramothi
