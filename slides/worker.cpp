// gramothi-slide-worker: renders pages of one PDF into one WebP image per bandwidth profile's
// box, and extracts each page's text. It is the only place a PDF is parsed, and it parses it
// only inside a sandbox (sandbox.cpp): before it looks at the PDF it turns on no_new_privs,
// Landlock (reads only where libraries and fonts live, where the kernel has it) and a seccomp
// filter that lets it compute and talk to its parent and nothing else. Its parent (DeckRender)
// has already given it an empty environment, an unprivileged uid when the server is root, a
// network namespace of its own where the kernel allows, and CPU, memory and process limits. A
// hostile or broken PDF can only take this process down.
//
//   gramothi-slide-worker --box NAME:WxH [--box ...] [--pdf-fd N]
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
// the page's other boxes.
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
#include <webp/encode.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "worker_sandbox.hpp"

namespace {

constexpr size_t kMaxTextBytes = 16 * 1024;
constexpr double kMaxAspect = 20.0;
constexpr int kPaletteColors = 32;  // 16 blurred antialiasing; 64 cost 10 % more bytes
constexpr double kMinPalettePsnr = 30;

// Poppler 22 has no g_autoptr support: own its objects with this.
template <typename T>
struct GObjectRef {
  T *p = nullptr;
  explicit GObjectRef(T *v) : p(v) {}
  ~GObjectRef() {
    if (p) g_object_unref(p);
  }
  GObjectRef(const GObjectRef &) = delete;
  GObjectRef &operator=(const GObjectRef &) = delete;
  T *get() const { return p; }
  explicit operator bool() const { return p != nullptr; }
};

struct Box {
  std::string profile;
  int width = 0, height = 0;
};

struct Encoded {
  std::vector<uint8_t> bytes;
  bool lossless = false;
};

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

void emit(JsonBuilder *b) {
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  g_autofree char *text = json_to_string(root, FALSE);
  std::string line = std::string(text) + "\n";
  write_out(line.data(), line.size());
}

[[noreturn]] void fatal(const char *code, const std::string &message) {
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "error");
  json_builder_set_member_name(b, "code");
  json_builder_add_string_value(b, code);
  json_builder_set_member_name(b, "message");
  json_builder_add_string_value(b, message.c_str());
  json_builder_end_object(b);
  emit(b);
  exit(2);
}

void page_error(int page, const std::string &message) {
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "page-error");
  json_builder_set_member_name(b, "page");
  json_builder_add_int_value(b, page);
  json_builder_set_member_name(b, "message");
  json_builder_add_string_value(b, message.c_str());
  json_builder_end_object(b);
  emit(b);
}

int webp_write(const uint8_t *data, size_t size, const WebPPicture *pic) {
  auto *out = static_cast<std::vector<uint8_t> *>(pic->custom_ptr);
  out->insert(out->end(), data, data + size);
  return 1;
}

// BGRX pixels (cairo RGB24 on a little-endian machine) to WebP, lossy or lossless.
bool encode(const uint8_t *bgrx, int w, int h, int stride, bool lossless, int quality,
            std::vector<uint8_t> &out) {
  WebPConfig config;
  if (lossless) {
    if (!WebPConfigInit(&config) || !WebPConfigLosslessPreset(&config, 1)) return false;
  } else {
    if (!WebPConfigPreset(&config, WEBP_PRESET_DRAWING, static_cast<float>(quality))) return false;
    config.method = 2;  // measured: method 4 and sharp YUV doubled the time for little gain
  }
  WebPPicture pic;
  if (!WebPPictureInit(&pic)) return false;
  pic.width = w;
  pic.height = h;
  pic.use_argb = 1;
  if (!WebPPictureImportBGRX(&pic, bgrx, stride)) return false;
  out.clear();
  pic.writer = webp_write;
  pic.custom_ptr = &out;
  bool ok = WebPEncode(&config, &pic);
  WebPPictureFree(&pic);
  return ok;
}

