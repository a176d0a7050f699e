// Small JSON helpers: a writer for the objects core composes, and a parser front-end over
// json-glib that refuses anything but one JSON object.
#pragma once

#include <json-glib/json-glib.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.hpp"

#include "base/json_depth.hpp"

namespace gramothi {

// `s` as a JSON string literal, quotes included. Invalid UTF-8 is replaced, not passed on.
std::string json_quote(std::string_view s);

// Builds one JSON object, key by key, in insertion order.
class JsonObjectWriter {
 public:
  JsonObjectWriter &str(std::string_view key, std::string_view value);
  // null when empty
  JsonObjectWriter &opt_str(std::string_view key, const std::optional<std::string> &value);
  JsonObjectWriter &num(std::string_view key, int64_t value);
  JsonObjectWriter &num(std::string_view key, double value);
  JsonObjectWriter &boolean(std::string_view key, bool value);
  JsonObjectWriter &null(std::string_view key);
  JsonObjectWriter &raw(std::string_view key, std::string_view json);  // already-valid JSON
  std::string finish() const { return body_ + "}"; }

 private:
  void key(std::string_view k);
  std::string body_ = "{";
};

struct JsonNodeDeleter {
  void operator()(JsonNode *n) const { json_node_unref(n); }
};
using JsonNodePtr = std::unique_ptr<JsonNode, JsonNodeDeleter>;

// Parses `data` as exactly one JSON object, nested at most kMaxJsonDepth deep (JSON-GLib
// recurses once per level: a few hundred kilobytes of "[[[[" overflow the stack).
// Errors: kInvalid "invalid_json".
constexpr int kMaxJsonDepth = 256;
Result<JsonNodePtr> parse_json_object(std::string_view data);

// "2026-11-24T10:00:00.123Z" for a unix time in milliseconds.
std::string iso8601_from_ms(int64_t ms);

}  // namespace gramothi
