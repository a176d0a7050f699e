// DeckRender and gramothi-slide-worker on decks the test makes itself: cairo PDFs (text, a
// photo-like page, a diagram) and hand-built broken ones (random bytes, damaged, encrypted, no
// pages, an absurd page size, a deflate bomb); the worker's sandbox, seen from /proc while it
// runs and by workers told to do what an exploited renderer would (--test-misbehave).
#include <arpa/inet.h>
#include <cairo-pdf.h>
#include <cairo.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <webp/decode.h>
#include <webp/encode.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
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
  std::vector<std::string> notes;
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

  std::unique_ptr<DeckRender> start(Outcome &o, const std::string &pdf, RenderLimits limits = {},
                                    std::string worker = "") {
    DeckRender::Callbacks cb;
    cb.document = [&o](int n) { o.pages = n; };
    cb.page = [&o](const RenderedPage &p) { o.rendered[p.number] = p; };
    cb.page_failed = [&o](int page, const std::string &why) { o.failed[page] = why; };
    cb.sandbox_note = [&o](const std::string &note) { o.notes.push_back(note); };
    cb.done = [&o](const std::string &code, const std::string &message) {
      o.code = code;
      o.message = message;
      o.done = true;
    };
    if (worker.empty()) worker = g_getenv("GRAMOTHI_SLIDE_WORKER");
    return DeckRender::start(worker, pdf, out_, boxes_, limits, std::move(cb));
  }

  Outcome render(const std::string &pdf, RenderLimits limits = {}, std::string worker = "") {
    Outcome o;
    auto r = start(o, pdf, limits, worker);
    int64_t until = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    while (!o.done && g_get_monotonic_time() < until)
      g_main_context_iteration(nullptr, TRUE);
    EXPECT_TRUE(o.done) << "the render never finished";
    return o;
  }

  std::string dir_, out_;
  std::vector<SlideBox> boxes_ = kBoxes;
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

