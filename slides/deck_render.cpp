#include "deck_render.hpp"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>

#include <algorithm>
#include <set>

namespace gramothi {
namespace {

struct ChildLimits {
  rlim_t cpu_seconds, memory, file_size;
};

void apply_limits(gpointer data) {
  // In the child, between fork and exec: only async-signal-safe calls.
  auto *l = static_cast<ChildLimits *>(data);
  struct rlimit r;
  r.rlim_cur = r.rlim_max = l->cpu_seconds;
  setrlimit(RLIMIT_CPU, &r);
  r.rlim_cur = r.rlim_max = l->memory;
  setrlimit(RLIMIT_AS, &r);
  r.rlim_cur = r.rlim_max = l->file_size;
  setrlimit(RLIMIT_FSIZE, &r);
  r.rlim_cur = r.rlim_max = 0;
  setrlimit(RLIMIT_CORE, &r);
  r.rlim_cur = r.rlim_max = 64;
  setrlimit(RLIMIT_NOFILE, &r);
  // Below the server's own threads: a deck rendering must never make a live class stutter.
  setpriority(PRIO_PROCESS, 0, 10);
}

// The worker's output is trusted no more than the PDF it read: a string member or "", an
// integer member or `fallback`, whatever the line holds.
std::string text_member(JsonObject *o, const char *name) {
  JsonNode *n = json_object_get_member(o, name);
  if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) return "";
  return json_node_get_string(n);
}
int64_t int_member(JsonObject *o, const char *name, int64_t fallback) {
  JsonNode *n = json_object_get_member(o, name);
  if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
    return fallback;
  return json_node_get_int(n);
}

std::string seconds_text(int ms) {
  return std::to_string((ms + 999) / 1000) + " s";
}

}  // namespace

struct Worker {
  std::weak_ptr<DeckRender::Impl> owner;
  GSubprocess *proc = nullptr;
  GDataInputStream *out = nullptr;
  GCancellable *cancel = g_cancellable_new();
  std::vector<int> expected;  // its pages; empty until the page count is known (stride mode)
  int stride = 1, offset = 0;
  std::set<int> finished;  // rendered or reported failed by the worker itself
  int current = 0;         // the page it said it began
  guint timer = 0;
  std::string kill_reason;  // set when we stopped it

  ~Worker() {
    g_object_unref(cancel);
    if (out) g_object_unref(out);
    if (proc) g_object_unref(proc);
  }
  void stop(const std::string &why) {
    if (kill_reason.empty()) kill_reason = why;
    if (proc) g_subprocess_force_exit(proc);
  }
  // Kills the process and drops every pending callback (they hold references to this worker).
  void shutdown() {
    if (timer) g_source_remove(timer);
    timer = 0;
    g_cancellable_cancel(cancel);
    if (proc) g_subprocess_force_exit(proc);
  }
};

struct DeckRender::Impl : std::enable_shared_from_this<DeckRender::Impl> {
  std::string worker_path, pdf, out;
  std::vector<SlideBox> boxes;
  RenderLimits limits;
  Callbacks cb;
  int pages = -1;
  int rendered = 0;
  bool finished = false;
  std::set<int> resolved;
  std::vector<std::shared_ptr<Worker>> workers;
  guint deadline = 0;

  ~Impl() {
    if (deadline) g_source_remove(deadline);
  }

  void spawn(int stride, int offset, std::vector<int> pages_list);
  void read_next(const std::shared_ptr<Worker> &w);
  void on_line(const std::shared_ptr<Worker> &w, const char *line);
  void on_exit(const std::shared_ptr<Worker> &w);
  void arm_page_timer(const std::shared_ptr<Worker> &w);
  void resolve(int page) {
    resolved.insert(page);
    if (pages >= 0 && static_cast<int>(resolved.size()) >= pages) finish("", "");
  }
  void fail_page(int page, const std::string &why) {
    if (finished || resolved.count(page)) return;
    if (cb.page_failed) cb.page_failed(page, why);
    resolve(page);
  }
  void finish(const std::string &code, const std::string &message) {
    if (finished) return;
    finished = true;
    if (deadline) g_source_remove(deadline);
    deadline = 0;
    for (auto &w : workers)
      w->shutdown();
    auto done = std::move(cb.done);
    cb = {};
    if (done) done(code, message);
  }
};

