// DeckRender: renders one uploaded PDF deck with gramothi-slide-worker processes, on the main
// loop, without ever parsing the PDF in the server. Two workers share the pages (odd and even),
// so both cores work and page 1 — every profile of it — comes first, letting a teacher start
// while the rest renders.
//
// Isolation: each worker runs under setrlimit (CPU seconds, address space, file size, no core
// dumps, few files) at nice 10, below the live audio, and the parent kills it when a page takes
// longer than the page timeout or the deck its deadline. A worker that dies on a page (a limit, a
// crash) costs that page only: the page is reported failed, with why, and a new worker goes on with
// the pages after it.
//
// Ownership: the caller owns the DeckRender; destroying it kills the workers and no callback
// runs afterwards. Callbacks run on the main loop, never inside start().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gramothi {

struct SlideBox {
  std::string profile;
  int width = 0, height = 0;
};

struct RenderLimits {
  int max_pages = 300;
  int cpu_seconds_per_page = 10;           // RLIMIT_CPU: this per page assigned, plus 10 s
  uint64_t memory_bytes = 1ull << 30;      // RLIMIT_AS per worker
  uint64_t max_image_bytes = 32ull << 20;  // RLIMIT_FSIZE
  int page_timeout_ms = 30000;             // wall clock without progress
  int deck_timeout_ms = 600000;            // wall clock for the whole deck
  int quality = 70;                        // lossy WebP quality
};

struct RenderedImage {
  std::string profile;
  int width = 0, height = 0;
  std::string file;  // "<sha256>.webp" in the output directory
  int64_t bytes = 0;
  std::string encoding;  // "lossless" or "lossy"
};

struct RenderedPage {
  int number = 0;  // 1-based
  std::string text;
  std::vector<RenderedImage> images;
};

class DeckRender {
 public:
  struct Callbacks {
    std::function<void(int pages)> document;             // the page count, once
    std::function<void(const RenderedPage &page)> page;  // a page with every profile's image
    std::function<void(int page, const std::string &why)> page_failed;
    // Last call. `code` empty: the deck is done (some pages may have failed). Otherwise the
    // whole deck failed: "not_pdf", "encrypted", "damaged", "no_pages", "too_many_pages",
    // "timeout", "worker_failed", with a sentence for people.
    std::function<void(const std::string &code, const std::string &message)> done;
  };

  static std::unique_ptr<DeckRender> start(const std::string &worker_path,
                                           const std::string &pdf_path, const std::string &out_dir,
                                           std::vector<SlideBox> boxes, RenderLimits limits,
                                           Callbacks callbacks);
  ~DeckRender();
  DeckRender(const DeckRender &) = delete;
  DeckRender &operator=(const DeckRender &) = delete;

  struct Impl;

 private:
  DeckRender() = default;
  std::shared_ptr<Impl> impl_;
};

}  // namespace gramothi