// Issue 14: a preview box gets a lossy image within its bytes on every page (the photograph
// too, at a lower quality), and does not decide the profiles' encoding (the diagram stays
// lossless in the profile boxes).
TEST_F(DeckRenderTest, APreviewIsLossyWithinItsBytesAndLeavesTheProfilesEncodingAlone) {
  lecture_deck(dir_ + "/deck.pdf");
  boxes_.push_back({"_preview", 160, 120, 1536});
  Outcome o = render(dir_ + "/deck.pdf");
  EXPECT_EQ(o.code, "") << o.message;
  ASSERT_EQ(o.rendered.size(), 3u);
  for (auto &[n, page] : o.rendered) {
    ASSERT_EQ(page.images.size(), 5u) << "page " << n;
    auto preview = std::find_if(page.images.begin(), page.images.end(),
                                [](const RenderedImage &im) { return im.profile == "_preview"; });
    ASSERT_NE(preview, page.images.end()) << "page " << n;
    expect_image(out_, *preview, 160, 120);
    EXPECT_EQ(preview->encoding, "lossy") << "page " << n;
    EXPECT_LE(preview->bytes, 1536) << "page " << n;
    EXPECT_GT(preview->bytes, 100) << "page " << n << ": a picture, not an empty frame";
  }
  for (const auto &im : o.rendered[3].images) {
    if (im.profile == "_preview") continue;
    EXPECT_EQ(im.encoding, "lossless") << im.profile;
  }
  // A budget the photograph's first preview does not fit: it still fits, at a lower quality.
  auto photo = std::find_if(o.rendered[2].images.begin(), o.rendered[2].images.end(),
                            [](const RenderedImage &im) { return im.profile == "_preview"; });
  ASSERT_NE(photo, o.rendered[2].images.end());
  EXPECT_GT(photo->bytes, 600);
  boxes_.back().preview_bytes = 600;
  Outcome tight = render(dir_ + "/deck.pdf");
  ASSERT_TRUE(tight.rendered.count(2));
  for (const auto &im : tight.rendered[2].images) {
    if (im.profile != "_preview") continue;
    EXPECT_LE(im.bytes, 600);
  }
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

TEST_F(DeckRenderTest, AnInfinitePageSizeFailsThatPageOnly) {
  // More digits than a double holds: Poppler reads the side as infinite. Infinity by infinity
  // passed the aspect test (as NaN), and converting infinity for the message was undefined.
  const std::string inf(400, '9');
  for (const std::string &box : {"[0 0 " + inf + " 600]", "[0 0 " + inf + " " + inf + "]"}) {
    Outcome o = render(write("infinite.pdf", three_pages(stream("", "BT ET"), box)));
    EXPECT_EQ(o.code, "") << o.message;
    EXPECT_EQ(o.rendered.size(), 2u) << box.substr(0, 10);
    ASSERT_TRUE(o.failed.count(2)) << box.substr(0, 10);
    EXPECT_NE(o.failed[2].find("unusable size (huge"), std::string::npos) << o.failed[2];
  }
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
  draw_red_dot(cr);
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

// A folder every uid may enter (the worker runs as nobody when the tests run as root).
std::string open_dir(const char *pattern, int mode = 0755) {
  g_autofree char *d = g_dir_make_tmp(pattern, nullptr);
  g_chmod(d, mode);
  return d;
}

// A WebP of one colour, as the worker makes them (simple format).
std::string tiny_webp(int w, int h, bool lossless) {
  std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3, 0x40);
  uint8_t *out = nullptr;
  size_t n = lossless ? WebPEncodeLosslessRGB(rgb.data(), w, h, w * 3, &out)
                      : WebPEncodeRGB(rgb.data(), w, h, w * 3, 70, &out);
  std::string bytes(reinterpret_cast<char *>(out), n);
  WebPFree(out);
  return bytes;
}

// A shell line printing `bytes` exactly, with one write (octal escapes: builtins only).
std::string printf_bytes(const std::string &bytes) {
  std::string line = "printf '";
  for (unsigned char c : bytes) {
    char esc[8];
    snprintf(esc, sizeof esc, "\\%03o", c);
    line += esc;
  }
  return line + "'\n";
}

// A worker script that prints `body` (shell builtins only: the worker may start no process),
// in a folder the worker's uid may enter; removed with the folder.
class LiarWorker {
 public:
  LiarWorker() : dir_(open_dir("gramothi-liar-XXXXXX")), path_(dir_ + "/liar.sh") {}
  ~LiarWorker() {
    g_remove(path_.c_str());
    g_rmdir(dir_.c_str());
  }
  const std::string &say(const std::string &body) {
    g_file_set_contents(path_.c_str(), ("#!/bin/sh\n" + body).c_str(), -1, nullptr);
    g_chmod(path_.c_str(), 0755);
    return path_;
  }

 private:
  std::string dir_, path_;
};

TEST_F(DeckRenderTest, AWorkerTakenOverByAHostilePdfCannotHurtTheServer) {
  // What a worker that poppler let an attacker control could print: wrong types, an absurd page
  // count, pages it was not given, images that are not WebP, wrong sizes, endless lines. None
  // of it may crash or mislead us.
  LiarWorker liars;
  std::string script;
  auto liar = [&](const std::string &body) { script = liars.say(body); };
  liar(
      "echo '{\"type\":5,\"page\":\"x\"}'\n"
      "echo '{\"type\":\"document\",\"pages\":2000000000}'\n");
  lecture_deck(dir_ + "/deck.pdf");
  Outcome o = render(dir_ + "/deck.pdf", {}, script);
  EXPECT_EQ(o.code, "damaged") << o.message;
  EXPECT_TRUE(o.rendered.empty());

  // Pages outside the document are read past and dropped; images that are not a simple WebP of
  // the size they claim within their box, or not for a profile we asked for, are dropped; the
  // page keeps its text.
  std::string square = tiny_webp(16, 16, true), wide = tiny_webp(20, 10, false);
  std::string junk = "RIFF\x0c\0\0\0WEBPVP8 \0\0\0\0";  // sizes that add up, no bitstream
  liar(
      "echo '{\"type\":\"document\",\"pages\":1}'\n"
      "echo '{\"type\":\"page\",\"page\":7,\"text\":\"no such page\",\"images\":[{\"profile\":"
      "\"low\",\"bytes\":4}]}'\n"
      "printf abcd\n"
      "echo '{\"type\":\"page\",\"page\":1,\"text\":\"one\",\"images\":["
      "{\"profile\":\"low\",\"file\":\"../../etc/passwd\",\"width\":16,\"height\":16,"
      "\"bytes\":" +
      std::to_string(square.size()) +
      "},{\"profile\":\"mine\",\"width\":16,\"height\":16,\"bytes\":" +
      std::to_string(square.size()) +
      "},{\"profile\":\"medium\",\"width\":16,\"height\":16,\"bytes\":" +
      std::to_string(junk.size()) +
      "},{\"profile\":\"high\",\"width\":10,\"height\":20,\"bytes\":" +
      std::to_string(wide.size()) + "}]}'\n" + printf_bytes(square + square + junk + wide));
  o = render(dir_ + "/deck.pdf", {}, script);
  EXPECT_EQ(o.code, "") << o.message;
  ASSERT_EQ(o.rendered.size(), 1u);
  EXPECT_EQ(o.rendered[1].text, "one");
  ASSERT_EQ(o.rendered[1].images.size(), 1u);  // low: a WebP as claimed, named by its hash
  EXPECT_EQ(o.rendered[1].images[0].profile, "low");
  EXPECT_EQ(o.rendered[1].images[0].bytes, static_cast<int64_t>(square.size()));
  EXPECT_NE(o.rendered[1].images[0].file, "../../etc/passwd");
  EXPECT_TRUE(g_file_test((out_ + "/" + o.rendered[1].images[0].file).c_str(), G_FILE_TEST_EXISTS));

  // An image larger than allowed, or a line without end: the worker is stopped, its page fails.
  for (std::string flood : {std::string("echo '{\"type\":\"page\",\"page\":1,\"text\":\"\","
                                        "\"images\":[{\"profile\":\"low\",\"bytes\":"
                                        "99999999999}]}'\n"),
                            // more than 4 bytes a pixel of its 800x600 box
                            std::string("echo '{\"type\":\"page\",\"page\":1,\"text\":\"\","
                                        "\"images\":[{\"profile\":\"ultra-low\",\"bytes\":"
                                        "2000000}]}'\n"),
                            // builtins only: the worker may start no process
                            std::string("i=0; while [ $i -lt 3000 ]; do printf %01000d 0; "
                                        "i=$((i+1)); done\n")}) {
    liar(
        "echo '{\"type\":\"document\",\"pages\":1}'\n"
        "echo '{\"type\":\"begin\",\"page\":1}'\n" +
        flood);
    o = render(dir_ + "/deck.pdf", {}, script);
    EXPECT_EQ(o.code, "") << o.message;
    EXPECT_TRUE(o.rendered.empty());
    ASSERT_TRUE(o.failed.count(1)) << flood;
    EXPECT_NE(o.failed[1].find("does not accept"), std::string::npos) << o.failed[1];
  }
  // A layer the kernel refused is reported once per layer; a layer we do not know is ignored.
  liar(
      "echo '{\"type\":\"sandbox\",\"missing\":\"netns\",\"errno\":1}'\n"
      "echo '{\"type\":\"sandbox\",\"missing\":\"netns\",\"errno\":1}'\n"
      "echo '{\"type\":\"sandbox\",\"missing\":\"everything\",\"errno\":1}'\n"
      "echo '{\"type\":\"document\",\"pages\":1}'\n"
      "echo '{\"type\":\"page-error\",\"page\":1,\"message\":\"no\"}'\n");
  o = render(dir_ + "/deck.pdf", {}, script);
  ASSERT_EQ(o.notes.size(), 1u);
  EXPECT_NE(o.notes[0].find("network namespace (unshare: Operation not permitted)"),
            std::string::npos)
      << o.notes[0];

  // A worker that dies in the middle of a page's images: that page fails, the deck finishes.
  liar(
      "echo '{\"type\":\"document\",\"pages\":1}'\n"
      "echo '{\"type\":\"page\",\"page\":1,\"text\":\"cut\",\"images\":[{\"profile\":"
      "\"low\",\"bytes\":100}]}'\n"
      "printf RIFF\n");
  o = render(dir_ + "/deck.pdf", {}, script);
  EXPECT_EQ(o.code, "") << o.message;
  EXPECT_TRUE(o.rendered.empty());
  EXPECT_TRUE(o.failed.count(1));
}

TEST_F(DeckRenderTest, AWorkerCannotFillTheDiskWithImages) {
  // A page sent again with other images: the worker is stopped, only the first copy is stored.
  // The whole write arrives in one read, before the first copy is stored and its page resolved.
  auto page_line = [](const std::string &image) {
    return "{\"type\":\"page\",\"page\":1,\"text\":\"\",\"images\":[{\"profile\":\"low\","
           "\"width\":16,\"height\":16,\"bytes\":" +
           std::to_string(image.size()) + "}]}\n";
  };
  std::string first = tiny_webp(16, 16, true), second = tiny_webp(16, 16, false);
  LiarWorker liar;
  lecture_deck(dir_ + "/deck.pdf");
  std::string twice = liar.say("echo '{\"type\":\"document\",\"pages\":1}'\n" +
                               printf_bytes(page_line(first) + first + page_line(second) + second));
  Outcome o = render(dir_ + "/deck.pdf", {}, twice);
  EXPECT_EQ(o.code, "") << o.message;
  ASSERT_TRUE(o.rendered.count(1));
  GDir *dir = g_dir_open(out_.c_str(), 0, nullptr);
  ASSERT_TRUE(dir);
  // Images only: another worker's copy of the first image may still be on its way to the same
  // name (a temporary "<hash>.webp.XXXXXX" on a busy machine).
  int files = 0;
  while (const char *name = g_dir_read_name(dir))
    files += g_str_has_suffix(name, ".webp");
  g_dir_close(dir);
  EXPECT_EQ(files, 1) << "the second copy of page 1 was stored too";

  // All of a deck's images have a ceiling: the page that would go over it fails.
  RenderLimits small;
  small.max_deck_bytes = first.size() - 1;
  o = render(dir_ + "/deck.pdf", small,
             liar.say("echo '{\"type\":\"document\",\"pages\":1}'\n" +
                      printf_bytes(page_line(first) + first)));
  EXPECT_EQ(o.code, "") << o.message;
  EXPECT_TRUE(o.rendered.empty());
  ASSERT_TRUE(o.failed.count(1));
  EXPECT_NE(o.failed[1].find("would take the deck over"), std::string::npos) << o.failed[1];
}

namespace {

// A lossless WebP of noise: about 3 bytes a pixel, the most the worker's images take.
std::string noise_webp(int w, int h) {
  std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3);
  for (auto &b : rgb)
    b = static_cast<uint8_t>(g_random_int());
  uint8_t *out = nullptr;
  size_t n = WebPEncodeLosslessRGB(rgb.data(), w, h, w * 3, &out);
  std::string bytes(reinterpret_cast<char *>(out), n);
  WebPFree(out);
  return bytes;
}

// Runs the main loop until `done()` or `ms` have passed; says whether done.
bool run_until(const std::function<bool()> &done, int ms) {
  guint tick = g_timeout_add(
      20, [](gpointer) -> gboolean { return G_SOURCE_CONTINUE; }, nullptr);
  int64_t until = g_get_monotonic_time() + int64_t{ms} * 1000;
  while (!done() && g_get_monotonic_time() < until)
    g_main_context_iteration(nullptr, TRUE);
  g_source_remove(tick);
  return done();
}

// Holds DeckRender's writer thread before each page's images until opened.
struct WriterGate {
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  void let_through() {
    std::lock_guard<std::mutex> l(m);
    open = true;
    cv.notify_all();
  }
};

}  // namespace

