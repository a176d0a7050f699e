// A PDF as a teacher uploads it, through what the slide worker does to it (slides/worker_render,
// the code gramothi-slide-worker runs): opened with the worker's checks (%PDF- in the first
// kilobyte, Poppler, no password, 1 to RenderLimits::max_pages pages), then its first pages
// rendered into two small boxes (4:3 and 16:9, smaller than any profile's so that an execution
// of an ordinary deck takes milliseconds; the code path is the same at any size) and their text
// extracted. Input: the PDF's bytes.
//
// Checked, as a crash, is what the server (DeckRender) relies on in the worker's output: every
// line is one JSON object in UTF-8 with a known type, at most 1 MiB; an error has one of the
// documented codes; a page's line says its number, a text in UTF-8 of at most 16 KiB, and one
// image per box in the boxes' order, each as many bytes as the line says, a RIFF/WEBP file whose
// size WebP itself reads as the line's, fitted inside its box as large as the box allows, all
// in one encoding; a page that fails says so in one "page-error" line and sends no image.
//
// What it can and cannot find: our code (worker_render.cpp) is instrumented, so its coverage
// guides the search, and ASan/UBSan watch it. Debian's Poppler, cairo, FreeType and libwebp are
// not instrumented: they add no coverage (inputs that only reach new code inside Poppler look
// like nothing new), and ASan sees only what it intercepts there (malloc/free and the mem*/str*
// functions: heap overflows through those, double frees, leaks), not a stray read or write in
// their own loops. A SEGV or an abort inside them is still caught and kept. The worker's sandbox
// (a CPU-time and an address-space limit, a page timeout in the parent) is what stops a page
// that makes Poppler spin or swell; here the run's -timeout and -rss_limit_mb take its place,
// so a timeout or an out-of-memory inside Poppler is a finding to look at, not always a bug of
// ours. Poppler's own complaints about broken files go to GLib's log at the info level
// (poppler-glib's error callback), which fuzz::quiet_logs() drops; what Poppler's cairo font
// code and libjpeg print straight to stderr (a line per broken font or JPEG) goes to /dev/null
// with libFuzzer's -close_fd_mask=2 (fuzz::discard_library_stderr: libFuzzer's own output, the
// sanitizers' reports and FUZZ_CHECK's message stay on the original stderr).
#include <fontconfig/fontconfig.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <sanitizer/lsan_interface.h>
#include <webp/decode.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "worker_render.hpp"

namespace slides = gramothi::slides;

