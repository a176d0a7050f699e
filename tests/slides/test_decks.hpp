// PDFs the slide tests make themselves: a cairo lecture deck (text, photo-like, diagram pages)
// and hand-built ones for broken inputs.
#pragma once

#include <cairo-pdf.h>
#include <cairo.h>
#include <gio/gio.h>
#include <glib.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace {

// A 4:3 deck (800x600 pt): a text page, a photo-like page and a diagram page.
// Boxes and arrows in three flat colours, on an 800x600 page.
inline void draw_diagram(cairo_t *cr) {
  cairo_set_line_width(cr, 4);
  for (int i = 0; i < 3; i++) {
    cairo_set_source_rgb(cr, i == 0 ? 0.8 : 0.1, i == 1 ? 0.6 : 0.2, i == 2 ? 0.8 : 0.2);
    cairo_rectangle(cr, 60 + 250 * i, 250, 180, 100);
    cairo_fill(cr);
    if (i < 2) {
      cairo_set_source_rgb(cr, 0, 0, 0);
      cairo_move_to(cr, 240 + 250 * i, 300);
      cairo_line_to(cr, 310 + 250 * i, 300);
      cairo_stroke(cr);
    }
  }
}

// Black text with one small red dot (800x600): a reduced palette must keep the dot red.
inline void draw_red_dot(cairo_t *cr) {
  cairo_set_font_size(cr, 28);
  for (int l = 0; l < 8; l++) {
    cairo_move_to(cr, 60, 80 + 50 * l);
    cairo_show_text(cr, "Water evaporates, condenses and falls as rain");
  }
  cairo_set_source_rgb(cr, 0.9, 0.1, 0.1);
  cairo_arc(cr, 700, 540, 6, 0, 2 * M_PI);
  cairo_fill(cr);
}

inline std::string lecture_deck(const std::string &path, int text_pages = 1) {
  cairo_surface_t *s = cairo_pdf_surface_create(path.c_str(), 800, 600);
  cairo_t *cr = cairo_create(s);
  for (int i = 0; i < text_pages; i++) {
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, 40);
    cairo_move_to(cr, 60, 100);
    cairo_show_text(cr, "Photosynthesis");
    cairo_set_font_size(cr, 24);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    const char *lines[] = {"Plants turn light into sugar", "Chlorophyll absorbs red and blue",
                           "Oxygen is released"};
    for (int l = 0; l < 3; l++) {
      cairo_move_to(cr, 80, 180 + 50 * l);
      cairo_show_text(cr, lines[l]);
    }
    cairo_show_page(cr);
  }
  // Photo-like: smooth colour fields with noise, as a camera picture has.
  cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 400, 300);
  unsigned char *px = cairo_image_surface_get_data(img);
  int stride = cairo_image_surface_get_stride(img);
  uint32_t seed = 12345;
  for (int y = 0; y < 300; y++)
    for (int x = 0; x < 400; x++) {
      seed = seed * 1103515245 + 12345;
      int noise = static_cast<int>((seed >> 16) % 40) - 20;
      auto clamp = [](int v) { return static_cast<unsigned char>(std::max(0, std::min(255, v))); };
      unsigned char *p = px + y * stride + x * 4;
      p[0] = clamp(static_cast<int>(128 + 100 * std::sin(x / 37.0)) + noise);
      p[1] = clamp(static_cast<int>(128 + 100 * std::cos(y / 23.0)) + noise);
      p[2] = clamp((x + y) * 255 / 700 + noise);
    }
  cairo_surface_mark_dirty(img);
  cairo_save(cr);
  cairo_scale(cr, 2, 2);
  cairo_set_source_surface(cr, img, 0, 0);
  cairo_paint(cr);
  cairo_restore(cr);
  cairo_surface_destroy(img);
  cairo_show_page(cr);
  draw_diagram(cr);
  cairo_show_page(cr);
  cairo_destroy(cr);
  cairo_surface_finish(s);
  cairo_surface_destroy(s);
  g_autofree char *data = nullptr;
  gsize len = 0;
  g_file_get_contents(path.c_str(), &data, &len, nullptr);
  return std::string(data, len);
}

// A PDF from object bodies (object i+1 = bodies[i]; 1 = catalog), with a correct xref.
inline std::string build_pdf(const std::vector<std::string> &bodies,
                             const std::string &trailer_extra = "") {
  std::string pdf = "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < bodies.size(); i++) {
    offsets.push_back(pdf.size());
    pdf += std::to_string(i + 1) + " 0 obj\n" + bodies[i] + "\nendobj\n";
  }
  size_t xref = pdf.size();
  pdf += "xref\n0 " + std::to_string(bodies.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t o : offsets) {
    char line[32];
    g_snprintf(line, sizeof line, "%010zu 00000 n \n", o);
    pdf += line;
  }
  pdf += "trailer\n<< /Size " + std::to_string(bodies.size() + 1) + " /Root 1 0 R " +
         trailer_extra + " >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
  return pdf;
}

inline std::string stream(const std::string &dict, const std::string &data) {
  return "<< " + dict + " /Length " + std::to_string(data.size()) + " >>\nstream\n" + data +
         "\nendstream";
}

// `zeros` bytes of NUL (PDF whitespace), deflated: a few hundred KB that expand enormously.
inline std::string deflate_bomb(size_t zeros) {
  GZlibCompressor *z = g_zlib_compressor_new(G_ZLIB_COMPRESSOR_FORMAT_ZLIB, 9);
  std::vector<char> in(1 << 20, 0), out(1 << 20);
  std::string result;
  size_t fed = 0;
  for (;;) {
    gsize read = 0, written = 0;
    bool last = fed >= zeros;
    size_t chunk = last ? 0 : std::min(in.size(), zeros - fed);
    GConverterResult r = g_converter_convert(
        G_CONVERTER(z), in.data(), chunk, out.data(), out.size(),
        last ? G_CONVERTER_INPUT_AT_END : G_CONVERTER_NO_FLAGS, &read, &written, nullptr);
    result.append(out.data(), written);
    fed += read;
    if (r == G_CONVERTER_FINISHED || r == G_CONVERTER_ERROR) break;
  }
  g_object_unref(z);
  return result;
}

// Three text pages; page 2's content is `page2` (already a stream object body).
inline std::string three_pages(const std::string &page2_content, const std::string &page2_box) {
  std::string font = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";
  auto text = [](const std::string &t) {
    return stream("", "BT /F1 36 Tf 72 300 Td (" + t + ") Tj ET");
  };
  return build_pdf({
      "<< /Type /Catalog /Pages 2 0 R >>",
      "<< /Type /Pages /Kids [3 0 R 4 0 R 5 0 R] /Count 3 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 800 600] /Contents 6 0 R "
      "/Resources << /Font << /F1 9 0 R >> >> >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox " + page2_box +
          " /Contents 7 0 R /Resources << /Font << /F1 9 0 R >> >> >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 800 600] /Contents 8 0 R "
      "/Resources << /Font << /F1 9 0 R >> >> >>",
      text("First page"),
      page2_content,
      text("Third page"),
      font,
  });
}

}  // namespace