TEST_F(DeckRenderTest, AWorkerFasterThanTheDiskWaitsAndTheServerHoldsABoundedBacklog) {
  // A taken-over worker floods pages of incompressible images while the disk is stuck: the
  // server stops reading it (it blocks on its pipe) rather than holding the deck in memory,
  // and the wait the server imposes does not count against the page timeout.
  const std::string image = noise_webp(96, 96);
  const int pages = 40;
  auto gate = std::make_shared<WriterGate>();
  struct Opener {  // however the test ends: writer threads must not wait forever
    std::shared_ptr<WriterGate> gate;
    ~Opener() { gate->let_through(); }
  } opener{gate};
  RenderLimits limits;
  limits.max_queued_bytes = image.size() * 5 / 2;  // two pages' images
  limits.page_timeout_ms = 1500;
  limits.test_before_write = [gate] {
    std::unique_lock<std::mutex> l(gate->m);
    gate->cv.wait(l, [&] { return gate->open; });
  };
  // Both workers print every page; each keeps its own (odd or even) and reads past the rest.
  LiarWorker liar;
  std::string script = liar.say(
      "echo '{\"type\":\"document\",\"pages\":" + std::to_string(pages) + "}'\nimage() {\n" +
      printf_bytes(image) + "}\np=1\nwhile [ $p -le " + std::to_string(pages) +
      " ]; do\n"
      "  printf '{\"type\":\"page\",\"page\":%d,\"text\":\"\",\"images\":[{\"profile\":"
      "\"low\",\"width\":96,\"height\":96,\"bytes\":" +
      std::to_string(image.size()) + "}]}\\n' $p\n  image\n  p=$((p+1))\ndone\n");
  lecture_deck(dir_ + "/deck.pdf");
  Outcome o;
  auto r = start(o, dir_ + "/deck.pdf", limits, script);
  auto peak = [&] { return r->stats().peak_queued_bytes; };
  run_until([&] { return r->stats().paused_workers == 2 || peak() > limits.max_queued_bytes; },
            30000);
  EXPECT_LE(peak(), limits.max_queued_bytes);
  ASSERT_EQ(r->stats().paused_workers, 2) << "the workers were not left waiting";
  // Longer than the page timeout: that wait is the server's, no page may fail for it (a worker
  // killed meanwhile would be seen once read again).
  run_until([&] { return o.done; }, limits.page_timeout_ms * 2);
  EXPECT_LE(peak(), limits.max_queued_bytes);

  gate->let_through();
  EXPECT_TRUE(run_until([&] { return o.done; }, 60000)) << "the render never finished";
  EXPECT_EQ(o.code, "") << o.message;
  EXPECT_EQ(o.rendered.size(), static_cast<size_t>(pages));
  EXPECT_TRUE(o.failed.empty()) << "page " << o.failed.begin()->first << ": "
                                << o.failed.begin()->second;
  EXPECT_LE(peak(), limits.max_queued_bytes);
  EXPECT_GE(r->stats().pauses, 2);
  EXPECT_EQ(r->stats().paused_workers, 0);
}

