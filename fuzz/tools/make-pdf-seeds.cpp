// Writes the slide_worker fuzz target's seeds (fuzz/corpus/slide_worker/seed-*): the hostile
// decks the slide tests build (tests/slides/test_decks.hpp and deck_render_test.cpp: not a PDF,
// damaged, encrypted, no pages, too many pages, cut short, no or a corrupt cross-reference
// table, a huge and an absurd page, a deflate bomb), each small enough for a fuzzer (the bomb
// inflates to 4 MiB, not 3 GiB), and ordinary pages as decks have them (text in an embedded
// font, a diagram, a photograph as a flate image and as a JPEG, a 16:9 page, a rotated one, a
// red dot for the palette), plus a few that aim at our own code (a text longer than 16 KiB,
// text that maps to code points UTF-8 cannot carry). Run once; the files are kept in the
// repository:
//   ninja -C build-fuzz fuzz/make-pdf-seeds && build-fuzz/fuzz/make-pdf-seeds
//   fuzz/corpus/slide_worker
// (rerunning rewrites only the seed-* files, never what the fuzzer found).
#include <cairo-pdf.h>
#include <cairo.h>

#include <cstdio>  // before jpeglib.h, which uses FILE and size_t without including them
#include <jpeglib.h>

#include <string>
#include <vector>

#include "test_decks.hpp"

namespace {

std::string dir;

void write(const std::string &name, const std::string &bytes) {
  std::string path = dir + "/seed-" + name + ".pdf";
  if (bytes.size() > 64 * 1024) {
    std::fprintf(stderr, "%s: %zu bytes, more than the fuzzer's -max_len\n", path.c_str(),
                 bytes.size());
    exit(1);
  }
  if (!g_file_set_contents(path.c_str(), bytes.data(), static_cast<gssize>(bytes.size()),
                           nullptr)) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    exit(1);
  }
  std::printf("%6zu %s\n", bytes.size(), path.c_str());
}

// A cairo PDF of `w` x `h` pt drawn by `draw` (one call per page, `pages` pages).
template <typename Draw>
std::string cairo_deck(double w, double h, int pages, Draw draw) {
  std::string data;
  cairo_surface_t *s = cairo_pdf_surface_create_for_stream(
      [](void *closure, const unsigned char *d, unsigned int n) {
        static_cast<std::string *>(closure)->append(reinterpret_cast<const char *>(d), n);
        return CAIRO_STATUS_SUCCESS;
      },
      &data, w, h);
  // A fixed date: the same seeds on every run.
  cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATE_DATE, "2026-01-01T00:00:00Z");
  cairo_t *cr = cairo_create(s);
  for (int i = 0; i < pages; i++) {
    draw(cr, i);
    cairo_show_page(cr);
  }
  cairo_destroy(cr);
  cairo_surface_finish(s);
  cairo_surface_destroy(s);
  return data;
}

void text_page(cairo_t *cr, int) {
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
  cairo_set_font_size(cr, 40);
  cairo_move_to(cr, 60, 100);
  cairo_show_text(cr, "Photosynthesis");
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, 24);
  const char *lines[] = {"Plants turn light into sugar", "Chlorophyll absorbs red and blue",
                         "Oxygen is released — 6 CO₂ + 6 H₂O → C₆H₁₂O₆ + 6 O₂"};
  for (int l = 0; l < 3; l++) {
    cairo_move_to(cr, 80, 180 + 50 * l);
    cairo_show_text(cr, lines[l]);
  }
}

void diagram_page(cairo_t *cr, int) {
  draw_diagram(cr);
}

// Smooth colour fields with noise, as a camera picture has (lecture_deck's, smaller).
std::vector<uint8_t> photo_rgb(int w, int h) {
  std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3);
  uint32_t seed = 12345;
  auto clamp = [](int v) { return static_cast<uint8_t>(std::max(0, std::min(255, v))); };
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      seed = seed * 1103515245 + 12345;
      int noise = static_cast<int>((seed >> 16) % 40) - 20;
      uint8_t *p = &rgb[(static_cast<size_t>(y) * w + x) * 3];
      p[0] = clamp((x + y) * 255 / (w + h) + noise);
      p[1] = clamp(static_cast<int>(128 + 100 * std::cos(y / 5.0)) + noise);
      p[2] = clamp(static_cast<int>(128 + 100 * std::sin(x / 8.0)) + noise);
    }
  return rgb;
}

