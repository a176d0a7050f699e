// DeckRender and gramothi-slide-worker on decks the test makes itself: cairo PDFs (text, a
// photo-like page, a diagram) and hand-built broken ones (random bytes, damaged, encrypted, no
// pages, an absurd page size, a deflate bomb).
#include <cairo-pdf.h>
#include <cairo.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gtest/gtest.h>
#include <webp/decode.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "deck_render.hpp"
#include "test_decks.hpp"

using namespace gramothi;

namespace {

const std::vector<SlideBox> kBoxes = {
    {"ultra-low", 800, 600}, {"low", 1024, 768}, {"medium", 1280, 720}, {"high", 1920, 1080}};

struct Outcome {
  int pages = -1;
  std::map<int, RenderedPage> rendered;
  std::map<int, std::string> failed;
  std::string code, message;
  bool done = false;
};

class DeckRenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_autofree char *d = g_dir_make_tmp("gramothi-slides-XXXXXX", nullptr);
    dir_ = d;
    out_ = dir_ + "/images";
    g_mkdir(out_.c_str(), 0700);
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    if (system(cmd.c_str()) != 0) g_warning("cannot remove %s", dir_.c_str());
  }

  std::string write(const std::string &name, const std::string &bytes) {
    std::string path = dir_ + "/" + name;
    g_file_set_contents(path.c_str(), bytes.data(), static_cast<gssize>(bytes.size()), nullptr);
    return path;
  }

  Outcome render(const std::string &pdf, RenderLimits limits = {}, std::string worker = "") {
    Outcome o;
    DeckRender::Callbacks cb;
    cb.document = [&](int n) { o.pages = n; };
    cb.page = [&](const RenderedPage &p) { o.rendered[p.number] = p; };
    cb.page_failed = [&](int page, const std::string &why) { o.failed[page] = why; };
    cb.done = [&](const std::string &code, const std::string &message) {
      o.code = code;
      o.message = message;
      o.done = true;
    };
    if (worker.empty()) worker = g_getenv("GRAMOTHI_SLIDE_WORKER");
    auto r = DeckRender::start(worker, pdf, out_, kBoxes, limits, std::move(cb));
    int64_t until = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    while (!o.done && g_get_monotonic_time() < until)
      g_main_context_iteration(nullptr, TRUE);
    EXPECT_TRUE(o.done) << "the render never finished";
    return o;
  }

  std::string dir_, out_;
};

void expect_image(const std::string &dir, const RenderedImage &im, int w, int h) {
  g_autofree char *data = nullptr;
  gsize len = 0;
  ASSERT_TRUE(g_file_get_contents((dir + "/" + im.file).c_str(), &data, &len, nullptr)) << im.file;
  EXPECT_EQ(static_cast<int64_t>(len), im.bytes);
  int dw = 0, dh = 0;
  ASSERT_TRUE(WebPGetInfo(reinterpret_cast<const uint8_t *>(data), len, &dw, &dh)) << im.file;
  EXPECT_EQ(dw, w) << im.profile;
  EXPECT_EQ(dh, h) << im.profile;
  EXPECT_EQ(im.width, w);
  EXPECT_EQ(im.height, h);
  // Content-addressed: the name is the SHA-256 of the bytes.
  g_autofree char *sum =
      g_compute_checksum_for_data(G_CHECKSUM_SHA256, reinterpret_cast<const guchar *>(data), len);
  EXPECT_EQ(im.file, std::string(sum) + ".webp");
}

}  // namespace