// Maps the image onto at most `colors` colours in place and returns its PSNR in dB, or -1 when
// some colour that covers a visible area would change noticeably (a reduced palette must not
// turn a red node grey). Text and diagrams survive this almost untouched (their antialiasing
// steps are few and close together) and then compress losslessly several times better;
// photographs do not, and go lossy.
//
// The palette grows greedily over a 5:5:5 histogram: first the commonest colour, then each
// time the colour whose pixels are worst served so far (count x squared distance to the
// nearest chosen colour), so rare but distinct colours get an entry.
double reduce_palette(uint8_t *bgrx, int w, int h, int stride, int colors) {
  constexpr int kBins = 1 << 15;
  std::vector<uint32_t> count(kBins, 0);
  std::vector<uint64_t> sum(kBins * 3, 0);
  auto bin_of = [](const uint8_t *p) { return (p[2] >> 3) << 10 | (p[1] >> 3) << 5 | (p[0] >> 3); };
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      const uint8_t *p = bgrx + y * stride + x * 4;
      int b = bin_of(p);
      count[b]++;
      sum[b * 3] += p[2];
      sum[b * 3 + 1] += p[1];
      sum[b * 3 + 2] += p[0];
    }
  struct Rgb {
    int r, g, b;
  };
  std::vector<int> used;
  std::vector<Rgb> mean;  // per used bin
  for (int b = 0; b < kBins; b++)
    if (count[b]) {
      used.push_back(b);
      mean.push_back({static_cast<int>(sum[b * 3] / count[b]),
                      static_cast<int>(sum[b * 3 + 1] / count[b]),
                      static_cast<int>(sum[b * 3 + 2] / count[b])});
    }
  auto dist = [](const Rgb &a, const Rgb &b) {
    int dr = a.r - b.r, dg = a.g - b.g, db = a.b - b.b;
    return 2 * dr * dr + 4 * dg * dg + db * db;  // the eye is most sensitive to green
  };
  std::vector<Rgb> palette;
  std::vector<int> best_dist(used.size(), INT32_MAX);
  std::vector<uint16_t> nearest(used.size(), 0);
  size_t first = 0;
  for (size_t i = 0; i < used.size(); i++)
    if (count[used[i]] > count[used[first]]) first = i;
  size_t pick = first;
  while (!used.empty() && palette.size() < static_cast<size_t>(colors)) {
    palette.push_back(mean[pick]);
    uint16_t index = static_cast<uint16_t>(palette.size() - 1);
    double worst = 0;
    size_t next = used.size();
    for (size_t i = 0; i < used.size(); i++) {
      int d = dist(mean[i], palette.back());
      if (d < best_dist[i]) best_dist[i] = d, nearest[i] = index;
      double score = static_cast<double>(count[used[i]]) * best_dist[i];
      if (score > worst) worst = score, next = i;
    }
    if (next == used.size()) break;  // every colour has an exact entry
    pick = next;
  }
  // A colour covering a visible area (a 24th of a percent of the picture, at least 16 pixels)
  // must stay close to itself.
  uint32_t visible = std::max<uint32_t>(16, static_cast<uint32_t>(int64_t{w} * h / 2400));
  std::vector<uint16_t> lookup(kBins, 0);
  for (size_t i = 0; i < used.size(); i++) {
    if (count[used[i]] >= visible && best_dist[i] > 7 * 40 * 40) return -1;
    lookup[used[i]] = nearest[i];
  }
  // Posterizing a photograph changes many pixels a lot; antialiased text changes a few a
  // little. More than half a percent of pixels off by about 24 levels: not a palette picture.
  double err = 0;
  int64_t far = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      uint8_t *p = bgrx + y * stride + x * 4;
      const Rgb &c = palette[lookup[bin_of(p)]];
      int dr = p[2] - c.r, dg = p[1] - c.g, db = p[0] - c.b;
      err += dr * dr + dg * dg + db * db;
      if (2 * dr * dr + 4 * dg * dg + db * db > 7 * 24 * 24) far++;
      p[2] = static_cast<uint8_t>(c.r);
      p[1] = static_cast<uint8_t>(c.g);
      p[0] = static_cast<uint8_t>(c.b);
    }
  if (far * 200 > int64_t{w} * h) return -1;
  double mse = err / (3.0 * w * h);
  return mse <= 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