void photo_page(cairo_t *cr, int) {
  const int w = 80, h = 60;
  std::vector<uint8_t> rgb = photo_rgb(w, h);
  cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
  unsigned char *px = cairo_image_surface_get_data(img);
  int stride = cairo_image_surface_get_stride(img);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      const uint8_t *s = &rgb[(static_cast<size_t>(y) * w + x) * 3];
      unsigned char *p = px + y * stride + x * 4;
      p[0] = s[2];
      p[1] = s[1];
      p[2] = s[0];
    }
  cairo_surface_mark_dirty(img);
  cairo_scale(cr, 10, 10);
  cairo_set_source_surface(cr, img, 0, 0);
  cairo_paint(cr);
  cairo_surface_destroy(img);
}

std::string jpeg(int w, int h) {
  std::vector<uint8_t> rgb = photo_rgb(w, h);
  jpeg_compress_struct c{};
  jpeg_error_mgr err{};
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char *buf = nullptr;
  unsigned long len = 0;
  jpeg_mem_dest(&c, &buf, &len);
  c.image_width = static_cast<JDIMENSION>(w);
  c.image_height = static_cast<JDIMENSION>(h);
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 60, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = &rgb[static_cast<size_t>(c.next_scanline) * w * 3];
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::string out(reinterpret_cast<char *>(buf), len);
  free(buf);
  return out;
}

std::string random_bytes(size_t n) {
  std::string r(n, '\0');
  uint32_t seed = 4242;
  for (auto &c : r) {
    seed = seed * 1103515245 + 12345;
    c = static_cast<char>(seed >> 24);
  }
  return r;
}

const std::string kCatalog = "<< /Type /Catalog /Pages 2 0 R >>";

// One page (object 3) with `content` (object 4) and `resources`.
std::string one_page(const std::string &box, const std::string &content,
                     const std::string &resources, std::vector<std::string> more = {},
                     const std::string &page_extra = "") {
  std::vector<std::string> bodies = {kCatalog, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                                     "<< /Type /Page /Parent 2 0 R /MediaBox " + box +
                                         " /Contents 4 0 R /Resources " + resources + " " +
                                         page_extra + " >>",
                                     content};
  bodies.insert(bodies.end(), more.begin(), more.end());
  return build_pdf(bodies);
}

const std::string kHelvetica = "<< /Font << /F1 5 0 R >> >>";
const std::string kHelveticaFont = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";

// `lines` lines of `per_line` characters (cycling through `chars`) in font F1 at 3 pt, one page.
std::string lines_of(const std::string &chars, int lines, int per_line) {
  std::string content = "BT /F1 3 Tf 3.5 TL 10 590 Td\n";
  size_t at = 0;
  for (int l = 0; l < lines; l++) {
    content += "(";
    for (int c = 0; c < per_line; c++)
      content += chars[at++ % chars.size()];
    content += ") '\n";
  }
  return stream("", content + "ET");
}

