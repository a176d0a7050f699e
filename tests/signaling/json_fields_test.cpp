// The plugins' declarative field table (plugins/common/json_fields.hpp).
#include "../../plugins/common/json_fields.hpp"

#include <gtest/gtest.h>

using gramothi::plugin::FieldRule;
using gramothi::plugin::FieldType;
using gramothi::plugin::JsonFields;

namespace {

constexpr FieldRule kRules[] = {
    {.name = "type", .required = true},
    {.name = "text", .max_bytes = 8},
    {.name = "n", .type = FieldType::kNumber, .min = 1, .max = 5},
    {.name = "b", .type = FieldType::kBoolean},
};

// The first problem of `json` (an object) against kRules, as "code: message", or "".
std::string problem(const char *json) {
  g_autoptr(JsonParser) p = json_parser_new();
  EXPECT_TRUE(json_parser_load_from_data(p, json, -1, nullptr)) << json;
  JsonFields f(json_node_get_object(json_parser_get_root(p)));
  auto e = f.check(kRules);
  return e ? std::string(e->code) + ": " + e->message : "";
}

}  // namespace

TEST(JsonFields, PresenceTypeRangeAndSizeAreChecked) {
  EXPECT_EQ(problem(R"({"type":"a","text":"short","n":3})"), "");
  EXPECT_EQ(problem(R"({"text":"a"})"), "missing_field: Field 'type' is required.");
  EXPECT_EQ(problem(R"({"type":"a","text":5})"), "invalid_field: Field 'text' must be a string.");
  EXPECT_EQ(problem(R"({"type":"a","n":6})"), "invalid_field: Field 'n' must be 1 to 5.");
  EXPECT_EQ(problem(R"({"type":"a","text":"far too long"})"),
            "invalid_field: Field 'text' is too long.");
  EXPECT_EQ(problem(R"({"type":"a","b":true})"), "");
  EXPECT_EQ(problem(R"({"type":"a","b":null})"), "");
  EXPECT_EQ(problem(R"({"type":"a","b":1})"), "invalid_field: Field 'b' must be true or false.");
  EXPECT_EQ(problem(R"({"type":"a","b":"true"})"),
            "invalid_field: Field 'b' must be true or false.");
}

TEST(JsonFields, ABooleanReadsAsItsValueOrTheDefault) {
  g_autoptr(JsonParser) p = json_parser_new();
  ASSERT_TRUE(json_parser_load_from_data(p, R"({"type":"a","b":false,"c":true})", -1, nullptr));
  JsonFields f(json_node_get_object(json_parser_get_root(p)));
  EXPECT_FALSE(f.boolean("b", true));
  EXPECT_TRUE(f.boolean("c"));
  EXPECT_TRUE(f.boolean("absent", true));
  EXPECT_FALSE(f.boolean("absent"));
}

// Found by fuzz/signaling_fuzz: JSON-GLib decodes "\ud800" (an unpaired surrogate) into bytes
// that are not UTF-8; the signaling plugin echoed such a type back in its error, which libsoup
// refused to send with a critical.
TEST(JsonFields, AStringThatIsNotUtf8IsInvalid) {
  EXPECT_EQ(problem(R"({"type":"ch\ud800ove"})"),
            "invalid_field: Field 'type' must be UTF-8 text.");
  EXPECT_EQ(problem(R"({"type":"a","text":"\udc00x"})"),
            "invalid_field: Field 'text' must be UTF-8 text.");
  EXPECT_EQ(problem(R"({"type":"\ud83d\ude00"})"), "") << "a surrogate pair is fine";
}

// Attack review (issue 18/13): JSON-GLib parses recursively without a depth limit; ~75 KB of '['
// overflowed the stack. Plugins check the nesting first; brackets in strings do not count.
TEST(JsonFields, DeepNestingIsRefusedBeforeParsing) {
  std::string deep = "{\"type\":\"a\",\"x\":" + std::string(64, '[') + std::string(64, ']') + "}";
  EXPECT_FALSE(gramothi::plugin::json_depth_within(deep.data(), deep.size()));
  std::string ok = "{\"type\":\"a\",\"x\":" + std::string(62, '[') + std::string(62, ']') + "}";
  EXPECT_TRUE(gramothi::plugin::json_depth_within(ok.data(), ok.size()));
  std::string in_text = "{\"text\":\"" + std::string(5000, '[') + "\\\"[[\"}";
  EXPECT_TRUE(gramothi::plugin::json_depth_within(in_text.data(), in_text.size()));
}