TEST_F(DeckRenderTest, AWorkersWordsReachLogsAndViewersAsBoundedValidText) {
  // A message that would forge a line in the server's log, a page's text far beyond the
  // worker's own 16 KiB cut, and an escape JSON-GLib turns into invalid UTF-8.
  LiarWorker liar;
  lecture_deck(dir_ + "/deck.pdf", 2);  // pages 1 and 3 are the first worker's
  std::string forged =
      "\\n2030-01-01T00:00:00.000Z ERROR gramothi[auth]: forged " + std::string(2000, 'x');
  Outcome o = render(
      dir_ + "/deck.pdf", {},
      liar.say("echo '{\"type\":\"document\",\"pages\":4}'\n"
               "printf '%s\\n' '{\"type\":\"page-error\",\"page\":1,\"message\":\"no" +
               forged +
               "\"}'\n"
               "s=yyyyyyyyyyyyyyyy; i=0; while [ $i -lt 11 ]; do s=$s$s; i=$((i+1)); done\n"
               "printf '%s\\n' '{\"type\":\"page\",\"page\":3,\"text\":\"a\\ud800b\\nline\\u0007'"
               "$s'\",\"images\":[]}'\n"));
  ASSERT_TRUE(o.failed.count(1));
  EXPECT_EQ(o.failed[1].find('\n'), std::string::npos) << o.failed[1];
  EXPECT_LE(o.failed[1].size(), 300u);
  EXPECT_EQ(o.failed[1].rfind("no ", 0), 0u) << o.failed[1];
  ASSERT_TRUE(o.rendered.count(3));
  const std::string &text = o.rendered[3].text;
  EXPECT_LE(text.size(), 16u * 1024);
  EXPECT_TRUE(g_utf8_validate(text.data(), static_cast<gssize>(text.size()), nullptr));
  EXPECT_EQ(text.rfind("a\xef\xbf\xbd", 0), 0u) << text.substr(0, 40);  // U+FFFD
  EXPECT_NE(text.find("\nline y"), std::string::npos) << text.substr(0, 40);
}

