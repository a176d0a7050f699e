// gramothi-slide-worker: renders pages of one PDF into one WebP image per bandwidth profile's
// box, and extracts each page's text. It is the only place a PDF is parsed, and it parses it
// only inside a sandbox (sandbox.cpp): before it looks at the PDF it turns on no_new_privs,
// Landlock (reads only where libraries and fonts live, where the kernel has it) and a seccomp
// filter that lets it compute and talk to its parent and nothing else. Its parent (DeckRender)
// has already given it an empty environment, an unprivileged uid when the server is root, a
// network namespace of its own where the kernel allows, and CPU, memory and process limits. A
// hostile or broken PDF can only take this process down. What it does to the PDF (open, render,
// encode, extract the text) is in worker_render.cpp, which the PDF fuzz target runs too.
//
//   gramothi-slide-worker --box NAME:WxH [--box ...] [--preview NAME:WxH:BYTES] [--pdf-fd N]
//                         [--pages 1,3,5 | --stride K --offset J | --count-only]
//                         [--max-pages N] [--quality Q] [--test-misbehave ACTION:PAGE[:ARG]]
//
// The PDF comes as an open file (descriptor 3 unless --pdf-fd says otherwise: from a shell,
// `3<deck.pdf`); the worker opens no path of the data folder and writes no file.
//
// Each page is fitted inside each box with its aspect ratio kept. Per page the encoding is
// chosen on the smallest box by encoding it both ways: a reduced palette of 32 colours,
// lossless (text, diagrams), or lossy (photographs), whichever is smaller — the palette only
// when it keeps every visible colour and changes few pixels much — and that choice is used for
// the page's other boxes. A --preview box is not part of that choice: its image is always lossy,
// at the best quality from 50 down to 5 that fits BYTES (a blurred glimpse of the slide that a
// 2G link brings in a second, while the real image follows).
//
// stdout, one JSON object per line, a page's images right after its line:
//   {"type":"document","pages":N}
//   {"type":"begin","page":P}                      (so a parent knows which page killed us)
//   {"type":"page","page":P,"text":"...","images":[{"profile":"low","width":1024,
//     "height":576,"bytes":12345,"encoding":"lossless"}, ...]}
//   <the images' WebP bytes, back to back, in the order listed>
//   {"type":"page-error","page":P,"message":"..."}
//   {"type":"sandbox","missing":"landlock","errno":N}   (a layer the kernel does not offer)
//   {"type":"error","code":"not_pdf|encrypted|damaged|no_pages|too_many_pages|usage|
//    worker_failed","message":"..."}             (then exit status 2)
//
// --test-misbehave makes the worker do, at the start of page PAGE, what an exploited renderer
// would try, for the tests (tests/slides/deck_render_test.cpp) to show the sandbox stops it:
// pause (block forever, to be inspected), read:PATH (open a file and leak it in the page's
// text), write:PATH (create a file), connect:PORT (a TCP connection to 127.0.0.1:PORT), fork,
// signal:PID (have each read of its stdout by the parent send SIGKILL to PID: F_SETOWN, F_SETSIG
// and O_ASYNC on the pipe).
// It gives nobody a switch: the server passes it only when a test sets it in WorkerSandbox,
// and everything it tries is what the sandbox exists to refuse.
#include <arpa/inet.h>
#include <cairo.h>
#include <errno.h>
#include <fcntl.h>
#include <fontconfig/fontconfig.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <poppler.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "worker_render.hpp"
#include "worker_sandbox.hpp"

namespace slides = gramothi::slides;