namespace {

struct WorkerRef {
  std::shared_ptr<Worker> w;
};

}  // namespace

void DeckRender::Impl::spawn(int stride, int offset, std::vector<int> pages_list) {
  auto w = std::make_shared<Worker>();
  w->owner = weak_from_this();
  w->stride = stride;
  w->offset = offset;
  w->expected = pages_list;
  std::vector<std::string> args = {worker_path,
                                   "--pdf",
                                   pdf,
                                   "--out",
                                   out,
                                   "--max-pages",
                                   std::to_string(limits.max_pages),
                                   "--quality",
                                   std::to_string(limits.quality)};
  for (const auto &b : boxes)
    args.push_back("--box=" + b.profile + ":" + std::to_string(b.width) + "x" +
                   std::to_string(b.height));
  size_t assigned;
  if (pages_list.empty()) {
    args.insert(args.end(),
                {"--stride", std::to_string(stride), "--offset", std::to_string(offset)});
    assigned = static_cast<size_t>((limits.max_pages + stride - 1) / stride);
  } else {
    std::string list;
    for (int p : pages_list)
      list += (list.empty() ? "" : ",") + std::to_string(p);
    args.insert(args.end(), {"--pages", list});
    assigned = pages_list.size();
  }
  std::vector<const char *> argv;
  for (auto &a : args)
    argv.push_back(a.c_str());
  argv.push_back(nullptr);

  auto *child = new ChildLimits{
      static_cast<rlim_t>(10 + limits.cpu_seconds_per_page * static_cast<long>(assigned)),
      static_cast<rlim_t>(limits.memory_bytes), static_cast<rlim_t>(limits.max_image_bytes)};
  GSubprocessLauncher *launcher = g_subprocess_launcher_new(
      GSubprocessFlags(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE));
  g_subprocess_launcher_set_child_setup(launcher, apply_limits, child,
                                        [](gpointer d) { delete static_cast<ChildLimits *>(d); });
  GError *err = nullptr;
  w->proc = g_subprocess_launcher_spawnv(launcher, argv.data(), &err);
  g_object_unref(launcher);
  if (!w->proc) {
    std::string why = err ? err->message : "cannot start";
    g_clear_error(&err);
    finish("worker_failed", "The slide renderer cannot start: " + why);
    return;
  }
  w->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(w->proc));
  workers.push_back(w);
  arm_page_timer(w);
  read_next(w);
}

void DeckRender::Impl::arm_page_timer(const std::shared_ptr<Worker> &w) {
  if (w->timer) g_source_remove(w->timer);
  auto *ref = new WorkerRef{w};
  w->timer = g_timeout_add_full(
      G_PRIORITY_DEFAULT, static_cast<guint>(limits.page_timeout_ms),
      [](gpointer d) -> gboolean {
        auto &worker = static_cast<WorkerRef *>(d)->w;
        worker->timer = 0;
        if (auto impl = worker->owner.lock())
          worker->stop("took longer than " + seconds_text(impl->limits.page_timeout_ms));
        return G_SOURCE_REMOVE;
      },
      ref, [](gpointer d) { delete static_cast<WorkerRef *>(d); });
}

void DeckRender::Impl::read_next(const std::shared_ptr<Worker> &w) {
  g_data_input_stream_read_line_async(
      w->out, G_PRIORITY_DEFAULT, w->cancel,
      [](GObject *src, GAsyncResult *res, gpointer d) {
        std::unique_ptr<WorkerRef> ref(static_cast<WorkerRef *>(d));
        g_autofree char *line = g_data_input_stream_read_line_finish_utf8(G_DATA_INPUT_STREAM(src),
                                                                          res, nullptr, nullptr);
        auto impl = ref->w->owner.lock();
        if (!impl || impl->finished) return;
        if (!line) {
          // End of output: wait for the exit status to learn why.
          auto *again = new WorkerRef{ref->w};
          g_subprocess_wait_async(
              ref->w->proc, ref->w->cancel,
              [](GObject *, GAsyncResult *, gpointer d2) {
                std::unique_ptr<WorkerRef> r2(static_cast<WorkerRef *>(d2));
                if (auto i2 = r2->w->owner.lock()) i2->on_exit(r2->w);
              },
              again);
          return;
        }
        impl->on_line(ref->w, line);
        if (!impl->finished) impl->read_next(ref->w);
      },
      new WorkerRef{w});
}