TEST_F(DeckRenderTest, EveryPageGetsEveryProfilesImageFittedWithItsAspectRatio) {
  lecture_deck(dir_ + "/deck.pdf");
  Outcome o = render(dir_ + "/deck.pdf");
  EXPECT_EQ(o.code, "") << o.message;
  EXPECT_EQ(o.pages, 3);
  ASSERT_EQ(o.rendered.size(), 3u);
  EXPECT_TRUE(o.failed.empty());
  // An 800x600 pt page in each box: 4:3 kept, as large as the box allows.
  const std::map<std::string, std::pair<int, int>> want = {{"ultra-low", {800, 600}},
                                                           {"low", {1024, 768}},
                                                           {"medium", {960, 720}},
                                                           {"high", {1440, 1080}}};
  for (auto &[n, page] : o.rendered) {
    ASSERT_EQ(page.images.size(), 4u);
    for (const auto &im : page.images) {
      auto it = want.find(im.profile);
      ASSERT_NE(it, want.end()) << im.profile;
      expect_image(out_, im, it->second.first, it->second.second);
    }
  }
}

TEST_F(DeckRenderTest, EachPagesTextIsExtracted) {
  lecture_deck(dir_ + "/deck.pdf");
  Outcome o = render(dir_ + "/deck.pdf");
  ASSERT_TRUE(o.rendered.count(1));
  EXPECT_NE(o.rendered[1].text.find("Photosynthesis"), std::string::npos) << o.rendered[1].text;
  EXPECT_NE(o.rendered[1].text.find("Chlorophyll absorbs red and blue"), std::string::npos);
  EXPECT_EQ(o.rendered[3].text, "");  // the diagram has no words
}

TEST_F(DeckRenderTest, DiagramsAreLosslessAndPhotographsLossy) {
  lecture_deck(dir_ + "/deck.pdf");
  Outcome o = render(dir_ + "/deck.pdf");
  ASSERT_EQ(o.rendered.size(), 3u);
  for (const auto &im : o.rendered[2].images)
    EXPECT_EQ(im.encoding, "lossy") << "photo, " << im.profile << ": " << im.bytes << " bytes";
  for (const auto &im : o.rendered[3].images)
    EXPECT_EQ(im.encoding, "lossless") << "diagram, " << im.profile << ": " << im.bytes;
  // Text and diagrams stay small enough for a 2G link at the smallest profile.
  for (int p : {1, 3})
    EXPECT_LT(o.rendered[p].images[0].bytes, 25 * 1024) << "page " << p;
}

TEST_F(DeckRenderTest, InputsThatAreNotUsablePdfsGetAClearError) {
  std::string random(4096, '\0');
  for (size_t i = 0; i < random.size(); i++)
    random[i] = static_cast<char>(g_random_int());
  Outcome o = render(write("random.pdf", random));
  EXPECT_EQ(o.code, "not_pdf") << o.message;

  o = render(write("garbage.pdf", "%PDF-1.7\n" + random));
  EXPECT_EQ(o.code, "damaged") << o.message;

  o = render(write("empty.pdf", build_pdf({"<< /Type /Catalog /Pages 2 0 R >>",
                                           "<< /Type /Pages /Kids [] /Count 0 >>"})));
  EXPECT_EQ(o.code, "no_pages") << o.message;

  // The standard security handler with an owner/user key no empty password opens.
  std::string key(32, 'k');
  std::string encrypted =
      build_pdf({"<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [] /Count 0 >>",
                 "<< /Filter /Standard /V 1 /R 2 /O (" + key + ") /U (" + key + ") /P -4 >>"},
                "/Encrypt 3 0 R /ID [<00112233445566778899aabbccddeeff> "
                "<00112233445566778899aabbccddeeff>]");
  o = render(write("encrypted.pdf", encrypted));
  EXPECT_EQ(o.code, "encrypted") << o.message;

  RenderLimits two;
  two.max_pages = 2;
  lecture_deck(dir_ + "/deck.pdf");
  o = render(dir_ + "/deck.pdf", two);
  EXPECT_EQ(o.code, "too_many_pages") << o.message;
  EXPECT_NE(o.message.find("3 pages"), std::string::npos) << o.message;
}