TEST_F(DeckRenderTest, ALineNestedDeepEnoughToOverflowTheJsonParserStopsOnlyTheWorker) {
  // JSON-GLib recurses once per level: 256 Ki of "[" would overflow the server's stack.
  LiarWorker liar;
  lecture_deck(dir_ + "/deck.pdf");
  Outcome o = render(dir_ + "/deck.pdf", {},
                     liar.say("echo '{\"type\":\"document\",\"pages\":1}'\n"
                              "echo '{\"type\":\"begin\",\"page\":1}'\n"
                              "s='[[[[[[[[[[[[[[[['; i=0\n"
                              "while [ $i -lt 14 ]; do s=$s$s; i=$((i+1)); done\n"
                              "printf '%s\\n' \"$s\"\n"));
  EXPECT_EQ(o.code, "") << o.message;
  EXPECT_TRUE(o.rendered.empty());
  ASSERT_TRUE(o.failed.count(1));
  EXPECT_NE(o.failed[1].find("does not accept"), std::string::npos) << o.failed[1];
}

namespace {

std::string read_text(const std::string &path) {
  g_autofree char *data = nullptr;
  gsize len = 0;
  if (!g_file_get_contents(path.c_str(), &data, &len, nullptr)) return "";
  return std::string(data, len);
}

// The value after "Name:" in /proc/PID/status, "" if absent.
std::string status_field(const std::string &status, const std::string &name) {
  size_t at = status.find("\n" + name + ":");
  if (at == std::string::npos) return "";
  at += name.size() + 2;
  size_t end = status.find('\n', at);
  std::string v = status.substr(at, end - at);
  return g_strstrip(v.data());
}

// The first worker, our child, whose command line says it renders from page 1 (--offset 0):
// found once it runs the worker's own code (its name is the worker's, no longer ours).
pid_t find_first_worker() {
  GDir *proc = g_dir_open("/proc", 0, nullptr);
  const char *name;
  pid_t found = 0;
  while (proc && !found && (name = g_dir_read_name(proc))) {
    if (!g_ascii_isdigit(name[0])) continue;
    std::string stat = read_text(std::string("/proc/") + name + "/stat");
    size_t close_paren = stat.rfind(')');
    if (stat.find("(gramothi-slide-)") == std::string::npos || close_paren == std::string::npos)
      continue;
    char state = 0;
    int ppid = 0;
    if (sscanf(stat.c_str() + close_paren + 1, " %c %d", &state, &ppid) != 2 || ppid != getpid() ||
        state == 'Z')
      continue;
    std::string cmdline = read_text(std::string("/proc/") + name + "/cmdline");
    if (cmdline.find(std::string("--offset\0"
                                 "0\0",
                                 11)) != std::string::npos)
      found = atoi(name);
  }
  if (proc) g_dir_close(proc);
  return found;
}

bool can_make_network_namespace() {
  pid_t child = fork();
  if (child == 0)  // as the worker's parent does: plainly, else (not root) in a user namespace
    _exit(unshare(CLONE_NEWNET) == 0 ||
                  (geteuid() != 0 && unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0)
              ? 0
              : 1);
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool kernel_has_landlock() {
  return syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION) >= 1;
}

// The first worker, told to pause on page 1, once it is sandboxed (its seccomp filter is the
// last layer); 0 if none is found. `status` gets its /proc/PID/status.
pid_t sandboxed_first_worker(std::string &status) {
  pid_t pid = 0;
  int64_t until = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
  while (g_get_monotonic_time() < until && status_field(status, "Seccomp") != "2") {
    g_main_context_iteration(nullptr, FALSE);
    if (!pid) pid = find_first_worker();
    if (pid) status = read_text("/proc/" + std::to_string(pid) + "/status");
    g_usleep(10000);
  }
  return pid;
}

}  // namespace