namespace {

using slides::Box;
using slides::GObjectRef;

// Everything goes to the parent through stdout (a pipe), written whole.
void write_out(const void *data, size_t size) {
  const char *p = static_cast<const char *>(data);
  while (size > 0) {
    ssize_t n = write(STDOUT_FILENO, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(3);  // the parent has gone
    p += n;
    size -= static_cast<size_t>(n);
  }
}

struct StdoutSink : slides::OutputSink {
  void line(const std::string &json_line) override {
    write_out(json_line.data(), json_line.size());
  }
  void image(const std::vector<uint8_t> &webp) override { write_out(webp.data(), webp.size()); }
};

StdoutSink out;  // the parent

[[noreturn]] void fatal(const char *code, const std::string &message) {
  slides::emit_error(out, code, message);
  exit(2);
}

// The whole PDF from an open descriptor (the parent's, or the shell's `3<deck.pdf`).
GBytes *read_all(int fd, std::string &error) {
  GByteArray *data = g_byte_array_new();
  std::vector<uint8_t> chunk(1 << 20);
  for (;;) {
    ssize_t n = read(fd, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = std::string("cannot read the PDF from descriptor ") + std::to_string(fd) + ": " +
              g_strerror(errno);
      g_byte_array_unref(data);
      return nullptr;
    }
    if (n == 0) break;
    g_byte_array_append(data, chunk.data(), static_cast<guint>(n));
  }
  close(fd);
  return g_byte_array_free_to_bytes(data);
}

// A one-page PDF with text in a font it does not embed, so rendering it makes Poppler, cairo,
// FreeType and fontconfig read everything they read once (configuration, caches, a font) while
// the worker may still open files freely. Afterwards fontconfig never rescans.
void warm_up() {
  FcInit();
  FcConfigSetRescanInterval(nullptr, 0);
  const char *objects[] = {"<< /Type /Catalog /Pages 2 0 R >>",
                           "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                           "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 16 16] /Contents 4 0 R "
                           "/Resources << /Font << /F1 5 0 R >> >> >>",
                           "<< /Length 28 >>\nstream\nBT /F1 12 Tf 1 2 Td (Aa) Tj ET\nendstream",
                           "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"};
  std::string pdf = "%PDF-1.4\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < G_N_ELEMENTS(objects); i++) {
    offsets.push_back(pdf.size());
    pdf += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
  }
  size_t xref = pdf.size();
  pdf += "xref\n0 6\n0000000000 65535 f \n";
  for (size_t o : offsets) {
    char line[32];
    g_snprintf(line, sizeof line, "%010zu 00000 n \n", o);
    pdf += line;
  }
  pdf += "trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
  g_autoptr(GBytes) bytes = g_bytes_new(pdf.data(), pdf.size());
  GObjectRef<PopplerDocument> doc(poppler_document_new_from_bytes(bytes, nullptr, nullptr));
  if (!doc) return;
  GObjectRef<PopplerPage> page(poppler_document_get_page(doc.get(), 0));
  if (!page) return;
  g_free(poppler_page_get_text(page.get()));
  cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 16, 16);
  cairo_t *cr = cairo_create(surface);
  poppler_page_render(page.get(), cr);
  cairo_destroy(cr);
  cairo_surface_destroy(surface);
}

void report_missing_layer(const char *layer, int error_number) {
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "sandbox");
  json_builder_set_member_name(b, "missing");
  json_builder_add_string_value(b, layer);
  json_builder_set_member_name(b, "errno");
  json_builder_add_int_value(b, error_number);
  json_builder_end_object(b);
  slides::emit_line(out, b);
}

struct Misbehaviour {
  std::string action, arg;
  int page = 0;
};

