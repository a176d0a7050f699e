// Slides on the class socket: the teacher's slide-sync, every socket's current slide at its own
// profile, and the deck's rendering progress for the staff.
#include "handlers.hpp"

namespace gramothi::signaling {

namespace {

// The image of `c`'s profile among a slide's images: a listener's current profile; otherwise
// the profile listeners start at (the lowest: nothing is known of the link yet) for students,
// and the largest for teachers, who present on big screens. nullptr when the slide has none.
// `profile` gets the chosen image's profile.
JsonObject *image_for(const Client &c, JsonObject *slide, std::string &profile) {
  JsonObject *images = slide ? json_object_get_object_member(slide, "images") : nullptr;
  if (!images || json_object_get_size(images) == 0) return nullptr;
  if (!c.profile.empty() && json_object_has_member(images, c.profile.c_str())) {
    profile = c.profile;
    return json_object_get_object_member(images, c.profile.c_str());
  }
  g_autoptr(GList) names = json_object_get_members(images);
  guint n = g_list_length(names);
  guint index = c.who.role == GRAMOTHI_ROLE_STUDENT ? 0 : n - 1;
  profile = static_cast<const char *>(g_list_nth_data(names, index));
  return json_object_get_object_member(images, profile.c_str());
}

// The slide-sync message for one client, in the original module's shape, with the image of
// that client's profile. `event` is a slides.sync payload: {class_id, action, timestamp, slide,
// next}. "" when it has no slide.
// An image's URL for `c`: when `c`'s profile says how fast its link is (a student listening on
// automatic quality, whose profile the server measured from its link; or one not listening yet,
// who gets the lowest profile's image, where automatic listeners start), the image of profile P
// goes at what a link on P leaves beside the audio (the REST route reads ?pace=P). A student who
// pinned a profile chose it; its link is unknown, and its images are not paced. Teachers'
// images are not paced either.
std::string image_url(const Client &c, JsonObject *image, const std::string &profile) {
  std::string url = json_object_get_string_member_with_default(image, "url", "");
  bool paced = c.who.role == GRAMOTHI_ROLE_STUDENT && !c.profile_pinned;
  if (paced && !url.empty() && url.find('?') == std::string::npos) url += "?pace=" + profile;
  return url;
}

std::string slide_message(const std::string &event, const Client &c, const char *action) {
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json_parser_load_from_data(p, event.c_str(), -1, nullptr)) return "";
  JsonObject *e = json_node_get_object(json_parser_get_root(p));
  JsonObject *slide = json_object_get_object_member(e, "slide");
  if (!slide) return "";
  std::string profile, next_profile;
  JsonObject *image = image_for(c, slide, profile);
  JsonNode *next_node = json_object_get_member(e, "next");
  JsonObject *next =
      next_node && JSON_NODE_HOLDS_OBJECT(next_node) ? json_node_get_object(next_node) : nullptr;
  JsonObject *next_image = image_for(c, next, next_profile);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "slide-sync");
  json_builder_set_member_name(b, "data");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "action");
  json_builder_add_string_value(
      b, action ? action : json_object_get_string_member_with_default(e, "action", "goto"));
  json_builder_set_member_name(b, "slide_id");
  json_builder_add_string_value(b,
                                json_object_get_string_member_with_default(slide, "slide_id", ""));
  json_builder_set_member_name(b, "slide_data");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "file_url");
  if (image)
    json_builder_add_string_value(b, image_url(c, image, profile).c_str());
  else
    json_builder_add_null_value(b);
  // The slowest profiles' images come with a tiny preview (profiles.ini slide_preview), shown
  // until the image arrives; its URL is paced like the image's.
  JsonNode *preview_node = image ? json_object_get_member(image, "preview") : nullptr;
  if (preview_node && JSON_NODE_HOLDS_OBJECT(preview_node)) {
    json_builder_set_member_name(b, "preview_url");
    json_builder_add_string_value(
        b, image_url(c, json_node_get_object(preview_node), profile).c_str());
  }
  json_builder_set_member_name(b, "order_no");
  json_builder_add_int_value(b, json_object_get_int_member_with_default(slide, "order_no", 0));
  if (image) {
    json_builder_set_member_name(b, "width");
    json_builder_add_int_value(b, json_object_get_int_member_with_default(image, "width", 0));
    json_builder_set_member_name(b, "height");
    json_builder_add_int_value(b, json_object_get_int_member_with_default(image, "height", 0));
  }
  json_builder_set_member_name(b, "text");
  json_builder_add_string_value(b, json_object_get_string_member_with_default(slide, "text", ""));
  json_builder_set_member_name(b, "next_file_url");
  if (next_image)
    json_builder_add_string_value(b, image_url(c, next_image, next_profile).c_str());
  else
    json_builder_add_null_value(b);
  json_builder_end_object(b);
  json_builder_set_member_name(b, "timestamp");
  json_builder_add_int_value(b, json_object_get_int_member_with_default(e, "timestamp", 0));
  json_builder_end_object(b);
  json_builder_end_object(b);
  return to_json(b);
}