TEST_F(DeckRenderTest, ARunningWorkerIsConfinedLikeABrowsersRenderer) {
  // The server's niceness moved: the worker's follows it, 10 below.
  errno = 0;
  int before = getpriority(PRIO_PROCESS, 0);
  ASSERT_EQ(setpriority(PRIO_PROCESS, 0, before + 5), 0);
  RenderLimits limits;
  limits.sandbox.test_misbehave = "pause:1";  // page 1 waits there, to be looked at
  Outcome o;
  auto r = start(o, write("three.pdf", three_pages(stream("", "BT ET"), "[0 0 800 600]")), limits);
  std::string status;
  pid_t pid = sandboxed_first_worker(status);
  ASSERT_NE(pid, 0) << "no worker was found";
  std::string proc = "/proc/" + std::to_string(pid);
  EXPECT_EQ(status_field(status, "NoNewPrivs"), "1") << status;
  EXPECT_EQ(status_field(status, "Seccomp"), "2") << status;
  if (geteuid() == 0) {
    EXPECT_EQ(status_field(status, "Uid"), "65534\t65534\t65534\t65534") << status;
    EXPECT_EQ(status_field(status, "Gid"), "65534\t65534\t65534\t65534") << status;
    EXPECT_EQ(status_field(status, "Groups"), "") << status;
    EXPECT_EQ(status_field(status, "CapEff"), "0000000000000000") << status;
    EXPECT_EQ(status_field(status, "CapPrm"), "0000000000000000") << status;
  } else {
    printf("note: not root: the worker keeps the test's uid\n");
  }
  // Nothing of the server's environment (secrets, paths, tokens) reaches it.
  EXPECT_TRUE(g_file_test((proc + "/environ").c_str(), G_FILE_TEST_EXISTS));
  EXPECT_EQ(read_text(proc + "/environ"), "");
  // Not in the server's folder (where ./data usually is).
  g_autofree char *its_cwd = g_file_read_link((proc + "/cwd").c_str(), nullptr);
  g_autofree char *own_net = g_file_read_link("/proc/self/ns/net", nullptr);
  g_autofree char *its_net = g_file_read_link((proc + "/ns/net").c_str(), nullptr);
  if (geteuid() != 0 && !its_cwd && !its_net) {
    // Undumpable, it hides them from a process without CAP_SYS_PTRACE over it: one not root,
    // when the kernel gave the worker no user namespace of ours.
    printf("note: not root, no user namespace: the worker's cwd and net namespace unseen\n");
  } else {
    EXPECT_STREQ(its_cwd, "/");
    ASSERT_TRUE(own_net && its_net);
    if (can_make_network_namespace())
      EXPECT_STRNE(own_net, its_net) << "the worker shares the server's network namespace";
    else
      printf("note: this kernel lets this process make no network namespace: not checked\n");
  }
  std::string limits_text = read_text(proc + "/limits");
  auto limit_line = [&](const std::string &name) {  // its words, one space apart
    size_t at = limits_text.find(name);
    if (at == std::string::npos) return std::string();
    g_auto(GStrv) words =
        g_strsplit(limits_text.substr(at, limits_text.find('\n', at) - at).c_str(), " ", -1);
    std::string out;
    for (char **w = words; *w; w++)
      if (**w) out += (out.empty() ? "" : " ") + std::string(*w);
    return out;
  };
  EXPECT_EQ(limit_line("Max processes"), "Max processes 0 0 processes") << limits_text;
  EXPECT_EQ(limit_line("Max file size"), "Max file size 0 0 bytes") << limits_text;
  EXPECT_EQ(limit_line("Max core file size"), "Max core file size 0 0 bytes") << limits_text;
  std::string stat = read_text(proc + "/stat");
  g_auto(GStrv) fields = g_strsplit(stat.substr(stat.rfind(')') + 2).c_str(), " ", -1);
  ASSERT_GE(g_strv_length(fields), 17u);
  EXPECT_EQ(atoi(fields[16]), std::min(19, before + 5 + 10))
      << "nice, with the test at " << before + 5;
  r.reset();
  setpriority(PRIO_PROCESS, 0, before);  // back, where the test may (root)
}

