// What the slide worker does to a PDF, without the process around it: open the document with
// the worker's checks, render a page into WebP images for each box and extract its text, and
// say so in the worker's output protocol (worker.cpp's header lists the lines). The worker
// (worker.cpp) runs it in its sandbox and sends the output to its parent over stdout; the PDF
// fuzz target (fuzz/slide_worker_fuzz.cpp) runs it in-process and checks the output.
//
// Every function here parses hostile input (the PDF, through Poppler): call it only where a
// crash or a hang costs nothing but the caller (the worker in its sandbox, a fuzzer).
#pragma once

#include <glib-object.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <poppler.h>

#include <cstdint>
#include <string>
#include <vector>

namespace gramothi::slides {

constexpr size_t kMaxTextBytes = 16 * 1024;  // of a page's text, UTF-8
constexpr double kMaxAspect = 20.0;          // a page longer than this to one side fails

// Poppler 22 has no g_autoptr support: own its objects with this.
template <typename T>
struct GObjectRef {
  T *p = nullptr;
  GObjectRef() = default;
  explicit GObjectRef(T *v) : p(v) {}
  ~GObjectRef() {
    if (p) g_object_unref(p);
  }
  GObjectRef(const GObjectRef &) = delete;
  GObjectRef &operator=(const GObjectRef &) = delete;
  GObjectRef(GObjectRef &&o) noexcept : p(o.p) { o.p = nullptr; }
  GObjectRef &operator=(GObjectRef &&o) noexcept {
    if (this != &o) {
      if (p) g_object_unref(p);
      p = o.p;
      o.p = nullptr;
    }
    return *this;
  }
  T *get() const { return p; }
  explicit operator bool() const { return p != nullptr; }
};

// A profile's box: each page is fitted inside it with its aspect ratio kept.
struct Box {
  std::string profile;
  int width = 0, height = 0;
  size_t max_bytes = 0;  // > 0: a preview (--preview): lossy, the best quality within this
};

// Where the output goes, in order: each JSON line (one object, ending in "\n") and, after a
// page's line, each of its images' bytes (as many as the line lists, in its order). The
// worker's sink writes both to stdout; the sink owns nothing it is given.
class OutputSink {
 public:
  virtual ~OutputSink() = default;
  virtual void line(const std::string &json_line) = 0;
  virtual void image(const std::vector<uint8_t> &webp) = 0;
};

// The builder's object as one line.
void emit_line(OutputSink &out, JsonBuilder *b);
// {"type":"error","code":CODE,"message":MESSAGE}
void emit_error(OutputSink &out, const char *code, const std::string &message);
// {"type":"document","pages":N}
void emit_document(OutputSink &out, int pages);
// {"type":"begin","page":P}
void emit_begin(OutputSink &out, int page);
// {"type":"page-error","page":P,"message":MESSAGE}
void emit_page_error(OutputSink &out, int page, const std::string &message);

// The PDF parsed as the worker parses it: `%PDF-` within the first kilobyte, a document Poppler
// opens without a password, 1 to `max_pages` pages. Either `doc` is set (and `pages`), or
// `code` (not_pdf, encrypted, damaged, no_pages, too_many_pages) and `message` say why not.
struct OpenedDocument {
  GObjectRef<PopplerDocument> doc;
  int pages = 0;
  const char *code = nullptr;
  std::string message;
};
OpenedDocument open_document(GBytes *pdf, int max_pages);

// Page `number` (1-based) rendered into each box (the smallest first: it decides the page's
// encoding, see worker.cpp; a preview box has its own) with lossy WebP quality `quality` (1-100):
// its "page" line, with `leak` (tests only, see --test-misbehave) before its text, then its images;
// or a "page-error" line and false.
bool render_page(OutputSink &out, PopplerDocument *doc, int number, const std::vector<Box> &boxes,
                 int quality, const std::string &leak = "");

}  // namespace gramothi::slides