// A Type 1 font (no embedded program) whose ToUnicode CMap maps A to a lone high surrogate (a
// code point UTF-8 must not carry), B to a three-byte character and C to a surrogate pair (a
// four-byte one), so the text's cut at 16 KiB can fall inside a character.
std::string surrogate_font_text(int lines) {
  std::string cmap =
      "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
      "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
      "/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"
      "1 begincodespacerange <00> <FF> endcodespacerange\n"
      "3 beginbfchar <41> <D800> <42> <0915> <43> <D83DDE00> endbfchar\n"
      "endcmap CMapName currentdict /CMap defineresource pop end end";
  return one_page("[0 0 800 600]", lines_of("ABC", lines, 60), kHelvetica,
                  {"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 6 0 R >>",
                   stream("", cmap)});
}

}  // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR (fuzz/corpus/slide_worker)\n", argv[0]);
    return 2;
  }
  dir = argv[1];
  g_mkdir_with_parents(dir.c_str(), 0755);

  // Ordinary decks.
  write("text", cairo_deck(800, 600, 1, text_page));
  write("diagram", cairo_deck(800, 600, 1, diagram_page));
  write("photo", cairo_deck(800, 600, 1, photo_page));
  write("lecture", cairo_deck(800, 600, 3, [](cairo_t *cr, int i) {
          if (i == 0) text_page(cr, i);
          if (i == 1) photo_page(cr, i);
          if (i == 2) diagram_page(cr, i);
        }));
  write("widescreen", cairo_deck(1280, 720, 1, text_page));
  write("red-dot", cairo_deck(800, 600, 1, [](cairo_t *cr, int) { draw_red_dot(cr); }));
  write("jpeg", one_page("[0 0 800 600]", stream("", "q 640 0 0 480 80 60 cm /Im1 Do Q"),
                         "<< /XObject << /Im1 5 0 R >> >>",
                         {stream("/Type /XObject /Subtype /Image /Width 64 /Height 48 "
                                 "/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode",
                                 jpeg(64, 48))}));
  write("rotated", one_page("[0 0 800 600]", stream("", "BT /F1 36 Tf 72 300 Td (Turned) Tj ET"),
                            kHelvetica, {kHelveticaFont}, "/Rotate 90"));

  // The slide tests' hostile decks.
  write("random", random_bytes(4096));
  write("garbage", "%PDF-1.7\n" + random_bytes(4096));
  write("no-pages", build_pdf({kCatalog, "<< /Type /Pages /Kids [] /Count 0 >>"}));
  std::string key(32, 'k');
  write("encrypted",
        build_pdf({kCatalog, "<< /Type /Pages /Kids [] /Count 0 >>",
                   "<< /Filter /Standard /V 1 /R 2 /O (" + key + ") /U (" + key + ") /P -4 >>"},
                  "/Encrypt 3 0 R /ID [<00112233445566778899aabbccddeeff> "
                  "<00112233445566778899aabbccddeeff>]"));
  {
    std::vector<std::string> bodies = {kCatalog, ""};
    std::string kids;
    for (int i = 0; i < 301; i++) {
      kids += std::to_string(i + 3) + " 0 R ";
      bodies.push_back("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 8 6] >>");
    }
    bodies[1] = "<< /Type /Pages /Kids [" + kids + "] /Count 301 >>";
    write("too-many-pages", build_pdf(bodies));
  }
  std::string deck = cairo_deck(800, 600, 3, [](cairo_t *cr, int i) {
    if (i == 2)
      diagram_page(cr, i);
    else
      text_page(cr, i);
  });
  write("cut", deck.substr(0, deck.size() * 8 / 10));
  std::string bad_xref = deck;
  for (size_t i = bad_xref.rfind("xref") + 10; i < bad_xref.size() - 30; i++)
    if (g_ascii_isdigit(bad_xref[i])) bad_xref[i] = '9';
  write("bad-xref", bad_xref);
  std::string simple =
      three_pages(stream("", "BT /F1 36 Tf 72 300 Td (Second page) Tj ET"), "[0 0 800 600]");
  write("no-xref", simple.substr(0, simple.rfind("xref")));
  write("huge-page",
        three_pages(stream("", "BT /F1 900 Tf 720 7000 Td (Huge) Tj ET"), "[0 0 14400 14400]"));
  write("thin-page",
        three_pages(stream("", "BT /F1 36 Tf 72 5 Td (Thin) Tj ET"), "[0 0 14400 10]"));
  write("deflate-bomb", three_pages(stream("/Filter /FlateDecode", deflate_bomb(size_t{4} << 20)),
                                    "[0 0 800 600]"));
  write("three-empty", three_pages(stream("", "BT ET"), "[0 0 800 600]"));

  // Aimed at our own code: page_text's limit and its UTF-8.
  write("long-text", one_page("[0 0 800 600]", lines_of("Photosynthesis ", 160, 120), kHelvetica,
                              {kHelveticaFont}));
  write("surrogates", surrogate_font_text(2));
  write("surrogates-long", surrogate_font_text(160));
  return 0;
}