namespace {

// Drops CAP_SYS_ADMIN from this thread's effective capabilities until destroyed, as for a server
// run as root in a container without it: the worker's plain unshare(CLONE_NEWNET) is refused.
class WithoutSysAdmin {
 public:
  WithoutSysAdmin() {
    syscall(SYS_capget, &header_, saved_);
    __user_cap_data_struct lowered[2] = {saved_[0], saved_[1]};
    lowered[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
    dropped_ = syscall(SYS_capset, &header_, lowered) == 0;
  }
  ~WithoutSysAdmin() { syscall(SYS_capset, &header_, saved_); }
  bool dropped() const { return dropped_; }

 private:
  __user_cap_header_struct header_{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct saved_[2] = {};
  bool dropped_ = false;
};

// A process of uid:gid tries what a taken-over daemon of nobody's would against `pid`: open its
// environ, its mem, and ptrace it. A bit for each that worked (4, 2, 1), or 100.
int try_to_look_into(pid_t pid, uid_t uid, gid_t gid) {
  pid_t peer = fork();
  if (peer == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 ||
        setresuid(uid, uid, uid) != 0)
      _exit(100);
    int got = 0;
    for (const char *file : {"/environ", "/mem"}) {
      int fd = open(("/proc/" + std::to_string(pid) + file).c_str(), O_RDONLY | O_CLOEXEC);
      got = got * 2 + (fd >= 0);
      if (fd >= 0) close(fd);
    }
    got = got * 2 + (ptrace(PTRACE_SEIZE, pid, nullptr, nullptr) == 0);  // detached at exit
    _exit(got);
  }
  int status = 0;
  if (peer < 0 || waitpid(peer, &status, 0) != peer || !WIFEXITED(status)) return 100;
  return WEXITSTATUS(status);
}

}  // namespace

TEST_F(DeckRenderTest, ProcessesOfTheWorkersUidCannotLookIntoIt) {
  // nobody may be shared with other daemons: one taken over must not ptrace a worker or read
  // its memory (another teacher's deck) through /proc. Also when the server, root without
  // CAP_SYS_ADMIN, cannot give it a network namespace: one made in a user namespace owned by
  // nobody would give every process of nobody's CAP_SYS_PTRACE over the worker.
  std::string pdf = write("three.pdf", three_pages(stream("", "BT ET"), "[0 0 800 600]"));
  for (bool sys_admin : {true, false}) {
    SCOPED_TRACE(sys_admin ? "the server has CAP_SYS_ADMIN" : "the server lacks CAP_SYS_ADMIN");
    if (!sys_admin && geteuid() != 0) break;
    RenderLimits limits;
    limits.sandbox.test_misbehave = "pause:1";
    Outcome o;
    std::unique_ptr<DeckRender> r;
    std::string status;
    pid_t pid = 0;
    {
      std::optional<WithoutSysAdmin> lowered;
      if (!sys_admin) {
        ASSERT_TRUE(lowered.emplace().dropped());
      }
      r = start(o, pdf, limits);
      pid = sandboxed_first_worker(status);  // spawned from in here
    }
    ASSERT_NE(pid, 0) << "no worker was found";
    std::string proc = "/proc/" + std::to_string(pid);
    // Undumpable: the kernel gives its /proc files to root, whatever its uid.
    for (const char *file : {"/environ", "/mem", "/maps"}) {
      struct stat st;
      ASSERT_EQ(stat((proc + file).c_str(), &st), 0) << file;
      EXPECT_EQ(st.st_uid, 0u) << proc << file << " is its uid's";
    }
    if (geteuid() != 0) {
      printf("note: not root: the worker keeps the test's uid; no other process to try from\n");
      break;
    }
    int got = try_to_look_into(pid, WorkerSandbox{}.uid, WorkerSandbox{}.gid);
    ASSERT_NE(got, 100) << "the test cannot take the worker's uid";
    EXPECT_FALSE(got & 4) << "a process of its uid read its environ";
    EXPECT_FALSE(got & 2) << "a process of its uid opened its memory";
    EXPECT_FALSE(got & 1) << "a process of its uid could ptrace it";
    r.reset();  // and wait for it to be gone, so the next round finds its own
    int64_t until = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (g_get_monotonic_time() < until) {
      std::string stat = read_text(proc + "/stat");
      if (stat.empty() || stat.find(") Z") != std::string::npos) break;
      g_usleep(10000);
    }
  }
}

TEST_F(DeckRenderTest, AWorkerThatWritesAFileIsStoppedAndOnlyItsPageFails) {
  std::string open = open_dir("gramothi-writable-XXXXXX", 0777);  // even nobody may write here
  std::string target = open + "/planted";
  RenderLimits limits;
  limits.sandbox.test_misbehave = "write:2:" + target;
  Outcome o = render(write("three.pdf", three_pages(stream("", "BT ET"), "[0 0 800 600]")), limits);
  EXPECT_FALSE(g_file_test(target.c_str(), G_FILE_TEST_EXISTS)) << "the worker wrote a file";
  EXPECT_EQ(o.code, "") << o.message;
  ASSERT_TRUE(o.failed.count(2)) << "page 2 rendered";
  EXPECT_NE(o.failed[2].find("sandbox"), std::string::npos) << o.failed[2];
  EXPECT_TRUE(o.rendered.count(1));
  EXPECT_TRUE(o.rendered.count(3));
  g_remove(target.c_str());
  g_rmdir(open.c_str());
}

TEST_F(DeckRenderTest, AWorkerThatOpensASocketIsStoppedAndOnlyItsPageFails) {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 8), 0);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr *>(&addr), &len), 0);
  RenderLimits limits;
  limits.sandbox.test_misbehave = "connect:2:" + std::to_string(ntohs(addr.sin_port));
  Outcome o = render(write("three.pdf", three_pages(stream("", "BT ET"), "[0 0 800 600]")), limits);
  int accepted = accept(listener, nullptr, nullptr);
  EXPECT_LT(accepted, 0) << "the worker connected to the test";
  if (accepted >= 0) close(accepted);
  close(listener);
  EXPECT_EQ(o.code, "") << o.message;
  ASSERT_TRUE(o.failed.count(2)) << "page 2 rendered";
  EXPECT_NE(o.failed[2].find("sandbox"), std::string::npos) << o.failed[2];
  EXPECT_TRUE(o.rendered.count(1));
  EXPECT_TRUE(o.rendered.count(3));
}

