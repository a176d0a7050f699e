// Client messages: the checks every message passes (rate, frame, size, JSON, type,
// authentication), then its fields against the table of its type, then its handler. The order
// of the checks is part of the protocol (api/signaling.md, Limits). What fails a check is
// refused (Client::refuse): before authentication only the first few refusals are answered.
#include <cstring>
#include <span>
#include <string>

#include "handlers.hpp"

namespace gramothi::signaling {

namespace {

using plugin::FieldRule;
using plugin::FieldType;

constexpr size_t kMaxSdp = 32 * 1024;
constexpr size_t kMaxCandidate = 1024;
constexpr size_t kMaxChatBytes = 4096;
constexpr size_t kMaxMessageId = 64;

constexpr const char *kBadReport =
    "downlink_kbps, rtt_ms and loss_pct must be non-negative numbers (loss_pct at most 100), "
    "downloading true or false.";
constexpr const char *kBadSlideTarget =
    "'slide_id' must be a string and 'order_no' a whole number from 1.";

constexpr FieldRule kEnvelope[] = {{.name = "type", .required = true}};
constexpr FieldRule kAuthenticate[] = {{.name = "token", .required = true}};
constexpr FieldRule kPublishOrAnswer[] = {{.name = "sdp", .required = true, .max_bytes = kMaxSdp}};
constexpr FieldRule kListen[] = {{.name = "profile"},
                                 {.name = "held", .type = FieldType::kBoolean}};
constexpr FieldRule kResume[] = {{.name = "session", .required = true, .max_bytes = 64}};
constexpr FieldRule kIceCandidate[] = {
    {.name = "candidate", .max_bytes = kMaxCandidate},
    {.name = "sdpMLineIndex", .type = FieldType::kNumber, .min = 0, .max = 16},
};
constexpr FieldRule kProfile[] = {{.name = "profile", .required = true}};
constexpr FieldRule kBandwidthReport[] = {
    {.name = "downlink_kbps", .type = FieldType::kNumber, .max = 10000000, .invalid = kBadReport},
    {.name = "rtt_ms", .type = FieldType::kNumber, .max = 600000, .invalid = kBadReport},
    {.name = "loss_pct", .type = FieldType::kNumber, .max = 100, .invalid = kBadReport},
    {.name = "downloading", .type = FieldType::kBoolean, .invalid = kBadReport},
};
constexpr FieldRule kSlideSync[] = {
    {.name = "action", .required = true},
    {.name = "slide_id", .invalid = kBadSlideTarget},
    {.name = "order_no",
     .type = FieldType::kNumber,
     .min = 1,
     .max = 100000,
     .invalid = kBadSlideTarget},
};
constexpr FieldRule kChatMessage[] = {
    {.name = "text",
     .required = true,
     .max_bytes = kMaxChatBytes,
     .too_long = {.message = "A message may be at most 500 characters."}},
};
constexpr FieldRule kChatRemove[] = {
    // An over-long id is no id.
    {.name = "message_id",
     .required = true,
     .max_bytes = kMaxMessageId,
     .too_long = {.code = "missing_field", .message = "Field 'message_id' is required."}},
};

enum class Access {
  kAnyone,
  kAuthenticated,  // "not_authenticated" before
};

using Handler = void (*)(Client &, const JsonFields &);

struct Route {
  const char *type;
  Access access;
  std::span<const FieldRule> fields;
  Handler handle;
};

void handle_ping(Client &c, const JsonFields &) {
  c.send(message("pong", {}));
}

constexpr Route kRoutes[] = {
    {"ping", Access::kAnyone, {}, handle_ping},
    // Before authentication: the token; after: a new one for the same user (connection.cpp).
    {"authenticate", Access::kAnyone, kAuthenticate, handle_authenticate},
    {"publish", Access::kAuthenticated, kPublishOrAnswer, handle_publish},
    {"listen", Access::kAuthenticated, kListen, handle_listen},
    {"play", Access::kAuthenticated, {}, handle_play},
    {"resume", Access::kAuthenticated, kResume, handle_resume},
    {"answer", Access::kAuthenticated, kPublishOrAnswer, handle_answer},
    {"ice-candidate", Access::kAuthenticated, kIceCandidate, handle_ice_candidate},
    {"profile", Access::kAuthenticated, kProfile, handle_profile},
    {"bandwidth-report", Access::kAuthenticated, kBandwidthReport, handle_bandwidth_report},
    {"stop-media", Access::kAuthenticated, {}, handle_stop_media},
    {"slide-sync", Access::kAuthenticated, kSlideSync, handle_slide_sync},
    {"chat-message", Access::kAuthenticated, kChatMessage, handle_chat_message},
    {"chat-remove", Access::kAuthenticated, kChatRemove, handle_chat_remove},
};

const Route *find_route(const char *type) {
  for (const Route &r : kRoutes)
    if (strcmp(r.type, type) == 0) return &r;
  return nullptr;
}

// Every message counts against the client's rate (RateGate): over it, one rate_limited answer a
// second at most, and a client that keeps flooding is closed with 1008.
bool within_rate(Client &c) {
  switch (c.rate.admit(g_get_monotonic_time())) {
    case RateGate::Verdict::kPass:
      return true;
    case RateGate::Verdict::kWarn:
      c.refuse("rate_limited", "Too many messages; slow down. Some were dropped.");
      return false;
    case RateGate::Verdict::kDrop:
      return false;
    case RateGate::Verdict::kClose:
      c.close(1008, "rate_limited");
      return false;
  }
  return false;
}

// A message past the rate gate.
void handle_admitted(Client &c, const char *data, size_t length, bool is_text) {
  size_t max_message = c.plugin.options.max_message;
  if (!is_text) return c.refuse("invalid_message", "Send JSON text messages, not binary.");
  if (length > max_message)
    return c.refuse("message_too_large",
                    "Messages may be at most " + std::to_string(max_message) + " bytes.");
  if (!g_utf8_validate(data, static_cast<gssize>(length), nullptr))
    return c.refuse("invalid_json", "The message is not UTF-8 text.");
  if (!plugin::json_depth_within(data, length))
    return c.refuse("invalid_json", "The message nests deeper than 64 levels.");
  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  g_autoptr(GError) err = nullptr;
  if (!json_parser_load_from_data(parser, data, static_cast<gssize>(length), &err))
    return c.refuse("invalid_json", std::string("The message is not JSON: ") + err->message);
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root))
    return c.refuse("invalid_json", "A message is a JSON object with a \"type\".");
  JsonFields fields(json_node_get_object(root));
  if (auto error = fields.check(kEnvelope)) return c.refuse(error->code, error->message);
  const char *type = fields.string("type");

