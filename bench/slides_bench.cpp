// Slide rendering benchmark: renders a PDF deck for every bandwidth profile with DeckRender
// (the server's renderer: two gramothi-slide-worker processes), then times pdftoppm making the
// same four sizes as PNG, and prints one JSON line: pages, render and pdftoppm seconds and their
// ratio, the time until page 1 was ready for every profile, and median/max bytes per profile.
//
//   slides_bench --pdf FILE [--profiles pipelines/profiles.ini]
//
// Run it through bench/run-slides, which builds it and picks the beamer lecture example.
#include <glib/gstdio.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "base/json.hpp"
#include "config/profiles.hpp"
#include "deck_render.hpp"

using namespace gramothi;

namespace {

double run_seconds(const std::vector<std::string> &argv) {
  std::vector<const char *> a;
  for (auto &s : argv)
    a.push_back(s.c_str());
  a.push_back(nullptr);
  int64_t t0 = g_get_monotonic_time();
  g_autoptr(GError) err = nullptr;
  int status = 0;
  if (!g_spawn_sync(nullptr, const_cast<char **>(a.data()), nullptr,
                    GSpawnFlags(G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                                G_SPAWN_STDERR_TO_DEV_NULL),
                    nullptr, nullptr, nullptr, nullptr, &status, &err)) {
    fprintf(stderr, "%s: %s\n", argv[0].c_str(), err->message);
    return -1;
  }
  return (g_get_monotonic_time() - t0) / 1e6;
}

}  // namespace

int main(int argc, char **argv) {
  g_autofree char *pdf = nullptr, *profiles_path = nullptr;
  GOptionEntry entries[] = {
      {"pdf", 0, 0, G_OPTION_ARG_FILENAME, &pdf, "The deck", "FILE"},
      {"profiles", 0, 0, G_OPTION_ARG_FILENAME, &profiles_path, "profiles.ini", "FILE"},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  g_autoptr(GOptionContext) ctx = g_option_context_new("- slide rendering benchmark");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_autoptr(GError) err = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &err) || !pdf) {
    fprintf(stderr, "usage: slides_bench --pdf FILE [--profiles FILE]\n");
    return 2;
  }
  std::string root = g_getenv("GRAMOTHI_SOURCE_ROOT") ? g_getenv("GRAMOTHI_SOURCE_ROOT") : ".";
  auto profiles =
      ProfileSet::load(profiles_path ? profiles_path : root + "/pipelines/profiles.ini");
  if (!profiles) {
    fprintf(stderr, "%s\n", profiles.error().message.c_str());
    return 2;
  }
  std::vector<SlideBox> boxes;
  for (const auto &p : profiles->all())
    boxes.push_back({p.name, p.slide_width, p.slide_height});

  g_autofree char *dir = g_dir_make_tmp("gramothi-slides-bench-XXXXXX", nullptr);
  std::string out = std::string(dir) + "/images";
  g_mkdir(out.c_str(), 0700);

  int pages = -1, failed = 0;
  std::map<int, RenderedPage> rendered;
  int64_t first_page_us = -1;
  bool done = false;
  std::string code, message;
  DeckRender::Callbacks cb;
  int64_t t0 = g_get_monotonic_time();
  cb.document = [&](int n) { pages = n; };
  cb.page = [&](const RenderedPage &p) {
    rendered[p.number] = p;
    if (p.number == 1) first_page_us = g_get_monotonic_time() - t0;
  };
  cb.page_failed = [&](int, const std::string &why) {
    failed++;
    fprintf(stderr, "%s\n", why.c_str());
  };
  cb.done = [&](const std::string &c, const std::string &m) {
    code = c;
    message = m;
    done = true;
  };
  auto render = DeckRender::start(g_getenv("GRAMOTHI_SLIDE_WORKER"), pdf, out, boxes,
                                  RenderLimits{}, std::move(cb));
  while (!done)
    g_main_context_iteration(nullptr, TRUE);
  double render_s = (g_get_monotonic_time() - t0) / 1e6;
  if (!code.empty()) {
    fprintf(stderr, "render failed: %s %s\n", code.c_str(), message.c_str());
    return 1;
  }

  // pdftoppm, one run per profile, at the sizes our renderer chose for the first page.
  double ppm_s = 0;
  for (const auto &im : rendered[1].images)
    ppm_s +=
        run_seconds({"pdftoppm", "-png", "-scale-to-x", std::to_string(im.width), "-scale-to-y",
                     std::to_string(im.height), pdf, std::string(dir) + "/ppm-" + im.profile});

  JsonObjectWriter w;
  g_autofree char *base = g_path_get_basename(pdf);
  w.str("pdf", base)
      .num("pages", int64_t{pages})
      .num("failed_pages", int64_t{failed})
      .num("render_s", render_s)
      .num("pdftoppm_s", ppm_s)
      .num("ratio", ppm_s > 0 ? render_s / ppm_s : -1.0)
      .num("first_page_all_profiles_s", first_page_us / 1e6);
  for (const auto &box : boxes) {
    std::vector<int64_t> bytes;
    int lossless = 0;
    for (auto &[n, page] : rendered)
      for (const auto &im : page.images)
        if (im.profile == box.profile) {
          bytes.push_back(im.bytes);
          lossless += im.encoding == "lossless";
        }
    std::sort(bytes.begin(), bytes.end());
    if (bytes.empty()) continue;
    w.raw(box.profile, JsonObjectWriter()
                           .num("median_bytes", bytes[bytes.size() / 2])
                           .num("max_bytes", bytes.back())
                           .num("lossless_pages", int64_t{lossless})
                           .finish());
  }
  printf("%s\n", w.finish().c_str());
  std::string rm = std::string("rm -rf '") + dir + "'";
  if (system(rm.c_str()) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return 0;
}
