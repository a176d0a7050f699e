// DeckRender: renders one uploaded PDF deck with gramothi-slide-worker processes, on the main
// loop, without ever parsing the PDF in the server. Two workers share the pages (odd and even),
// so both cores work and page 1 — every profile of it — comes first, letting a teacher start
// while the rest renders.
//
// Isolation (slides/README.md): each worker gets the PDF as an open file and hands its images
// back over its stdout pipe, so it needs no path and no write access; DeckRender checks and
// size-limits what it sends, names each image by its SHA-256 and stores it (off the main loop);
// while more than max_queued_bytes wait for the disk it stops reading, and the workers wait.
// Between fork and exec DeckRender gives it an empty environment, a new session, a network
// namespace of its own where the kernel allows, an unprivileged uid when the server is root,
// rlimits (CPU seconds, address space, no files written, no core dumps, few files, no
// processes), a nice value 10 above the server's, and no_new_privs; the worker makes itself
// undumpable and shuts itself in with Landlock and seccomp before it parses the PDF. The parent
// kills a worker when a page takes longer than the page timeout or the deck its deadline. A
// worker that dies on a page (a limit, a crash, a forbidden system call) costs that page only:
// the page is reported failed, with why, and a new worker goes on with the pages after it.
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
  // > 0: a preview, shown while a slow link brings the slide's real image: always lossy, at the
  // best quality that fits this many bytes (down to the lowest, which may not).
  size_t preview_bytes = 0;
};

// Who the workers run as, and how far below the server.
struct WorkerSandbox {
  uint32_t uid = 65534, gid = 65534;  // when the server runs as root (never 0); else its own
  int nice_delta = 10;                // the worker's nice value: the server's plus this, <= 19
  // Tests only (no configuration sets it): passed to the worker as --test-misbehave.
  std::string test_misbehave;
};

struct RenderLimits {
  int max_pages = 300;
  int cpu_seconds_per_page = 10;           // RLIMIT_CPU: this per page assigned, plus 10 s
  uint64_t memory_bytes = 1ull << 30;      // RLIMIT_AS per worker
  uint64_t max_image_bytes = 32ull << 20;  // a larger image from the worker fails its page
  // (and never more than 4 bytes a pixel of its box: libwebp's worst, noise at quality 100, is 3)
  uint64_t max_deck_bytes = 1ull << 30;  // all of a deck's images; a page beyond it fails
  // Images read but not yet on disk: a page that would go over waits (unless it is alone) and
  // its worker is not read meanwhile; the page timeout does not count that wait.
  uint64_t max_queued_bytes = 32ull << 20;
  int page_timeout_ms = 30000;   // wall clock without progress
  int deck_timeout_ms = 600000;  // wall clock for the whole deck
  int quality = 70;              // lossy WebP quality
  WorkerSandbox sandbox;
  // Tests only: runs on the writer thread before each page's images are written.
  std::function<void()> test_before_write;
};

struct RenderedImage {
  std::string profile;
  int width = 0, height = 0;
  std::string file;  // "<sha256>.webp" in the output directory, written by DeckRender
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
    // "timeout", "worker_failed" (it cannot start, or not sandboxed), with a sentence for people.
    std::function<void(const std::string &code, const std::string &message)> done;
    // A layer of the sandbox the kernel refused (no network namespace, no Landlock), with a
    // sentence for the log; the rest still applies. At most once per layer per DeckRender.
    std::function<void(const std::string &note)> sandbox_note;
  };

  static std::unique_ptr<DeckRender> start(const std::string &worker_path,
                                           const std::string &pdf_path, const std::string &out_dir,
                                           std::vector<SlideBox> boxes, RenderLimits limits,
                                           Callbacks callbacks);
  ~DeckRender();
  DeckRender(const DeckRender &) = delete;
  DeckRender &operator=(const DeckRender &) = delete;

  // How far reading got ahead of the disk.
  struct Stats {
    uint64_t peak_queued_bytes = 0;  // images read and kept but not yet written, at most
    int pauses = 0;                  // times a worker was left unread until the writer caught up
    int paused_workers = 0;          // left unread now
  };
  Stats stats() const;

  struct Impl;

 private:
  DeckRender() = default;
  std::shared_ptr<Impl> impl_;
};

}  // namespace gramothi