// What an exploited renderer would try (see the header). Returns text to leak into the page, or
// reports the page failed and returns false when the attempt was refused without killing us.
bool misbehave(const Misbehaviour &m, std::string &leak) {
  if (m.action == "pause") {
    static uint32_t never = 0;
    for (;;)
      syscall(SYS_futex, &never, FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
  }
  if (m.action == "read") {
    int fd = open(m.arg.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      slides::emit_page_error(
          out, m.page, std::string("test-misbehave: reading was refused: ") + g_strerror(errno));
      return false;
    }
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    leak = "leaked: " + std::string(buf, n > 0 ? static_cast<size_t>(n) : 0) + "\n";
  } else if (m.action == "write") {
    int fd = open(m.arg.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
      slides::emit_page_error(
          out, m.page, std::string("test-misbehave: writing was refused: ") + g_strerror(errno));
      return false;
    }
    if (write(fd, "written by the slide worker\n", 28) < 0) leak = "short write ";
    close(fd);
  } else if (m.action == "connect") {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
      slides::emit_page_error(
          out, m.page, std::string("test-misbehave: socket was refused: ") + g_strerror(errno));
      return false;
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(atoi(m.arg.c_str())));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, reinterpret_cast<sockaddr *>(&to), sizeof to) == 0)
      leak = send(s, "stolen", 6, 0) == 6 ? "sent " : "";
    close(s);
  } else if (m.action == "signal") {
    // Every read of our stdout by the parent then sends SIGKILL to process ARG.
    int flags = fcntl(STDOUT_FILENO, F_GETFL);
    if (flags < 0 || fcntl(STDOUT_FILENO, F_SETOWN, atoi(m.arg.c_str())) < 0 ||
        fcntl(STDOUT_FILENO, F_SETSIG, SIGKILL) < 0 ||
        fcntl(STDOUT_FILENO, F_SETFL, flags | O_ASYNC) < 0) {
      slides::emit_page_error(
          out, m.page, std::string("test-misbehave: signalling was refused: ") + g_strerror(errno));
      return false;
    }
  } else if (m.action == "fork") {
    pid_t child = fork();
    if (child < 0) {
      slides::emit_page_error(
          out, m.page, std::string("test-misbehave: fork was refused: ") + g_strerror(errno));
      return false;
    }
    if (child == 0) _exit(0);
    waitpid(child, nullptr, 0);
  }
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  g_autofree char *pages_arg = nullptr, *misbehave_arg = nullptr;
  g_auto(GStrv) box_args = nullptr, preview_args = nullptr;
  gboolean count_only = FALSE;
  int pdf_fd = 3, max_pages = 500, quality = 70, stride = 1, offset = 0;
  GOptionEntry entries[] = {
      {"pdf-fd", 0, 0, G_OPTION_ARG_INT, &pdf_fd, "The PDF's open descriptor (3)", "N"},
      {"box", 0, 0, G_OPTION_ARG_STRING_ARRAY, &box_args, "A profile's box", "NAME:WxH"},
      {"preview", 0, 0, G_OPTION_ARG_STRING_ARRAY, &preview_args, "A preview's box and size",
       "NAME:WxH:BYTES"},
      {"pages", 0, 0, G_OPTION_ARG_STRING, &pages_arg, "Pages to render (1-based)", "1,3,5"},
      {"stride", 0, 0, G_OPTION_ARG_INT, &stride, "Without --pages: every STRIDE-th page", "K"},
      {"offset", 0, 0, G_OPTION_ARG_INT, &offset, "... starting at page OFFSET+1", "J"},
      {"count-only", 0, 0, G_OPTION_ARG_NONE, &count_only, "Only count the pages", nullptr},
      {"max-pages", 0, 0, G_OPTION_ARG_INT, &max_pages, "Refuse longer decks", "N"},
      {"quality", 0, 0, G_OPTION_ARG_INT, &quality, "Lossy WebP quality (70)", "Q"},
      {"test-misbehave", 0, 0, G_OPTION_ARG_STRING, &misbehave_arg,
       "Tests only: try what an exploit would", "ACTION:PAGE[:ARG]"},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  g_autoptr(GOptionContext) ctx = g_option_context_new("- render a PDF deck");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_autoptr(GError) err = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &err)) fatal("usage", err->message);

  std::vector<Box> boxes;
  for (char **a = box_args; a && *a; a++) {
    Box box;
    char name[64] = "";
    if (sscanf(*a, "%63[^:]:%dx%d", name, &box.width, &box.height) != 3 || box.width < 16 ||
        box.height < 16 || box.width > 8192 || box.height > 8192)
      fatal("usage", std::string("bad --box ") + *a);
    box.profile = name;
    boxes.push_back(box);
  }
  for (char **a = preview_args; a && *a; a++) {
    Box box;
    char name[64] = "";
    unsigned long max_bytes = 0;
    if (sscanf(*a, "%63[^:]:%dx%d:%lu", name, &box.width, &box.height, &max_bytes) != 4 ||
        box.width < 16 || box.height < 16 || box.width > 1024 || box.height > 1024 ||
        max_bytes < 64 || max_bytes > (1ul << 20))
      fatal("usage", std::string("bad --preview ") + *a);
    box.profile = name;
    box.max_bytes = max_bytes;
    boxes.push_back(box);
  }
  // The smallest box first: it decides each page's encoding cheaply.
  std::sort(boxes.begin(), boxes.end(), [](const Box &x, const Box &y) {
    return int64_t{x.width} * x.height < int64_t{y.width} * y.height;
  });
  Misbehaviour mis;
  if (misbehave_arg) {
    g_auto(GStrv) parts = g_strsplit(misbehave_arg, ":", 3);
    if (!parts[0] || !parts[1]) fatal("usage", "bad --test-misbehave");
    mis.action = parts[0];
    mis.page = atoi(parts[1]);
    mis.arg = parts[2] ? parts[2] : "";
  }

  // Before the deck is in memory: no process of our uid may read it (ptrace, /proc/PID/mem).
  if (!gramothi::slides::make_undumpable()) fatal("worker_failed", "prctl(PR_SET_DUMPABLE) failed");
  std::string read_error;
  g_autoptr(GBytes) bytes = read_all(pdf_fd, read_error);
  if (!bytes) fatal("usage", read_error);

  // Everything that reads the disk has happened; from here on the PDF is hostile input.
  warm_up();
  slides::SandboxOutcome sandbox = slides::enter_sandbox();
  if (!sandbox.ok)
    fatal("worker_failed", "The renderer's sandbox cannot be set up: " + sandbox.error);
  if (sandbox.landlock_errno) report_missing_layer("landlock", sandbox.landlock_errno);

  slides::OpenedDocument opened = slides::open_document(bytes, max_pages);
  if (!opened.doc) fatal(opened.code, opened.message);
  PopplerDocument *doc = opened.doc.get();
  int n = opened.pages;
  slides::emit_document(out, n);
  if (count_only) return 0;
  if (boxes.empty()) fatal("usage", "at least one --box is required");

  std::vector<int> pages;
  if (pages_arg) {
    g_auto(GStrv) parts = g_strsplit(pages_arg, ",", -1);
    for (char **p = parts; *p; p++) {
      int v = atoi(*p);
      if (v >= 1 && v <= n) pages.push_back(v);
    }
  } else {
    if (stride < 1 || offset < 0) fatal("usage", "bad --stride/--offset");
    for (int i = 1; i <= n; i++)
      if ((i - 1) % stride == offset) pages.push_back(i);
  }
  for (int page : pages) {
    slides::emit_begin(out, page);
    std::string leak;
    if (page == mis.page && !misbehave(mis, leak)) continue;
    slides::render_page(out, doc, page, boxes, std::clamp(quality, 1, 100), leak);
  }
  return 0;
}
