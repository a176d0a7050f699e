#include "timeline.hpp"

#include <algorithm>
#include <cstring>
#include <set>

namespace gramothi::recording {

namespace {

// One line: {"t_ms", "type", ...members in the order added}.
class Line {
 public:
  Line(int64_t t_ms, const char *type) : b_(json_builder_new()) {
    json_builder_begin_object(b_);
    json_builder_set_member_name(b_, "t_ms");
    json_builder_add_int_value(b_, std::max<int64_t>(0, t_ms));
    add("type", type);
  }
  ~Line() { g_object_unref(b_); }
  Line(const Line &) = delete;
  Line &operator=(const Line &) = delete;

  Line &add(const char *name, const char *value) {
    json_builder_set_member_name(b_, name);
    json_builder_add_string_value(b_, value);
    return *this;
  }
  Line &add_copy(const char *name, JsonNode *value) {
    json_builder_set_member_name(b_, name);
    json_builder_add_value(b_, json_node_copy(value));
    return *this;
  }
  std::string text() {
    json_builder_end_object(b_);
    g_autoptr(JsonNode) root = json_builder_get_root(b_);
    return node_text(root);
  }

 private:
  JsonBuilder *b_;  // owned
};

std::string file_of(const std::string &url) {
  auto slash = url.rfind('/');
  return slash == std::string::npos ? url : url.substr(slash + 1);
}

// The message ids of the "chat-removed" lines.
std::set<std::string> removed_messages(const std::vector<std::string> &lines) {
  std::set<std::string> removed;
  for (const auto &l : lines) {
    if (!strstr(l.c_str(), "\"chat-removed\"")) continue;
    g_autoptr(JsonParser) p = json_parser_new();
    if (JsonObject *o = parse_object(p, l.c_str()))
      removed.insert(json_object_get_string_member_with_default(o, "message_id", ""));
  }
  return removed;
}

// Opens a player event: {"t_ms", "type", ...
void begin_event(JsonBuilder *b, int64_t t, const char *type) {
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "t_ms");
  json_builder_add_int_value(b, t);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, type);
}

// A slide line as the player shows it: {t_ms, type, order_no, text, image}.
void add_slide(JsonBuilder *b, int64_t t, JsonObject *slide, const std::string &profile,
               const std::string &image_prefix, PlayerTimeline &out) {
  std::string image;
  if (slide && json_object_has_member(slide, "images")) {
    JsonObject *images = json_object_get_object_member(slide, "images");
    if (images && json_object_has_member(images, profile.c_str())) {
      JsonObject *im = json_object_get_object_member(images, profile.c_str());
      image = file_of(json_object_get_string_member_with_default(im, "url", ""));
    }
  }
  begin_event(b, t, "slide");
  json_builder_set_member_name(b, "order_no");
  json_builder_add_int_value(
      b, slide ? json_object_get_int_member_with_default(slide, "order_no", 0) : 0);
  json_builder_set_member_name(b, "text");
  json_builder_add_string_value(
      b, slide ? json_object_get_string_member_with_default(slide, "text", "") : "");
  json_builder_set_member_name(b, "image");
  if (image.empty() || image.find('/') != std::string::npos) {
    json_builder_add_null_value(b);
  } else {
    json_builder_add_string_value(b, (image_prefix + image).c_str());
    if (std::find(out.images.begin(), out.images.end(), image) == out.images.end())
      out.images.push_back(image);
  }
  json_builder_end_object(b);
}

// A chat line as the player shows it: {t_ms, type, user_id, role, text, sent_at}.
void add_chat(JsonBuilder *b, int64_t t, JsonObject *m) {
  begin_event(b, t, "chat");
  for (const char *k : {"user_id", "role", "text", "sent_at"}) {
    json_builder_set_member_name(b, k);
    json_builder_add_string_value(b, json_object_get_string_member_with_default(m, k, ""));
  }
  json_builder_end_object(b);
}

}  // namespace

std::string slide_line(int64_t t_ms, const char *action, JsonNode *slide) {
  return Line(t_ms, "slide").add("action", action).add_copy("slide", slide).text();
}

std::string chat_line(int64_t t_ms, JsonNode *message) {
  return Line(t_ms, "chat").add_copy("message", message).text();
}

std::string chat_removed_line(int64_t t_ms, const char *message_id) {
  return Line(t_ms, "chat-removed").add("message_id", message_id).text();
}

PlayerTimeline player_timeline(const Recording &r, const std::string &jsonl,
                               const std::string &profile, const std::string &image_prefix) {
  std::vector<std::string> lines;
  g_auto(GStrv) split = g_strsplit(jsonl.c_str(), "\n", -1);
  for (char **l = split; *l; l++)
    if (**l) lines.push_back(*l);
  std::set<std::string> removed = removed_messages(lines);

  PlayerTimeline out;
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "recording");
  g_autoptr(JsonParser) meta = json_parser_new();
  json_parser_load_from_data(meta, to_json(r).c_str(), -1, nullptr);
  json_builder_add_value(b, json_node_copy(json_parser_get_root(meta)));
  json_builder_set_member_name(b, "profile");
  json_builder_add_string_value(b, profile.c_str());
  json_builder_set_member_name(b, "events");
  json_builder_begin_array(b);
  for (const auto &l : lines) {
    g_autoptr(JsonParser) p = json_parser_new();
    JsonObject *o = parse_object(p, l.c_str());
    if (!o) continue;  // a line torn by a crash
    std::string type = json_object_get_string_member_with_default(o, "type", "");
    int64_t t = json_object_get_int_member_with_default(o, "t_ms", 0);
    if (type == "slide" && json_object_has_member(o, "slide")) {
      add_slide(b, t, json_object_get_object_member(o, "slide"), profile, image_prefix, out);
    } else if (type == "chat" && json_object_has_member(o, "message")) {
      JsonObject *m = json_object_get_object_member(o, "message");
      if (m && !removed.count(json_object_get_string_member_with_default(m, "message_id", "")))
        add_chat(b, t, m);
    }
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  out.json = node_text(root);
  return out;
}

}  // namespace gramothi::recording