namespace {

constexpr int kMaxPages = 300;        // RenderLimits::max_pages, what the server passes
constexpr int kPagesRendered = 3;     // the first pages; the others take the same path
constexpr size_t kMaxLine = 1 << 20;  // DeckRender's kMaxLineBytes
constexpr int kQuality = 70;          // RenderLimits::quality

// Sorted as the worker sorts its boxes: the smallest first.
const std::vector<slides::Box> kBoxes = {{"small", 160, 120}, {"wide", 192, 108}};

// What the worker would have written to its parent, kept in order.
struct Recorder : slides::OutputSink {
  struct Item {
    bool is_line;
    std::string bytes;
  };
  std::vector<Item> items;
  void line(const std::string &json_line) override { items.push_back({true, json_line}); }
  void image(const std::vector<uint8_t> &webp) override {
    items.push_back({false, std::string(webp.begin(), webp.end())});
  }
};

bool utf8(const std::string &s) {
  return g_utf8_validate(s.data(), static_cast<gssize>(s.size()), nullptr);
}

// One JSON object on one line, as DeckRender reads it; its parser keeps the object alive.
JsonObject *parse_line(JsonParser *parser, const std::string &line) {
  FUZZ_CHECK(!line.empty() && line.size() <= kMaxLine);
  FUZZ_CHECK(line.back() == '\n' && line.find('\n') == line.size() - 1);
  FUZZ_CHECK(utf8(line));
  FUZZ_CHECK(
      json_parser_load_from_data(parser, line.data(), static_cast<gssize>(line.size()), nullptr));
  JsonNode *root = json_parser_get_root(parser);
  FUZZ_CHECK(root && JSON_NODE_HOLDS_OBJECT(root));
  return json_node_get_object(root);
}

std::string string_member(JsonObject *o, const char *name) {
  JsonNode *n = json_object_get_member(o, name);
  FUZZ_CHECK(n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING);
  return json_node_get_string(n);
}

int64_t int_member(JsonObject *o, const char *name) {
  JsonNode *n = json_object_get_member(o, name);
  FUZZ_CHECK(n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64);
  return json_node_get_int(n);
}

// Page `number`'s output, from its "begin" line on.
void check_page(const std::vector<Recorder::Item> &items, int number, bool rendered) {
  FUZZ_CHECK(items.size() >= 2 && items[0].is_line && items[1].is_line);
  {
    g_autoptr(JsonParser) p = json_parser_new();
    JsonObject *begin = parse_line(p, items[0].bytes);
    FUZZ_CHECK(string_member(begin, "type") == "begin");
    FUZZ_CHECK(int_member(begin, "page") == number);
  }
  g_autoptr(JsonParser) parser = json_parser_new();
  JsonObject *o = parse_line(parser, items[1].bytes);
  FUZZ_CHECK(int_member(o, "page") == number);
  if (!rendered) {
    FUZZ_CHECK(items.size() == 2);
    FUZZ_CHECK(string_member(o, "type") == "page-error");
    FUZZ_CHECK(!string_member(o, "message").empty());
    return;
  }
  FUZZ_CHECK(string_member(o, "type") == "page");
  std::string text = string_member(o, "text");
  FUZZ_CHECK(utf8(text) && text.size() <= slides::kMaxTextBytes);
  JsonNode *list = json_object_get_member(o, "images");
  FUZZ_CHECK(list && JSON_NODE_HOLDS_ARRAY(list));
  JsonArray *images = json_node_get_array(list);
  FUZZ_CHECK(json_array_get_length(images) == kBoxes.size());
  FUZZ_CHECK(items.size() == 2 + kBoxes.size());
  std::set<std::string> encodings;
  for (size_t i = 0; i < kBoxes.size(); i++) {
    JsonNode *n = json_array_get_element(images, static_cast<guint>(i));
    FUZZ_CHECK(JSON_NODE_HOLDS_OBJECT(n));
    JsonObject *im = json_node_get_object(n);
    const slides::Box &box = kBoxes[i];
    FUZZ_CHECK(string_member(im, "profile") == box.profile);
    int64_t w = int_member(im, "width"), h = int_member(im, "height");
    FUZZ_CHECK(w >= 1 && h >= 1 && w <= box.width && h <= box.height);
    FUZZ_CHECK(w == box.width || h == box.height);  // as large as the box allows
    std::string encoding = string_member(im, "encoding");
    FUZZ_CHECK(encoding == "lossless" || encoding == "lossy");
    encodings.insert(encoding);
    const Recorder::Item &image = items[2 + i];
    FUZZ_CHECK(!image.is_line);
    const std::string &b = image.bytes;
    FUZZ_CHECK(int_member(im, "bytes") == static_cast<int64_t>(b.size()));
    FUZZ_CHECK(b.size() >= 16 && b.compare(0, 4, "RIFF") == 0 && b.compare(8, 4, "WEBP") == 0);
    const auto *u = reinterpret_cast<const uint8_t *>(b.data());
    uint32_t riff = u[4] | u[5] << 8 | u[6] << 16 | static_cast<uint32_t>(u[7]) << 24;
    FUZZ_CHECK(size_t{riff} + 8 == b.size());
    int dw = 0, dh = 0;
    FUZZ_CHECK(WebPGetInfo(reinterpret_cast<const uint8_t *>(b.data()), b.size(), &dw, &dh));
    FUZZ_CHECK(dw == w && dh == h);
  }
  FUZZ_CHECK(encodings.size() == 1);  // decided on the smallest box, used for the others
}

// The PDF opened, and its first pages rendered, as the worker does, each step's output checked.
void run(GBytes *pdf) {
  Recorder out;
  slides::OpenedDocument opened = slides::open_document(pdf, kMaxPages);
  if (!opened.doc) {
    static const std::set<std::string> kCodes = {"not_pdf", "encrypted", "damaged", "no_pages",
                                                 "too_many_pages"};
    FUZZ_CHECK(opened.code && kCodes.count(opened.code) == 1);
    slides::emit_error(out, opened.code, opened.message);
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *o = parse_line(parser, out.items.at(0).bytes);
    FUZZ_CHECK(string_member(o, "type") == "error");
    FUZZ_CHECK(string_member(o, "code") == opened.code);
    FUZZ_CHECK(!string_member(o, "message").empty());
    return;
  }
  FUZZ_CHECK(opened.pages >= 1 && opened.pages <= kMaxPages);
  slides::emit_document(out, opened.pages);
  {
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *o = parse_line(parser, out.items.at(0).bytes);
    FUZZ_CHECK(string_member(o, "type") == "document");
    FUZZ_CHECK(int_member(o, "pages") == opened.pages);
  }
  for (int page = 1; page <= std::min(opened.pages, kPagesRendered); page++) {
    out.items.clear();
    slides::emit_begin(out, page);
    bool rendered = slides::render_page(out, opened.doc.get(), page, kBoxes, kQuality);
    check_page(out.items, page, rendered);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // An exact-size heap copy: ASan sees any read past the PDF's end.
  GBytes *pdf = g_bytes_new_take(g_memdup2(data, size), size);
  run(pdf);
  g_bytes_unref(pdf);
  return 0;
}

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv) {
  gramothi::fuzz::discard_library_stderr(argc, argv);
  gramothi::fuzz::quiet_logs();
  // As the worker's warm_up does: fontconfig reads its configuration once and never rescans.
  // Reading it leaks a few hundred bytes once (fontconfig 2.14's parser), not per input.
  __lsan_disable();
  FcInit();
  __lsan_enable();
  FcConfigSetRescanInterval(nullptr, 0);
  return 0;
}