void DeckRender::Impl::on_line(const std::shared_ptr<Worker> &w, const char *line) {
  g_autoptr(JsonParser) parser = json_parser_new();
  if (!json_parser_load_from_data(parser, line, -1, nullptr)) return;
  JsonNode *root = json_parser_get_root(parser);
  if (!JSON_NODE_HOLDS_OBJECT(root)) return;
  JsonObject *o = json_node_get_object(root);
  std::string type = text_member(o, "type");
  int64_t page64 = int_member(o, "page", 0);
  // Pages this worker was given, once the count is known; anything else is ignored.
  bool page_ok = page64 >= 1 && page64 <= pages &&
                 (w->expected.empty() ||
                  std::find(w->expected.begin(), w->expected.end(), page64) != w->expected.end());
  int page = page_ok ? static_cast<int>(page64) : 0;
  if (type != "document" && type != "error" && !page_ok) return;
  if (type == "document") {
    int64_t n64 = int_member(o, "pages", 0);
    if (n64 < 1 || n64 > limits.max_pages) {
      finish("damaged", "The slide renderer reported an impossible page count.");
      return;
    }
    int n = static_cast<int>(n64);
    if (pages >= 0 && n != pages) {
      finish("damaged", "The slide renderers disagree about the page count.");
      return;
    }
    if (w->expected.empty())
      for (int p = 1; p <= n; p++)
        if ((p - 1) % w->stride == w->offset) w->expected.push_back(p);
    if (pages < 0) {
      pages = n;
      if (cb.document) cb.document(n);
    }
  } else if (type == "begin") {
    w->current = page;
    arm_page_timer(w);
  } else if (type == "page") {
    w->finished.insert(page);
    arm_page_timer(w);
    if (resolved.count(page)) return;
    RenderedPage rp;
    rp.number = page;
    rp.text = text_member(o, "text");
    JsonNode *images_node = json_object_get_member(o, "images");
    JsonArray *images = images_node && JSON_NODE_HOLDS_ARRAY(images_node)
                            ? json_node_get_array(images_node)
                            : nullptr;
    for (guint i = 0; images && i < json_array_get_length(images); i++) {
      JsonNode *imn = json_array_get_element(images, i);
      if (!JSON_NODE_HOLDS_OBJECT(imn)) continue;
      JsonObject *im = json_node_get_object(imn);
      RenderedImage ri;
      ri.profile = text_member(im, "profile");
      ri.width = static_cast<int>(std::clamp<int64_t>(int_member(im, "width", 0), 0, 16384));
      ri.height = static_cast<int>(std::clamp<int64_t>(int_member(im, "height", 0), 0, 16384));
      ri.file = text_member(im, "file");
      ri.bytes = int_member(im, "bytes", 0);
      ri.encoding = text_member(im, "encoding");
      // Only images the worker could have made: "<64 hex>.webp" for a box we asked for.
      bool known = std::any_of(boxes.begin(), boxes.end(),
                               [&](const SlideBox &b) { return b.profile == ri.profile; });
      bool named = ri.file.size() == 69 && ri.file.compare(64, 5, ".webp") == 0 &&
                   std::all_of(ri.file.begin(), ri.file.begin() + 64,
                               [](char ch) { return g_ascii_isxdigit(ch); });
      if (known && named) rp.images.push_back(ri);
    }
    rendered++;
    if (cb.page) cb.page(rp);
    resolve(page);
  } else if (type == "page-error") {
    w->finished.insert(page);
    arm_page_timer(w);
    std::string why = text_member(o, "message");
    fail_page(page, why.empty() ? "page " + std::to_string(page) + " cannot be rendered" : why);
  } else if (type == "error") {
    static const char *kCodes[] = {"not_pdf", "encrypted", "damaged", "no_pages", "too_many_pages"};
    std::string code = text_member(o, "code"), message = text_member(o, "message");
    if (std::none_of(std::begin(kCodes), std::end(kCodes),
                     [&](const char *k) { return code == k; }))
      code = "damaged";
    finish(code, message.empty() ? "The PDF cannot be read." : message);
  }
}

