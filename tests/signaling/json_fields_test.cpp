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