TEST_F(DeckRenderTest, AWorkerThatForksIsStoppedAndOnlyItsPageFails) {
  RenderLimits limits;
  limits.sandbox.test_misbehave = "fork:2";
  Outcome o = render(write("three.pdf", three_pages(stream("", "BT ET"), "[0 0 800 600]")), limits);
  EXPECT_EQ(o.code, "") << o.message;
  ASSERT_TRUE(o.failed.count(2)) << "page 2 rendered";
  EXPECT_NE(o.failed[2].find("sandbox"), std::string::npos) << o.failed[2];
  EXPECT_TRUE(o.rendered.count(1));
  EXPECT_TRUE(o.rendered.count(3));
}

TEST_F(DeckRenderTest, AWorkerCannotSignalAnotherProcessThroughItsOutputPipe) {
  // F_SETOWN, F_SETSIG and O_ASYNC on its stdout would make each of our reads send SIGKILL to
  // any process of the worker's uid: nobody's other daemons when we are root, the server itself
  // when we are not. The victim: a child of ours with the worker's uid.
  uid_t worker_uid = geteuid() == 0 ? WorkerSandbox{}.uid : geteuid();
  gid_t worker_gid = geteuid() == 0 ? WorkerSandbox{}.gid : getegid();
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t victim = fork();
  ASSERT_GE(victim, 0);
  if (victim == 0) {
    if (setresgid(worker_gid, worker_gid, worker_gid) != 0 ||
        setresuid(worker_uid, worker_uid, worker_uid) != 0)
      _exit(1);
    if (::write(ready[1], "r", 1) != 1) _exit(1);
    for (;;)
      pause();
  }
  close(ready[1]);
  char byte = 0;
  ASSERT_EQ(read(ready[0], &byte, 1), 1) << "the victim could not take the worker's uid";
  close(ready[0]);
  RenderLimits limits;
  limits.sandbox.test_misbehave = "signal:2:" + std::to_string(victim);
  Outcome o = render(write("three.pdf", three_pages(stream("", "BT ET"), "[0 0 800 600]")), limits);
  // A SIGKILL sent before this SIGTERM would be the one the victim died of.
  kill(victim, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(victim, &status, 0), victim);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM) << "the worker killed a process of its uid";
  EXPECT_EQ(o.code, "") << o.message;
  ASSERT_TRUE(o.failed.count(2)) << "page 2 rendered";
  EXPECT_NE(o.failed[2].find("sandbox"), std::string::npos) << o.failed[2];
  EXPECT_TRUE(o.rendered.count(1));
  EXPECT_TRUE(o.rendered.count(3));
}

TEST_F(DeckRenderTest, AWorkerCannotReadTheServersSecrets) {
  std::string pdf = write("three.pdf", three_pages(stream("", "BT ET"), "[0 0 800 600]"));
  auto try_to_read = [&](const std::string &path, const std::string &secret) {
    RenderLimits limits;
    limits.sandbox.test_misbehave = "read:2:" + path;
    Outcome o = render(pdf, limits);
    EXPECT_EQ(o.code, "") << o.message;
    for (auto &[n, page] : o.rendered)
      EXPECT_EQ(page.text.find(secret), std::string::npos) << "page " << n << " leaked it";
    ASSERT_TRUE(o.failed.count(2)) << "page 2 rendered";
    EXPECT_NE(o.failed[2].find("refused"), std::string::npos) << o.failed[2];
    EXPECT_TRUE(o.rendered.count(1));
    EXPECT_TRUE(o.rendered.count(3));
  };
  // The server's JWT secret: its own, mode 0600 in its 0700 data folder.
  std::string secret = "jwt-secret-7f3a9c";
  std::string jwt = write("jwt-secret", secret);
  g_chmod(jwt.c_str(), 0600);
  try_to_read(jwt, secret);
  // A file any uid may read, outside the folders fonts and libraries live in (for a server
  // that does not run as root, whose workers keep its uid): Landlock refuses it.
  if (kernel_has_landlock()) {
    std::string open = open_dir("gramothi-readable-XXXXXX");
    std::string readable = open + "/config.ini";
    g_file_set_contents(readable.c_str(), "jwt_secret=open-9b2e", -1, nullptr);
    g_chmod(readable.c_str(), 0644);
    try_to_read(readable, "open-9b2e");
    g_remove(readable.c_str());
    g_rmdir(open.c_str());
  } else {
    printf("note: this kernel has no Landlock: reading a world-readable file not checked\n");
  }
}