// A slides.sync-shaped event (action "current") for the current slide of a slides_list answer,
// or "" when the deck has no current slide.
std::string current_slide_event(const std::string &class_id, const char *slides_json) {
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json_parser_load_from_data(p, slides_json, -1, nullptr)) return "";
  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  const char *current = json_object_get_string_member_with_default(o, "current_slide_id", "");
  JsonArray *slides = json_object_get_array_member(o, "slides");
  JsonNode *cur = nullptr, *next = nullptr;
  for (guint i = 0; slides && i < json_array_get_length(slides) && !next; i++) {
    JsonObject *sl = json_array_get_object_element(slides, i);
    if (cur &&
        g_strcmp0(json_object_get_string_member_with_default(sl, "status", ""), "ready") == 0)
      next = json_array_get_element(slides, i);
    if (!cur && *current &&
        g_strcmp0(json_object_get_string_member_with_default(sl, "slide_id", ""), current) == 0)
      cur = json_array_get_element(slides, i);
  }
  if (!cur) return "";
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "class_id");
  json_builder_add_string_value(b, class_id.c_str());
  json_builder_set_member_name(b, "action");
  json_builder_add_string_value(b, "current");
  json_builder_set_member_name(b, "timestamp");
  json_builder_add_int_value(b, g_get_real_time() / 1000);
  json_builder_set_member_name(b, "slide");
  json_builder_add_value(b, json_node_copy(cur));
  json_builder_set_member_name(b, "next");
  if (next)
    json_builder_add_value(b, json_node_copy(next));
  else
    json_builder_add_null_value(b);
  json_builder_end_object(b);
  return to_json(b);
}

// fetch_current_slide, step 2: the class's deck arrived. The room keeps the current slide it
// heard of (from slides.sync or an earlier look-up) over the deck's.
void on_deck_listed(Client &c, const GramothiError *error, const char *json) {
  if (error) return;
  auto room = c.plugin.rooms.find(c.class_id);
  if (room == c.plugin.rooms.end()) return;
  if (room->second.current_slide.empty()) {
    std::string event = current_slide_event(c.class_id, json);
    if (event.empty()) return;
    room->second.current_slide = event;
  }
  send_current_slide(c, "current");
}

// handle_slide_sync, step 2: a move reaches everyone (this socket too) as slide-sync through
// the slides.sync event; a move that changed nothing is answered here.
void on_synced(Client &c, const GramothiError *error, const char *json) {
  if (error) return c.send_error(error->code, error->message, "slide-sync");
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json_parser_load_from_data(p, json, -1, nullptr)) return;
  JsonObject *r = json_node_get_object(json_parser_get_root(p));
  if (json_object_get_boolean_member_with_default(r, "changed", FALSE)) return;
  c.send(message("slide-sync-result",
                 {{"changed", "false"},
                  {"reason", json_object_get_string_member_with_default(r, "reason", "")}}));
}

}  // namespace

void send_current_slide(Client &c, const char *action) {
  auto room = c.plugin.rooms.find(c.class_id);
  if (room == c.plugin.rooms.end() || room->second.current_slide.empty() || !c.authenticated)
    return;
  std::string text = slide_message(room->second.current_slide, c, action);
  if (!text.empty()) c.send(text);
}

void fetch_current_slide(Client &c) {
  if (GRAMOTHI_HOST_HAS(c.plugin.host, slides_list))
    ask_about_class(c, c.plugin.host->slides_list, on_deck_listed);
}

void handle_slide_sync(Client &c, const JsonFields &f) {
  Signaling &s = c.plugin;
  if (!GRAMOTHI_HOST_HAS(s.host, slides_sync))
    return c.send_error("slides_unavailable", "This server has no slides.", "slide-sync");
  Completion done = when_answered(c, on_synced);
  s.host->slides_sync(s.ctx, &c.who, c.class_id.c_str(), f.string("action"), f.string("slide_id"),
                      f.number("order_no").value_or(0), done.callback, done.user_data);
}

// Every connected client of the class gets the new slide at its own profile.
void on_slides_sync(const char *, const char *payload, void *signaling) {
  auto &s = *static_cast<Signaling *>(signaling);
  g_autoptr(JsonParser) p = json_parser_new();
  auto room = s.rooms.find(payload_class(p, payload));
  if (room == s.rooms.end()) return;
  room->second.current_slide = payload;
  for (const std::shared_ptr<Client> &c : std::set(room->second.clients))
    if (c->authenticated) send_current_slide(*c, nullptr);
}

// The teacher (and admins) see the deck's rendering progress.
void on_slides_progress(const char *, const char *payload, void *signaling) {
  auto &s = *static_cast<Signaling *>(signaling);
  g_autoptr(JsonParser) p = json_parser_new();
  auto room = s.rooms.find(payload_class(p, payload));
  if (room == s.rooms.end()) return;
  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "slides-progress");
  for (const char *k : {"deck_id", "status"}) {
    json_builder_set_member_name(b, k);
    json_builder_add_string_value(b, json_object_get_string_member_with_default(o, k, ""));
  }
  for (const char *k : {"pages_total", "pages_done", "pages_failed"}) {
    json_builder_set_member_name(b, k);
    JsonNode *n = json_object_get_member(o, k);
    if (n && JSON_NODE_HOLDS_VALUE(n))
      json_builder_add_int_value(b, json_node_get_int(n));
    else
      json_builder_add_null_value(b);
  }
  json_builder_end_object(b);
  broadcast(s, room->first, to_json(b), Audience::kStaff);
}

}  // namespace gramothi::signaling