TEST_F(DeckRenderTest, DamagedFilesAreRepairedWhenPossibleAndRefusedClearlyWhenNot) {
  // Without its end a cairo PDF has lost its catalog (written last): nothing to repair.
  std::string deck = lecture_deck(dir_ + "/deck.pdf", 3);
  Outcome o = render(write("cut.pdf", deck.substr(0, deck.size() * 8 / 10)));
  EXPECT_EQ(o.code, "damaged") << o.message;
  EXPECT_NE(o.message.find("cannot"), std::string::npos) << o.message;
  EXPECT_TRUE(o.rendered.empty());

  // Without the cross-reference table and trailer the objects are found again.
  std::string simple =
      three_pages(stream("", "BT /F1 36 Tf 72 300 Td (Second page) Tj ET"), "[0 0 800 600]");
  o = render(write("no-xref.pdf", simple.substr(0, simple.rfind("xref"))));
  EXPECT_EQ(o.code, "") << o.message;
  EXPECT_EQ(o.rendered.size(), 3u);
  EXPECT_NE(o.rendered[2].text.find("Second page"), std::string::npos);

  // A corrupt cross-reference table is repaired the same way.
  std::string bad_xref = deck;
  size_t at = bad_xref.rfind("xref");
  ASSERT_NE(at, std::string::npos);
  for (size_t i = at + 10; i < bad_xref.size() - 30; i++)
    if (g_ascii_isdigit(bad_xref[i])) bad_xref[i] = '9';
  o = render(write("xref.pdf", bad_xref));
  EXPECT_EQ(o.code, "") << o.message;
  EXPECT_EQ(o.rendered.size(), 5u);
}

TEST_F(DeckRenderTest, AHugePageIsFittedIntoEachBoxLikeAnyOther) {
  // 200 x 200 inches, the largest page PDF allows: no larger image, no more memory.
  std::string pdf =
      three_pages(stream("", "BT /F1 900 Tf 720 7000 Td (Huge) Tj ET"), "[0 0 14400 14400]");
  Outcome o = render(write("huge.pdf", pdf));
  EXPECT_EQ(o.code, "") << o.message;
  ASSERT_TRUE(o.rendered.count(2)) << (o.failed.count(2) ? o.failed[2] : "");
  for (const auto &im : o.rendered[2].images) {
    if (im.profile == "ultra-low") expect_image(out_, im, 600, 600);
    if (im.profile == "high") expect_image(out_, im, 1080, 1080);
  }
  EXPECT_NE(o.rendered[2].text.find("Huge"), std::string::npos);
}

TEST_F(DeckRenderTest, AnAbsurdPageSizeFailsThatPageOnly) {
  std::string pdf = three_pages(stream("", "BT /F1 36 Tf 72 5 Td (Thin) Tj ET"), "[0 0 14400 10]");
  Outcome o = render(write("thin.pdf", pdf));
  EXPECT_EQ(o.code, "") << o.message;
  EXPECT_EQ(o.rendered.size(), 2u);
  ASSERT_TRUE(o.failed.count(2));
  EXPECT_NE(o.failed[2].find("unusable size"), std::string::npos) << o.failed[2];
  EXPECT_NE(o.rendered[3].text.find("Third page"), std::string::npos);
}

TEST_F(DeckRenderTest, ADeflateBombPageIsStoppedByTheLimitsAndTheOtherPagesRender) {
  std::string bomb = deflate_bomb(size_t{3} << 30);  // 3 GiB of NUL
  std::string pdf = three_pages(stream("/Filter /FlateDecode", bomb), "[0 0 800 600]");
  RenderLimits tight;
  tight.cpu_seconds_per_page = 1;
  tight.memory_bytes = 512ull << 20;
  tight.page_timeout_ms = 3000;
  Outcome o = render(write("bomb.pdf", pdf), tight);
  EXPECT_EQ(o.code, "") << o.message;
  ASSERT_TRUE(o.failed.count(2)) << "the bomb page rendered";
  EXPECT_NE(o.failed[2].find("renderer"), std::string::npos) << o.failed[2];
  EXPECT_TRUE(o.rendered.count(1));
  EXPECT_TRUE(o.rendered.count(3));
}

