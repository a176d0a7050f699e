// Class chat on the socket: posting and removing messages, the history for a socket that just
// authenticated, and the bus's chat events relayed to every socket of the class.
#include <algorithm>

#include "handlers.hpp"

namespace gramothi::signaling {

namespace {

constexpr double kChatBurst = 5.0;

// handle_chat_message, step 2: everyone (this socket too) gets a posted message as
// chat-message through the chat.message event; only a failure is answered here.
void on_chat_posted(Client &c, const GramothiError *error, const char *) {
  if (!error) return;
  c.plugin.chat_allowance.refund(c.class_id, c.who.user_id);
  c.send_error(error->code, error->message, "chat-message");
}

void on_chat_remove_answered(Client &c, const GramothiError *error, const char *) {
  if (error) c.send_error(error->code, error->message, "chat-remove");
}

// {"messages": [...]} -> {"type": "chat-history", "messages": [...]}
void on_chat_history(Client &c, const GramothiError *error, const char *json) {
  if (error) return;
  std::string body = json;
  c.send("{\"type\":\"chat-history\"," + body.substr(1));
}

}  // namespace

bool ChatAllowance::take(const std::string &class_id, const std::string &user_id) {
  int64_t now = g_get_monotonic_time();
  if (buckets_.size() > 10000)  // forget users whose allowance is full again
    std::erase_if(buckets_, [&](const auto &e) {
      return e.second.tokens + (now - e.second.counted_at_us) / 60e6 * per_minute_ >= kChatBurst;
    });
  Bucket &b = buckets_.try_emplace({class_id, user_id}, Bucket{kChatBurst, 0}).first->second;
  if (b.counted_at_us)
    b.tokens = std::min(kChatBurst, b.tokens + (now - b.counted_at_us) / 60e6 * per_minute_);
  b.counted_at_us = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

void ChatAllowance::refund(const std::string &class_id, const std::string &user_id) {
  auto b = buckets_.find({class_id, user_id});
  if (b != buckets_.end()) b->second.tokens = std::min(kChatBurst, b->second.tokens + 1);
}

void send_chat_history(Client &c) {
  if (GRAMOTHI_HOST_HAS(c.plugin.host, chat_recent))
    ask_about_class(c, c.plugin.host->chat_recent, on_chat_history);
}

void handle_chat_message(Client &c, const JsonFields &f) {
  Signaling &s = c.plugin;
  if (!GRAMOTHI_HOST_HAS(s.host, chat_post))
    return c.send_error("chat_unavailable", "This server has no chat.", "chat-message");
  if (!s.chat_allowance.take(c.class_id, c.who.user_id))
    return c.send_error("chat_rate_limited", "You are sending messages too fast; wait a little.",
                        "chat-message");
  Completion done = when_answered(c, on_chat_posted);
  s.host->chat_post(s.ctx, &c.who, c.class_id.c_str(), f.string("text"), done.callback,
                    done.user_data);
}

void handle_chat_remove(Client &c, const JsonFields &f) {
  Signaling &s = c.plugin;
  if (!GRAMOTHI_HOST_HAS(s.host, chat_remove))
    return c.send_error("chat_unavailable", "This server has no chat.", "chat-remove");
  Completion done = when_answered(c, on_chat_remove_answered);
  s.host->chat_remove(s.ctx, &c.who, c.class_id.c_str(), f.string("message_id"), done.callback,
                      done.user_data);
}

void on_chat_message(const char *, const char *payload, void *signaling) {
  g_autoptr(JsonParser) p = json_parser_new();
  std::string class_id = payload_class(p, payload);
  if (class_id.empty()) return;
  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  JsonNode *m = json_object_get_member(o, "message");
  if (!m) return;
  g_autofree char *message_json = json_to_string(m, FALSE);
  broadcast(*static_cast<Signaling *>(signaling), class_id,
            std::string("{\"type\":\"chat-message\",\"message\":") + message_json + "}");
}

void on_chat_removed(const char *, const char *payload, void *signaling) {
  g_autoptr(JsonParser) p = json_parser_new();
  std::string class_id = payload_class(p, payload);
  if (class_id.empty()) return;
  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  broadcast(
      *static_cast<Signaling *>(signaling), class_id,
      message("chat-removed",
              {{"message_id", json_object_get_string_member_with_default(o, "message_id", "")}}));
}

}  // namespace gramothi::signaling
