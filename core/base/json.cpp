#include "base/json.hpp"

#include <cstdio>

namespace gramothi {

std::string json_quote(std::string_view in) {
  g_autofree char *valid = g_utf8_make_valid(in.data(), static_cast<gssize>(in.size()));
  g_autoptr(JsonNode) node = json_node_init_string(json_node_alloc(), valid);
  g_autofree char *out = json_to_string(node, FALSE);
  return out;
}

void JsonObjectWriter::key(std::string_view k) {
  if (body_.size() > 1) body_ += ",";
  body_ += json_quote(k);
  body_ += ":";
}

JsonObjectWriter &JsonObjectWriter::str(std::string_view k, std::string_view value) {
  key(k);
  body_ += json_quote(value);
  return *this;
}

JsonObjectWriter &JsonObjectWriter::opt_str(std::string_view k,
                                            const std::optional<std::string> &value) {
  return value ? str(k, std::string_view(*value)) : null(k);
}

JsonObjectWriter &JsonObjectWriter::num(std::string_view k, int64_t value) {
  key(k);
  body_ += std::to_string(value);
  return *this;
}

JsonObjectWriter &JsonObjectWriter::num(std::string_view k, double value) {
  key(k);
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  body_ += g_ascii_dtostr(buf, sizeof buf, value);
  return *this;
}

JsonObjectWriter &JsonObjectWriter::boolean(std::string_view k, bool value) {
  key(k);
  body_ += value ? "true" : "false";
  return *this;
}

JsonObjectWriter &JsonObjectWriter::null(std::string_view k) {
  key(k);
  body_ += "null";
  return *this;
}

JsonObjectWriter &JsonObjectWriter::raw(std::string_view k, std::string_view json) {
  key(k);
  body_ += json;
  return *this;
}

Result<JsonNodePtr> parse_json_object(std::string_view data) {
  if (!json_depth_within(data, kMaxJsonDepth))
    return Error{ErrorKind::kInvalid, "invalid_json",
                 "The JSON nests deeper than " + std::to_string(kMaxJsonDepth) + " levels."};
  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  g_autoptr(GError) error = nullptr;
  if (!json_parser_load_from_data(parser, data.data(), static_cast<gssize>(data.size()), &error)) {
    return Error{ErrorKind::kInvalid, "invalid_json",
                 std::string("The body is not valid JSON: ") + error->message};
  }
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    return Error{ErrorKind::kInvalid, "invalid_json", "The body must be a JSON object."};
  }
  return JsonNodePtr(json_node_ref(root));
}

std::string iso8601_from_ms(int64_t ms) {
  g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(ms / 1000);
  if (!t) return "";
  g_autofree char *base = g_date_time_format(t, "%Y-%m-%dT%H:%M:%S");
  char frac[8];
  snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(((ms % 1000) + 1000) % 1000));
  return std::string(base) + frac;
}

}  // namespace gramothi