TEST_F(DeckRenderTest, AReducedPaletteKeepsASmallDistinctColour) {
  // Black text with one small red dot: the page goes lossless with a reduced palette, and the
  // dot must stay red, not turn into the nearest grey.
  std::string path = dir_ + "/dot.pdf";
  cairo_surface_t *s = cairo_pdf_surface_create(path.c_str(), 800, 600);
  cairo_t *cr = cairo_create(s);
  cairo_set_font_size(cr, 28);
  for (int l = 0; l < 8; l++) {
    cairo_move_to(cr, 60, 80 + 50 * l);
    cairo_show_text(cr, "Water evaporates, condenses and falls as rain");
  }
  cairo_set_source_rgb(cr, 0.9, 0.1, 0.1);
  cairo_arc(cr, 700, 540, 6, 0, 2 * M_PI);
  cairo_fill(cr);
  cairo_show_page(cr);
  cairo_destroy(cr);
  cairo_surface_destroy(s);
  Outcome o = render(path);
  ASSERT_EQ(o.rendered.size(), 1u) << o.message;
  const RenderedImage &im = o.rendered[1].images[0];  // ultra-low, 800x600
  EXPECT_EQ(im.encoding, "lossless");
  g_autofree char *data = nullptr;
  gsize len = 0;
  ASSERT_TRUE(g_file_get_contents((out_ + "/" + im.file).c_str(), &data, &len, nullptr));
  int w = 0, h = 0;
  uint8_t *rgb = WebPDecodeRGB(reinterpret_cast<const uint8_t *>(data), len, &w, &h);
  ASSERT_TRUE(rgb);
  const uint8_t *dot = rgb + (540 * w + 700) * 3;
  EXPECT_GT(dot[0], 180) << "red " << int(dot[0]) << " green " << int(dot[1]);
  EXPECT_LT(dot[1], 80);
  WebPFree(rgb);
}

TEST_F(DeckRenderTest, AWorkerTakenOverByAHostilePdfCannotHurtTheServer) {
  // What a worker that poppler let an attacker control could print: wrong types, an absurd page
  // count, pages it was not given, images with paths. None of it may crash or mislead us.
  std::string script = dir_ + "/liar.sh";
  std::string lines =
      "#!/bin/sh\n"
      "echo '{\"type\":5,\"page\":\"x\"}'\n"
      "echo '{\"type\":\"page\",\"page\":1,\"text\":7,\"images\":[{\"profile\":\"low\","
      "\"file\":\"../../etc/passwd\"}]}'\n"
      "echo '{\"type\":\"document\",\"pages\":2000000000}'\n";
  g_file_set_contents(script.c_str(), lines.c_str(), -1, nullptr);
  g_chmod(script.c_str(), 0755);
  lecture_deck(dir_ + "/deck.pdf");
  Outcome o = render(dir_ + "/deck.pdf", {}, script);
  EXPECT_EQ(o.code, "damaged") << o.message;
  EXPECT_TRUE(o.rendered.empty());

  // Pages outside the document and files that are not content hashes are dropped.
  lines =
      "#!/bin/sh\n"
      "echo '{\"type\":\"document\",\"pages\":1}'\n"
      "echo '{\"type\":\"page\",\"page\":7,\"text\":\"no such page\",\"images\":[]}'\n"
      "echo '{\"type\":\"page\",\"page\":1,\"text\":\"one\",\"images\":[{\"profile\":"
      "\"low\",\"file\":\"../../etc/passwd\",\"width\":1,\"height\":1}]}'\n";
  g_file_set_contents(script.c_str(), lines.c_str(), -1, nullptr);
  g_chmod(script.c_str(), 0755);
  o = render(dir_ + "/deck.pdf", {}, script);
  EXPECT_EQ(o.code, "") << o.message;
  ASSERT_EQ(o.rendered.size(), 1u);
  EXPECT_EQ(o.rendered[1].text, "one");
  EXPECT_TRUE(o.rendered[1].images.empty());
}