void DeckRender::Impl::on_exit(const std::shared_ptr<Worker> &w) {
  if (w->timer) g_source_remove(w->timer);
  w->timer = 0;
  if (finished) return;
  std::string why = w->kill_reason;
  if (why.empty() && g_subprocess_get_if_signaled(w->proc)) {
    int sig = g_subprocess_get_term_sig(w->proc);
    if (sig == SIGXCPU || sig == SIGKILL)
      why = "used more CPU time than allowed";
    else if (sig == SIGXFSZ)
      why = "made an image larger than allowed";
    else
      why = "crashed or ran out of memory (signal " + std::to_string(sig) + ")";
  } else if (why.empty() && g_subprocess_get_exit_status(w->proc) != 0) {
    why = "stopped with status " + std::to_string(g_subprocess_get_exit_status(w->proc));
  }
  if (pages < 0) {
    // It died before it could even count the pages.
    finish("damaged", "The PDF cannot be opened: the renderer " +
                          (why.empty() ? std::string("stopped") : why) + ".");
    return;
  }
  if (w->expected.empty())  // a stride worker that died before it counted the pages itself
    for (int p = 1; p <= pages; p++)
      if ((p - 1) % w->stride == w->offset) w->expected.push_back(p);
  // A worker that died before beginning any page would die again the same way: its first
  // page is charged with it, so every respawn makes progress.
  if (!w->current)
    for (int p : w->expected)
      if (!w->finished.count(p) && !resolved.count(p)) {
        w->current = p;
        break;
      }
  std::vector<int> remaining;
  for (int p : w->expected)
    if (!w->finished.count(p) && !resolved.count(p) && p != w->current) remaining.push_back(p);
  if (w->current && !w->finished.count(w->current))
    fail_page(w->current, "page " + std::to_string(w->current) + ": the renderer " +
                              (why.empty() ? std::string("stopped") : why));
  std::erase(workers, w);
  if (finished) return;
  if (!remaining.empty()) spawn(1, 0, remaining);
}

std::unique_ptr<DeckRender> DeckRender::start(const std::string &worker_path,
                                              const std::string &pdf_path,
                                              const std::string &out_dir,
                                              std::vector<SlideBox> boxes, RenderLimits limits,
                                              Callbacks callbacks) {
  std::unique_ptr<DeckRender> d(new DeckRender());
  d->impl_ = std::make_shared<Impl>();
  Impl &im = *d->impl_;
  im.worker_path = worker_path;
  im.pdf = pdf_path;
  im.out = out_dir;
  im.boxes = std::move(boxes);
  im.limits = limits;
  im.cb = std::move(callbacks);
  std::weak_ptr<Impl> weak = d->impl_;
  auto *deadline_ref = new std::weak_ptr<Impl>(weak);
  im.deadline = g_timeout_add_full(
      G_PRIORITY_DEFAULT, static_cast<guint>(limits.deck_timeout_ms),
      [](gpointer p) -> gboolean {
        auto impl = static_cast<std::weak_ptr<Impl> *>(p)->lock();
        if (!impl) return G_SOURCE_REMOVE;
        impl->deadline = 0;
        std::string limit = seconds_text(impl->limits.deck_timeout_ms);
        std::string why = "not rendered: the deck took longer than " + limit;
        for (auto &w : impl->workers)
          w->stop(why);
        if (impl->pages < 0 || impl->rendered == 0) {
          impl->finish("timeout", "The deck took longer than " + limit + " to render.");
        } else {
          for (int p = 1; p <= impl->pages && !impl->finished; p++)
            impl->fail_page(p, "page " + std::to_string(p) + " " + why);
        }
        return G_SOURCE_REMOVE;
      },
      deadline_ref, [](gpointer p) { delete static_cast<std::weak_ptr<Impl> *>(p); });
  // Start from the main loop, so that no callback runs inside start().
  auto *start_ref = new std::weak_ptr<Impl>(weak);
  g_idle_add_full(
      G_PRIORITY_DEFAULT,
      [](gpointer p) -> gboolean {
        if (auto impl = static_cast<std::weak_ptr<Impl> *>(p)->lock()) {
          impl->spawn(2, 0, {});
          if (!impl->finished) impl->spawn(2, 1, {});
        }
        return G_SOURCE_REMOVE;
      },
      start_ref, [](gpointer p) { delete static_cast<std::weak_ptr<Impl> *>(p); });
  return d;
}

DeckRender::~DeckRender() {
  if (!impl_) return;
  impl_->finished = true;
  impl_->cb = {};
  for (auto &w : impl_->workers)
    w->shutdown();
  impl_->workers.clear();
}

}  // namespace gramothi