  const Route *route = find_route(type);
  // An unknown type is answered as one that needs authentication.
  Access access = route ? route->access : Access::kAuthenticated;
  if (access == Access::kAuthenticated && !c.authenticated) {
    // While the token is checked (the class lookup takes a moment) a message waits its turn:
    // a client that authenticated with the upgrade sends `listen` without waiting a round trip.
    if (c.checking_token && c.waiting.size() < Client::kMaxWaiting) {
      c.waiting.emplace_back(data, length);
      return;
    }
    return c.refuse("not_authenticated", "Send 'authenticate' first.", type);
  }
  if (!route)
    return c.refuse("unknown_type", "Unknown message type '" + std::string(type) + "'.", type);
  if (auto error = fields.check(route->fields)) return c.refuse(error->code, error->message, type);
  route->handle(c, fields);
}

}  // namespace

void handle_message(Client &c, const char *data, size_t length, bool is_text) {
  if (within_rate(c)) handle_admitted(c, data, length, is_text);
}

void handle_waiting(Client &c) {
  std::vector<std::string> waiting = std::move(c.waiting);
  c.waiting.clear();
  for (const auto &m : waiting) {
    if (c.closing) return;
    handle_admitted(c, m.data(), m.size(), true);
  }
}

}  // namespace gramothi::signaling