// The page's text, trimmed, at most kMaxTextBytes (cut at a character boundary).
std::string page_text(PopplerPage *page) {
  g_autofree char *raw = poppler_page_get_text(page);
  if (!raw) return "";
  std::string t = g_strstrip(raw);
  if (t.size() > kMaxTextBytes) {
    const char *end = t.c_str() + kMaxTextBytes;
    const char *start = g_utf8_find_prev_char(t.c_str(), end + 1);
    t.resize(start ? static_cast<size_t>(start - t.c_str()) : kMaxTextBytes);
  }
  if (!g_utf8_validate(t.c_str(), static_cast<gssize>(t.size()), nullptr)) {
    g_autofree char *valid = g_utf8_make_valid(t.c_str(), static_cast<gssize>(t.size()));
    t = valid;
  }
  return t;
}

bool render_page(PopplerDocument *doc, int number, const std::vector<Box> &boxes, int quality,
                 const std::string &leak = "") {
  GObjectRef<PopplerPage> owned(poppler_document_get_page(doc, number - 1));
  PopplerPage *page = owned.get();
  if (!page) {
    page_error(number, "page " + std::to_string(number) + " cannot be read");
    return false;
  }
  double pw = 0, ph = 0;
  poppler_page_get_size(page, &pw, &ph);
  if (!(pw >= 1 && ph >= 1) || pw / ph > kMaxAspect || ph / pw > kMaxAspect) {
    page_error(number, "page " + std::to_string(number) + " has an unusable size (" +
                           std::to_string(static_cast<long>(pw)) + "x" +
                           std::to_string(static_cast<long>(ph)) + " pt)");
    return false;
  }

  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "page");
  json_builder_set_member_name(b, "page");
  json_builder_add_int_value(b, number);
  json_builder_set_member_name(b, "text");
  json_builder_add_string_value(b, (leak + page_text(page)).c_str());
  json_builder_set_member_name(b, "images");
  json_builder_begin_array(b);

  // Decided on the smallest box, then used for the others: a reduced palette (lossless) when
  // it keeps the picture (text, diagrams) and is smaller, else lossy.
  enum { kUndecided, kLossy, kPalette } mode = kUndecided;
  const int colors = kPaletteColors;
  const double min_psnr = kMinPalettePsnr;
  std::vector<Encoded> images;
  for (const Box &box : boxes) {
    double scale = std::min(box.width / pw, box.height / ph);
    int w = std::max(1, static_cast<int>(std::lround(pw * scale)));
    int h = std::max(1, static_cast<int>(std::lround(ph * scale)));
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cairo_t *cr = cairo_create(surface);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_scale(cr, w / pw, h / ph);
    poppler_page_render(page, cr);
    cairo_status_t status = cairo_status(cr);
    cairo_destroy(cr);
    cairo_surface_flush(surface);
    if (status != CAIRO_STATUS_SUCCESS) {
      cairo_surface_destroy(surface);
      page_error(number, "page " + std::to_string(number) +
                             " cannot be drawn: " + cairo_status_to_string(status));
      return false;
    }
    uint8_t *px = cairo_image_surface_get_data(surface);
    int stride = cairo_image_surface_get_stride(surface);
    Encoded best;
    bool ok = true;
    if (mode == kUndecided) {
      Encoded lossy, reduced;
      ok = encode(px, w, h, stride, false, quality, lossy.bytes);
      if (ok && reduce_palette(px, w, h, stride, colors) >= min_psnr) {
        ok = encode(px, w, h, stride, true, quality, reduced.bytes);
        reduced.lossless = true;
      }
      bool use_reduced = ok && !reduced.bytes.empty() && reduced.bytes.size() <= lossy.bytes.size();
      best = use_reduced ? std::move(reduced) : std::move(lossy);
      mode = use_reduced ? kPalette : kLossy;
    } else if (mode == kPalette) {
      reduce_palette(px, w, h, stride, colors);
      best.lossless = true;
      ok = encode(px, w, h, stride, true, quality, best.bytes);
    } else {
      ok = encode(px, w, h, stride, false, quality, best.bytes);
    }
    cairo_surface_destroy(surface);
    if (!ok) {
      page_error(number, "page " + std::to_string(number) + " cannot be encoded");
      return false;
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "profile");
    json_builder_add_string_value(b, box.profile.c_str());
    json_builder_set_member_name(b, "width");
    json_builder_add_int_value(b, w);
    json_builder_set_member_name(b, "height");
    json_builder_add_int_value(b, h);
    json_builder_set_member_name(b, "bytes");
    json_builder_add_int_value(b, static_cast<gint64>(best.bytes.size()));
    json_builder_set_member_name(b, "encoding");
    json_builder_add_string_value(b, best.lossless ? "lossless" : "lossy");
    json_builder_end_object(b);
    images.push_back(std::move(best));
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
  emit(b);
  for (const Encoded &im : images)
    write_out(im.bytes.data(), im.bytes.size());
  return true;
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
  emit(b);
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
      page_error(m.page, std::string("test-misbehave: reading was refused: ") + g_strerror(errno));
      return false;
    }
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    leak = "leaked: " + std::string(buf, n > 0 ? static_cast<size_t>(n) : 0) + "\n";
  } else if (m.action == "write") {
    int fd = open(m.arg.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
      page_error(m.page, std::string("test-misbehave: writing was refused: ") + g_strerror(errno));
      return false;
    }
    if (write(fd, "written by the slide worker\n", 28) < 0) leak = "short write ";
    close(fd);
  } else if (m.action == "connect") {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
      page_error(m.page, std::string("test-misbehave: socket was refused: ") + g_strerror(errno));
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
      page_error(m.page,
                 std::string("test-misbehave: signalling was refused: ") + g_strerror(errno));
      return false;
    }
  } else if (m.action == "fork") {
    pid_t child = fork();
    if (child < 0) {
      page_error(m.page, std::string("test-misbehave: fork was refused: ") + g_strerror(errno));
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
  g_auto(GStrv) box_args = nullptr;
  gboolean count_only = FALSE;
  int pdf_fd = 3, max_pages = 500, quality = 70, stride = 1, offset = 0;
  GOptionEntry entries[] = {
      {"pdf-fd", 0, 0, G_OPTION_ARG_INT, &pdf_fd, "The PDF's open descriptor (3)", "N"},
      {"box", 0, 0, G_OPTION_ARG_STRING_ARRAY, &box_args, "A profile's box", "NAME:WxH"},
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
  gramothi::slides::SandboxOutcome sandbox = gramothi::slides::enter_sandbox();
  if (!sandbox.ok)
    fatal("worker_failed", "The renderer's sandbox cannot be set up: " + sandbox.error);
  if (sandbox.landlock_errno) report_missing_layer("landlock", sandbox.landlock_errno);

  gsize len = 0;
  const char *data = static_cast<const char *>(g_bytes_get_data(bytes, &len));
  // A PDF starts with %PDF- within its first kilobyte.
  if (!data || !g_strstr_len(data, static_cast<gssize>(std::min<gsize>(len, 1024)), "%PDF-"))
    fatal("not_pdf", "The file is not a PDF.");
  GObjectRef<PopplerDocument> owned_doc(poppler_document_new_from_bytes(bytes, nullptr, &err));
  PopplerDocument *doc = owned_doc.get();
  if (!doc) {
    if (err && err->domain == POPPLER_ERROR && err->code == POPPLER_ERROR_ENCRYPTED)
      fatal("encrypted", "The PDF is password-protected; upload it without a password.");
    fatal("damaged", std::string("The PDF cannot be read: ") + (err ? err->message : "unknown"));
  }
  int n = poppler_document_get_n_pages(doc);
  if (n <= 0) fatal("no_pages", "The PDF has no pages.");
  if (n > max_pages)
    fatal("too_many_pages", "The PDF has " + std::to_string(n) + " pages; the limit is " +
                                std::to_string(max_pages) + ".");
  {
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "document");
    json_builder_set_member_name(b, "pages");
    json_builder_add_int_value(b, n);
    json_builder_end_object(b);
    emit(b);
  }
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
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "begin");
    json_builder_set_member_name(b, "page");
    json_builder_add_int_value(b, page);
    json_builder_end_object(b);
    emit(b);
    std::string leak;
    if (page == mis.page && !misbehave(mis, leak)) continue;
    render_page(doc, page, boxes, std::clamp(quality, 1, 100), leak);
  }
  return 0;
}
