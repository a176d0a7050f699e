// Checks a JSON object's fields against a declarative table, in the spirit of Janus's
// janus_json_parameter: each message type lists its fields once ({name, type, required, size,
// range}) and one function checks them all and says what is wrong, with the stable codes
// "missing_field" and "invalid_field". Header-only: each plugin is its own module.
//
//   constexpr FieldRule kPublish[] = {{.name = "sdp", .required = true, .max_bytes = 32768}};
//   JsonFields fields(object);
//   if (auto error = fields.check(kPublish)) return reply(error->code, error->message);
//   const char *sdp = fields.string("sdp");
//
// A null member counts as absent. Unknown members are ignored. A string must be UTF-8: JSON-GLib
// decodes an unpaired surrogate escape ("\ud800") into bytes that are not, and such a string
// would reach the host, or come back in an answer that no WebSocket may carry (found by
// fuzz/signaling_fuzz).
#pragma once

#include <json-glib/json-glib.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>

namespace gramothi::plugin {

// JSON-GLib parses recursively with no depth limit: about 75 KB of '[' overflow the main
// thread's stack. Plugins check the nesting before they parse (the host does the same for its
// own JSON, in core/base/json.cpp; plugins are modules built against the ABI only, so they keep
// this copy). Brackets inside strings do not count.
constexpr int kMaxJsonDepth = 64;
inline bool json_depth_within(const char *data, size_t len, int max_depth = kMaxJsonDepth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < len; i++) {
    char ch = data[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (ch == '\\')
        escaped = true;
      else if (ch == '"')
        in_string = false;
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '[' || ch == '{') {
      if (++depth > max_depth) return false;
    } else if (ch == ']' || ch == '}') {
      depth--;
    }
  }
  return true;
}

enum class FieldType {
  kString,
  kNumber,  // a JSON integer or fraction within [min, max]; read truncated toward zero
  kBoolean,
};

// What a string over max_bytes is reported as.
struct Oversize {
  const char *code = "invalid_field";
  const char *message = nullptr;  // nullptr: "Field '<name>' is too long."
};

struct FieldRule {
  const char *name;
  FieldType type = FieldType::kString;
  // Absent, null or of the wrong type: "missing_field", "Field '<name>' is required.".
  bool required = false;
  size_t max_bytes = 0;      // strings; 0 = any length
  int64_t min = 0, max = 0;  // numbers
  // The "invalid_field" sentence for an optional field of the wrong type or a number out of
  // range. nullptr: "Field '<name>' must be a string." or "Field '<name>' must be <min> to <max>."
  const char *invalid = nullptr;
  Oversize too_long = {};
};

// The first problem check() found: a stable code and a sentence for people.
struct FieldError {
  const char *code;
  std::string message;
};

// The members of a JSON object (borrowed), checked against rules and then read by name.
class JsonFields {
 public:
  explicit JsonFields(JsonObject *object) : object_(object) {}

  // Every field's presence, type, encoding and range in table order first, then the string
  // sizes: a message hears about a wrong type before it hears about a long string.
  std::optional<FieldError> check(std::span<const FieldRule> rules) const {
    for (const FieldRule &rule : rules) {
      JsonNode *n = member(rule.name);
      if (n && rule.type == FieldType::kString && is_string(n) &&
          !g_utf8_validate(json_node_get_string(n), -1, nullptr))
        return FieldError{"invalid_field", sentence(rule, "must be UTF-8 text.")};
      if (n && fits(n, rule)) continue;
      if (rule.required) return FieldError{"missing_field", sentence(rule, "is required.")};
      if (!n) continue;
      if (rule.invalid) return FieldError{"invalid_field", rule.invalid};
      if (rule.type == FieldType::kString)
        return FieldError{"invalid_field", sentence(rule, "must be a string.")};
      if (rule.type == FieldType::kBoolean)
        return FieldError{"invalid_field", sentence(rule, "must be true or false.")};
      return FieldError{"invalid_field",
                        sentence(rule, "must be " + std::to_string(rule.min) + " to " +
                                           std::to_string(rule.max) + ".")};
    }
    for (const FieldRule &rule : rules) {
      const char *s = rule.type == FieldType::kString ? string(rule.name) : nullptr;
      if (!s || !rule.max_bytes || strlen(s) <= rule.max_bytes) continue;
      if (rule.too_long.message) return FieldError{rule.too_long.code, rule.too_long.message};
      return FieldError{rule.too_long.code, sentence(rule, "is too long.")};
    }
    return std::nullopt;
  }

  // After check(): a string field, or nullptr when absent or null.
  const char *string(const char *name) const {
    JsonNode *n = member(name);
    return n && is_string(n) ? json_node_get_string(n) : nullptr;
  }

  // After check(): a boolean field, or `absent` when absent or null.
  bool boolean(const char *name, bool absent = false) const {
    JsonNode *n = member(name);
    return n && is_boolean(n) ? json_node_get_boolean(n) : absent;
  }

  // After check(): a boolean field, or nullopt when absent or null.
  std::optional<bool> maybe_boolean(const char *name) const {
    JsonNode *n = member(name);
    if (!n || !is_boolean(n)) return std::nullopt;
    return json_node_get_boolean(n) != FALSE;
  }

  // After check(): a number field truncated toward zero, or nullopt when absent or null.
  std::optional<int64_t> number(const char *name) const {
    JsonNode *n = member(name);
    std::optional<double> v = n ? as_double(n) : std::nullopt;
    if (!v) return std::nullopt;
    return static_cast<int64_t>(*v);
  }

 private:
  // The member, or nullptr when it is absent or null.
  JsonNode *member(const char *name) const {
    JsonNode *n = json_object_get_member(object_, name);
    return n && !JSON_NODE_HOLDS_NULL(n) ? n : nullptr;
  }

  // "Field '<name>' <rest>"
  static std::string sentence(const FieldRule &rule, const std::string &rest) {
    return "Field '" + std::string(rule.name) + "' " + rest;
  }

  static bool is_string(JsonNode *n) {
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING;
  }
  static bool is_boolean(JsonNode *n) {
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN;
  }
  static bool fits(JsonNode *n, const FieldRule &rule) {
    switch (rule.type) {
      case FieldType::kString:
        return is_string(n);
      case FieldType::kBoolean:
        return is_boolean(n);
      case FieldType::kNumber:
        break;
    }
    return in_range(n, rule);
  }

  static std::optional<double> as_double(JsonNode *n) {
    if (!JSON_NODE_HOLDS_VALUE(n)) return std::nullopt;
    GType t = json_node_get_value_type(n);
    if (t == G_TYPE_INT64) return static_cast<double>(json_node_get_int(n));
    if (t == G_TYPE_DOUBLE) return json_node_get_double(n);
    return std::nullopt;
  }

  static bool in_range(JsonNode *n, const FieldRule &rule) {
    std::optional<double> v = n ? as_double(n) : std::nullopt;
    return v && *v >= static_cast<double>(rule.min) && *v <= static_cast<double>(rule.max);
  }

  JsonObject *object_;
};

}  // namespace gramothi::plugin
