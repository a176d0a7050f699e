#include "client.hpp"

#include "signaling.hpp"

namespace gramothi::signaling {

Client::Client(Signaling &plugin, GramothiWsConnection *conn, std::string class_id)
    : plugin(plugin),
      conn(conn),
      class_id(std::move(class_id)),
      peer(nullptr, {plugin.host}),
      rate(plugin.options.rate_per_second) {}

Client::~Client() {
  cancel_auth_timer();
  cancel_expiry_timer();
}

bool Client::is_staff() const {
  return teaches;
}

void Client::send(const std::string &json) const {
  // A text frame must be UTF-8, and text from a client may not be even after parsing: JSON-GLib
  // decodes an unpaired surrogate escape ("\ud800") into bytes that are not, and quotes them in
  // its parse errors (found by fuzz/signaling_fuzz). U+FFFD stands in for them.
  if (g_utf8_validate(json.data(), static_cast<gssize>(json.size()), nullptr))
    return static_cast<void>(plugin.host->ws_send(conn, json.c_str()));
  g_autofree char *valid = g_utf8_make_valid(json.data(), static_cast<gssize>(json.size()));
  plugin.host->ws_send(conn, valid);
}

void Client::send_error(const char *code, const std::string &text, const char *about) const {
  if (about)
    send(message("error", {{"code", code}, {"message", text}, {"about", about}}));
  else
    send(message("error", {{"code", code}, {"message", text}}));
}

void Client::refuse(const char *code, const std::string &text, const char *about) {
  if (!authenticated && ++refusals_before_auth > kRefusalsBeforeAuth)
    return close(4401, "not_authenticated");
  send_error(code, text, about);
}

void Client::close(uint16_t code, const char *reason) {
  if (closing) return;
  closing = true;
  cancel_auth_timer();
  cancel_expiry_timer();
  plugin.host->ws_close(conn, code, reason);
}

void Client::cancel_auth_timer() {
  if (auth_timer) g_source_remove(auth_timer);
  auth_timer = 0;
}

void Client::cancel_expiry_timer() {
  if (expiry_timer) g_source_remove(expiry_timer);
  expiry_timer = 0;
}

namespace {

struct PendingResult {
  std::weak_ptr<Client> client;
  ClientResult then;
};

void run_pending_result(const GramothiError *error, const char *json, void *data) {
  std::unique_ptr<PendingResult> pending(static_cast<PendingResult *>(data));
  if (std::shared_ptr<Client> c = pending->client.lock()) pending->then(*c, error, json);
}

}  // namespace

Completion when_answered(Client &c, ClientResult then) {
  return {run_pending_result, new PendingResult{c.weak_from_this(), std::move(then)}};
}

void ask_about_class(Client &c, ClassQuery query, ClientResult then) {
  Completion done = when_answered(c, std::move(then));
  query(c.plugin.ctx, c.class_id.c_str(), done.callback, done.user_data);
}

void ignore_result(const GramothiError *, const char *, void *) {}

std::string to_json(JsonBuilder *b) {
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_root(gen, root);
  g_autofree char *text = json_generator_to_data(gen, nullptr);
  return text;
}

std::string message(const char *type,
                    std::initializer_list<std::pair<const char *, std::string>> fields) {
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, type);
  for (const auto &[k, v] : fields) {
    json_builder_set_member_name(b, k);
    json_builder_add_string_value(b, v.c_str());
  }
  json_builder_end_object(b);
  return to_json(b);
}

const char *role_name(int32_t role) {
  switch (role) {
    case GRAMOTHI_ROLE_TEACHER:
      return "teacher";
    case GRAMOTHI_ROLE_ADMIN:
      return "admin";
    default:
      return "student";
  }
}

}  // namespace gramothi::signaling
