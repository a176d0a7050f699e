// The slide worker's parsing and rendering (worker_render.hpp); worker.cpp says why each choice
// was made (the encoding per page, the palette, the text's limit).
#include "worker_render.hpp"

#include <cairo.h>
#include <webp/encode.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>

namespace gramothi::slides {

namespace {

constexpr int64_t kSmallBoxPixels = 800 * 600;
constexpr int kPaletteColors = 32;  // 16 blurred antialiasing; 64 cost 10 % more bytes
constexpr double kMinPalettePsnr = 30;

struct Encoded {
  std::vector<uint8_t> bytes;
  bool lossless = false;
};

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
    // Small boxes are what phones on 2G download: more effort there (level 6: 24 % fewer
    // bytes than level 1 on the beamer lecture at 480x360, median 9.9 -> 7.5 KB, +25 % time;
    // level 9 took 20 times as long for 1 % more). Big boxes stay fast.
    int level = int64_t{w} * h <= kSmallBoxPixels ? 6 : 1;
    if (!WebPConfigInit(&config) || !WebPConfigLosslessPreset(&config, level)) return false;
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
  // Made valid before it is cut: each byte made valid may become three (U+FFFD).
  if (!g_utf8_validate(t.c_str(), static_cast<gssize>(t.size()), nullptr)) {
    g_autofree char *valid = g_utf8_make_valid(t.c_str(), static_cast<gssize>(t.size()));
    t = valid;
  }
  if (t.size() > kMaxTextBytes) {
    const char *end = t.c_str() + kMaxTextBytes;
    const char *start = g_utf8_find_prev_char(t.c_str(), end + 1);
    t.resize(start ? static_cast<size_t>(start - t.c_str()) : kMaxTextBytes);
  }
  return t;
}

// A page's side in whole points for a message (cut, not rounded), or "huge" beyond what a long
// holds (converting such a double is undefined).
std::string whole_points(double v) {
  if (!(std::fabs(v) < 1e15)) return v < 0 ? "-huge" : "huge";
  return std::to_string(static_cast<long>(v));
}

}  // namespace

void emit_line(OutputSink &out, JsonBuilder *b) {
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  g_autofree char *text = json_to_string(root, FALSE);
  out.line(std::string(text) + "\n");
}

void emit_error(OutputSink &out, const char *code, const std::string &message) {
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "error");
  json_builder_set_member_name(b, "code");
  json_builder_add_string_value(b, code);
  json_builder_set_member_name(b, "message");
  json_builder_add_string_value(b, message.c_str());
  json_builder_end_object(b);
  emit_line(out, b);
}

namespace {
// {"type": TYPE, KEY: VALUE}
void emit_typed_int(OutputSink &out, const char *type, const char *key, int value) {
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, type);
  json_builder_set_member_name(b, key);
  json_builder_add_int_value(b, value);
  json_builder_end_object(b);
  emit_line(out, b);
}
}  // namespace

void emit_document(OutputSink &out, int pages) {
  emit_typed_int(out, "document", "pages", pages);
}

void emit_begin(OutputSink &out, int page) {
  emit_typed_int(out, "begin", "page", page);
}

void emit_page_error(OutputSink &out, int page, const std::string &message) {
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "page-error");
  json_builder_set_member_name(b, "page");
  json_builder_add_int_value(b, page);
  json_builder_set_member_name(b, "message");
  json_builder_add_string_value(b, message.c_str());
  json_builder_end_object(b);
  emit_line(out, b);
}

OpenedDocument open_document(GBytes *pdf, int max_pages) {
  OpenedDocument r;
  gsize len = 0;
  const char *data = static_cast<const char *>(g_bytes_get_data(pdf, &len));
  // A PDF starts with %PDF- within its first kilobyte.
  if (!data || !g_strstr_len(data, static_cast<gssize>(std::min<gsize>(len, 1024)), "%PDF-")) {
    r.code = "not_pdf";
    r.message = "The file is not a PDF.";
    return r;
  }
  g_autoptr(GError) err = nullptr;
  GObjectRef<PopplerDocument> doc(poppler_document_new_from_bytes(pdf, nullptr, &err));
  if (!doc) {
    if (err && err->domain == POPPLER_ERROR && err->code == POPPLER_ERROR_ENCRYPTED) {
      r.code = "encrypted";
      r.message = "The PDF is password-protected; upload it without a password.";
    } else {
      r.code = "damaged";
      r.message = std::string("The PDF cannot be read: ") + (err ? err->message : "unknown");
    }
    return r;
  }
  int n = poppler_document_get_n_pages(doc.get());
  if (n <= 0) {
    r.code = "no_pages";
    r.message = "The PDF has no pages.";
  } else if (n > max_pages) {
    r.code = "too_many_pages";
    r.message = "The PDF has " + std::to_string(n) + " pages; the limit is " +
                std::to_string(max_pages) + ".";
  } else {
    r.doc = std::move(doc);
    r.pages = n;
  }
  return r;
}

bool render_page(OutputSink &out, PopplerDocument *doc, int number, const std::vector<Box> &boxes,
                 int quality, const std::string &leak) {
  GObjectRef<PopplerPage> owned(poppler_document_get_page(doc, number - 1));
  PopplerPage *page = owned.get();
  if (!page) {
    emit_page_error(out, number, "page " + std::to_string(number) + " cannot be read");
    return false;
  }
  double pw = 0, ph = 0;
  poppler_page_get_size(page, &pw, &ph);
  // Finite first: a box Poppler read as infinite (a number of 400 digits) would pass the
  // aspect test as NaN.
  if (!(pw >= 1 && ph >= 1 && std::isfinite(pw) && std::isfinite(ph)) || pw / ph > kMaxAspect ||
      ph / pw > kMaxAspect) {
    emit_page_error(out, number,
                    "page " + std::to_string(number) + " has an unusable size (" +
                        whole_points(pw) + "x" + whole_points(ph) + " pt)");
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

  // Decided on the smallest box (previews aside), then used for the others: a reduced palette
  // (lossless) when it keeps the picture (text, diagrams) and is smaller, else lossy.
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
      emit_page_error(
          out, number,
          "page " + std::to_string(number) + " cannot be drawn: " + cairo_status_to_string(status));
      return false;
    }
    uint8_t *px = cairo_image_surface_get_data(surface);
    int stride = cairo_image_surface_get_stride(surface);
    Encoded best;
    bool ok = true;
    if (box.max_bytes) {
      for (int q : {50, 35, 20, 10, 5}) {
        ok = encode(px, w, h, stride, false, q, best.bytes);
        if (!ok || best.bytes.size() <= box.max_bytes) break;
      }
    } else if (mode == kUndecided) {
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
      emit_page_error(out, number, "page " + std::to_string(number) + " cannot be encoded");
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
  emit_line(out, b);
  for (const Encoded &im : images)
    out.image(im.bytes);
  return true;
}

}  // namespace gramothi::slides
