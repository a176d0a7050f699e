#include "deck_render.hpp"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <grp.h>
#include <json-glib/json-glib.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <set>

#include "base/json_depth.hpp"

namespace gramothi {
namespace {

// What the worker may send: a line (a page's text is at most 16 KiB, JSON-escaped) and, per
// image, RenderLimits::max_image_bytes.
constexpr size_t kMaxLineBytes = 1 << 20;
constexpr size_t kReadChunk = 64 * 1024;

// The parent's half of the sandbox, applied in the child between fork and exec.
struct ChildSetup {
  rlim_t cpu_seconds, memory;
  bool switch_user;  // the server is root
  uid_t uid;
  gid_t gid;
  int nice;  // absolute, from the server's own
  pid_t parent;
};

// A line to the parent over the worker's stdout, from the child before exec: no allocation,
// nothing that is not async-signal-safe.
void child_say(const char *head, long number, const char *tail) {
  char buf[256];
  size_t n = 0;
  for (const char *p = head; *p && n < 200; p++)
    buf[n++] = *p;
  char digits[24];
  size_t d = 0;
  unsigned long v = number < 0 ? 0 : static_cast<unsigned long>(number);
  do {
    digits[d++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v && d < sizeof digits);
  while (d)
    buf[n++] = digits[--d];
  for (const char *p = tail; *p && n < sizeof buf; p++)
    buf[n++] = *p;
  if (write(STDOUT_FILENO, buf, n) < 0) _exit(126);
}

void set_limit(int resource, rlim_t value) {
  struct rlimit r;
  r.rlim_cur = r.rlim_max = value;
  setrlimit(resource, &r);
}

void setup_child(gpointer data) {
  // In the child, between fork and exec: only async-signal-safe calls. GLib has already put
  // the PDF on fd 3, the pipe on stdout, /dev/null on stdin and stderr, and closed the rest.
  const auto *s = static_cast<const ChildSetup *>(data);
  setsid();  // no terminal, no signals meant for the server's process group
  // Not the server's folder (where ./data usually is): readlink("/proc/self/cwd") is allowed.
  if (chdir("/") != 0) _exit(126);
  // A network namespace of its own: only a loopback interface, and that down.
  bool own_net = unshare(CLONE_NEWNET) == 0;
  int net_errno = own_net ? 0 : errno;
  if (s->switch_user) {
    if (setgroups(0, nullptr) != 0 || setresgid(s->gid, s->gid, s->gid) != 0 ||
        setresuid(s->uid, s->uid, s->uid) != 0) {
      child_say(
          "{\"type\":\"error\",\"code\":\"worker_failed\",\"message\":\"The slide renderer "
          "cannot switch to uid ",
          static_cast<long>(s->uid), " (slides worker_user).\"}\n");
      _exit(126);
    }
  }
  // Without CAP_SYS_ADMIN, a user namespace (where the kernel allows them) makes one possible;
  // not for a root server: made as worker_user, it would give every process of that uid (other
  // daemons' nobody) CAP_SYS_PTRACE over the worker, undumpable or not. Seccomp still holds.
  if (!own_net && !s->switch_user && unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0) own_net = true;
  set_limit(RLIMIT_CPU, s->cpu_seconds);
  set_limit(RLIMIT_AS, s->memory);
  set_limit(RLIMIT_FSIZE, 0);  // it writes no file: its images go through the pipe
  signal(SIGXFSZ, SIG_IGN);    // ... and a library that tries gets EFBIG, not a dead worker
  set_limit(RLIMIT_CORE, 0);
  set_limit(RLIMIT_NOFILE, 64);
  // After the uid change: set before it, the kernel would refuse the exec (PF_NPROC_EXCEEDED).
  set_limit(RLIMIT_NPROC, 0);
  // Below the server's own threads: a deck rendering must never make a live class stutter.
  setpriority(PRIO_PROCESS, 0, s->nice);
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  // Last: changing credentials clears it. A server that dies takes its workers with it.
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (getppid() != s->parent) _exit(126);
  if (!own_net)
    child_say("{\"type\":\"sandbox\",\"missing\":\"netns\",\"errno\":", net_errno, "}\n");
}

// JSON-GLib recurses once per nesting level: a line of a few hundred kilobytes of "[[[[" (well
// within kMaxLineBytes) overflows the server's stack. The worker's lines nest three deep.
constexpr int kMaxLineDepth = 8;

uint32_t le32(const std::string &b, size_t at) {
  auto u = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(b[at + i])); };
  return u(0) | u(1) << 8 | u(2) << 16 | u(3) << 24;
}

// Whether `b` is what the worker makes: a simple-format WebP (RIFF, one "VP8 " or "VP8L" chunk,
// sizes that add up; no VP8X with animation, ICC, EXIF or XMP for browsers to parse) whose
// bitstream says it is `width` x `height`. Checks the framing only: the bitstream itself is
// the viewers' decoder's to trust.
bool is_simple_webp(const std::string &b, int width, int height) {
  if (b.size() < 30 || b.compare(0, 4, "RIFF") != 0 || b.compare(8, 4, "WEBP") != 0 ||
      le32(b, 4) != b.size() - 8)
    return false;
  uint64_t chunk = le32(b, 16);
  if (20 + chunk + (chunk & 1) != b.size()) return false;
  int w = 0, h = 0;
  if (b.compare(12, 4, "VP8 ") == 0) {
    // A key frame's tag (bit 0 clear), the start code, then 14-bit sizes without scaling.
    if ((b[20] & 1) != 0 || b.compare(23, 3, "\x9d\x01\x2a") != 0) return false;
    uint32_t sizes = le32(b, 26);
    if ((sizes & 0xc000c000u) != 0) return false;
    w = static_cast<int>(sizes & 0x3fff);
    h = static_cast<int>(sizes >> 16 & 0x3fff);
  } else if (b.compare(12, 4, "VP8L") == 0) {
    // The signature, then 14-bit width-1 and height-1, the alpha hint and a zero version.
    if (static_cast<uint8_t>(b[20]) != 0x2f) return false;
    uint32_t bits = le32(b, 21);
    if (bits >> 29 != 0) return false;
    w = static_cast<int>((bits & 0x3fff) + 1);
    h = static_cast<int>((bits >> 14 & 0x3fff) + 1);
  } else {
    return false;
  }
  return w == width && h == height;
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

// Words from the worker for people and logs: a page's text (its lines kept) or a message (one
// line). Valid UTF-8 (JSON-GLib lets "\ud800" through), no other control characters (a message
// with a newline would forge lines in the server's log), at most `most` bytes, cut at a
// character.
constexpr size_t kMaxTextBytes = 16 * 1024;  // the worker's own cut
constexpr size_t kMaxMessageBytes = 300;
std::string worker_words(const std::string &raw, size_t most, bool keep_lines) {
  g_autofree char *valid = g_utf8_make_valid(raw.data(), static_cast<gssize>(raw.size()));
  std::string out;
  for (const char *p = valid; *p; p = g_utf8_next_char(p)) {
    const char *next = g_utf8_next_char(p);
    if (out.size() + static_cast<size_t>(next - p) > most) break;
    gunichar c = g_utf8_get_char(p);
    if (keep_lines && (c == '\n' || c == '\t'))
      out += static_cast<char>(c);
    else if (g_unichar_iscntrl(c))
      out += ' ';
    else
      out.append(p, static_cast<size_t>(next - p));
  }
  return out;
}

std::string seconds_text(int ms) {
  return std::to_string((ms + 999) / 1000) + " s";
}

// A page's images on their way to the disk, on a GLib worker thread.
struct StoreJob {
  std::weak_ptr<DeckRender::Impl> owner;
  std::string dir;
  RenderedPage page;
  std::vector<std::string> bytes;  // per page.images
  uint64_t queued = 0;             // their sum
  std::function<void()> before_write;
  std::string error;
};

}  // namespace

struct Worker {
  std::weak_ptr<DeckRender::Impl> owner;
  GSubprocess *proc = nullptr;
  GInputStream *out = nullptr;  // its stdout
  GCancellable *cancel = g_cancellable_new();
  std::vector<int> expected;  // its pages; empty until the page count is known (stride mode)
  int stride = 1, offset = 0;
  std::set<int> finished;  // rendered or reported failed by the worker itself
  int current = 0;         // the page it said it began
  guint timer = 0;
  int64_t timer_due = 0;  // monotonic, µs
  // A page whose images wait for the writer: the worker is not read meanwhile (it blocks on
  // its full pipe), and its page timer stands still with this left.
  std::unique_ptr<StoreJob> waiting;
  int64_t timer_left = 0;
  std::string kill_reason;  // set when we stopped it

  std::string buffer;  // received, not yet taken apart
  // A page whose line has come and whose images' bytes are arriving.
  struct Incoming {
    RenderedPage page;
    bool keep = false;               // a page of ours, not resolved yet
    std::vector<bool> keep_image;    // for a profile we asked for, once
    std::vector<std::string> bytes;  // filled up to `sizes`
    std::vector<size_t> sizes;
    size_t index = 0;
  };
  std::optional<Incoming> incoming;
  bool deaf = false;  // it broke the protocol: read to the end, believe nothing

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
  void reject(const std::string &why) {
    deaf = true;
    buffer.clear();
    incoming.reset();
    stop("sent output the server does not accept (" + why + ")");
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
  std::set<std::string> noted;  // sandbox layers already reported missing
  uint64_t deck_bytes = 0;      // of the images kept so far, stored or on their way
  uint64_t queued_bytes = 0;    // handed to the writer, not yet written
  DeckRender::Stats stats;
  std::vector<std::shared_ptr<Worker>> workers;
  guint deadline = 0;

  ~Impl() {
    if (deadline) g_source_remove(deadline);
  }

  void spawn(int stride, int offset, std::vector<int> pages_list);
  void read_next(const std::shared_ptr<Worker> &w);
  void take_apart(const std::shared_ptr<Worker> &w);
  void on_line(const std::shared_ptr<Worker> &w, const std::string &line);
  void on_page_line(const std::shared_ptr<Worker> &w, JsonObject *o, bool page_ok, int page);
  void complete(const std::shared_ptr<Worker> &w, Worker::Incoming in);
  std::unique_ptr<StoreJob> keep(Worker::Incoming in);
  bool may_queue(const StoreJob &job) const {
    // A page larger than the bound goes alone.
    return queued_bytes == 0 || queued_bytes + job.queued <= limits.max_queued_bytes;
  }
  void to_writer(std::unique_ptr<StoreJob> job);
  void pause(const std::shared_ptr<Worker> &w, std::unique_ptr<StoreJob> job);
  void resume_waiting();
  void on_exit(const std::shared_ptr<Worker> &w);
  void arm_page_timer(const std::shared_ptr<Worker> &w, int64_t ms);
  void arm_page_timer(const std::shared_ptr<Worker> &w) {
    arm_page_timer(w, limits.page_timeout_ms);
  }
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

void store_in_thread(GTask *task, gpointer, gpointer data, GCancellable *) {
  auto *job = static_cast<StoreJob *>(data);
  if (job->before_write) job->before_write();
  for (size_t i = 0; i < job->bytes.size(); i++) {
    const std::string &b = job->bytes[i];
    g_autofree char *sum = g_compute_checksum_for_data(
        G_CHECKSUM_SHA256, reinterpret_cast<const guchar *>(b.data()), b.size());
    RenderedImage &im = job->page.images[i];
    im.file = std::string(sum) + ".webp";
    im.bytes = static_cast<int64_t>(b.size());
    std::string path = job->dir + "/" + im.file;
    if (g_file_test(path.c_str(), G_FILE_TEST_EXISTS)) continue;  // content-addressed
    g_autoptr(GError) err = nullptr;
    if (!g_file_set_contents_full(path.c_str(), b.data(), static_cast<gssize>(b.size()),
                                  G_FILE_SET_CONTENTS_CONSISTENT, 0644, &err)) {
      job->error = err->message;
      break;
    }
  }
  g_task_return_boolean(task, TRUE);
}

void on_stored(GObject *, GAsyncResult *result, gpointer) {
  auto *job = static_cast<StoreJob *>(g_task_get_task_data(G_TASK(result)));
  auto impl = job->owner.lock();
  if (!impl) return;
  impl->queued_bytes -= job->queued;
  int page = job->page.number;
  if (!impl->finished && !impl->resolved.count(page)) {
    if (!job->error.empty()) {
      impl->fail_page(
          page, "page " + std::to_string(page) + ": its images cannot be stored: " + job->error);
    } else {
      impl->rendered++;
      if (impl->cb.page) impl->cb.page(job->page);
      impl->resolve(page);
    }
  }
  if (!impl->finished) impl->resume_waiting();
}

}  // namespace

void DeckRender::Impl::spawn(int stride, int offset, std::vector<int> pages_list) {
  auto w = std::make_shared<Worker>();
  w->owner = weak_from_this();
  w->stride = stride;
  w->offset = offset;
  w->expected = pages_list;
  std::vector<std::string> args = {worker_path,
                                   "--pdf-fd",
                                   "3",
                                   "--max-pages",
                                   std::to_string(limits.max_pages),
                                   "--quality",
                                   std::to_string(limits.quality)};
  for (const auto &b : boxes)
    args.push_back((b.preview_bytes ? "--preview=" : "--box=") + b.profile + ":" +
                   std::to_string(b.width) + "x" + std::to_string(b.height) +
                   (b.preview_bytes ? ":" + std::to_string(b.preview_bytes) : ""));
  if (!limits.sandbox.test_misbehave.empty())
    args.push_back("--test-misbehave=" + limits.sandbox.test_misbehave);
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

  // The worker gets the PDF open, never its path.
  int pdf_fd = open(pdf.c_str(), O_RDONLY | O_CLOEXEC);
  if (pdf_fd < 0) {
    finish("worker_failed",
           std::string("The uploaded deck cannot be opened: ") + g_strerror(errno));
    return;
  }
  errno = 0;
  int own_nice = getpriority(PRIO_PROCESS, 0);
  if (errno) own_nice = 0;
  auto *child = new ChildSetup{
      static_cast<rlim_t>(10 + limits.cpu_seconds_per_page * static_cast<long>(assigned)),
      static_cast<rlim_t>(limits.memory_bytes),
      geteuid() == 0,
      static_cast<uid_t>(limits.sandbox.uid),
      static_cast<gid_t>(limits.sandbox.gid),
      std::clamp(own_nice + std::max(0, limits.sandbox.nice_delta), own_nice, 19),
      getpid()};
  GSubprocessLauncher *launcher = g_subprocess_launcher_new(
      GSubprocessFlags(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE));
  const char *no_environment[] = {nullptr};
  g_subprocess_launcher_set_environ(launcher, const_cast<char **>(no_environment));
  g_subprocess_launcher_take_fd(launcher, pdf_fd, 3);
  g_subprocess_launcher_set_child_setup(launcher, setup_child, child,
                                        [](gpointer d) { delete static_cast<ChildSetup *>(d); });
  GError *err = nullptr;
  w->proc = g_subprocess_launcher_spawnv(launcher, argv.data(), &err);
  g_object_unref(launcher);
  if (!w->proc) {
    std::string why = err ? err->message : "cannot start";
    g_clear_error(&err);
    finish("worker_failed", "The slide renderer cannot start: " + why);
    return;
  }
  w->out = G_INPUT_STREAM(g_object_ref(g_subprocess_get_stdout_pipe(w->proc)));
  workers.push_back(w);
  arm_page_timer(w);
  read_next(w);
}

void DeckRender::Impl::arm_page_timer(const std::shared_ptr<Worker> &w, int64_t ms) {
  if (w->timer) g_source_remove(w->timer);
  w->timer_due = g_get_monotonic_time() + ms * 1000;
  auto *ref = new WorkerRef{w};
  w->timer = g_timeout_add_full(
      G_PRIORITY_DEFAULT, static_cast<guint>(ms),
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
  g_input_stream_read_bytes_async(
      w->out, kReadChunk, G_PRIORITY_DEFAULT, w->cancel,
      [](GObject *src, GAsyncResult *res, gpointer d) {
        std::unique_ptr<WorkerRef> ref(static_cast<WorkerRef *>(d));
        g_autoptr(GBytes) bytes =
            g_input_stream_read_bytes_finish(G_INPUT_STREAM(src), res, nullptr);
        auto impl = ref->w->owner.lock();
        if (!impl || impl->finished) return;
        if (!bytes || g_bytes_get_size(bytes) == 0) {
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
        if (!ref->w->deaf) {
          gsize n = 0;
          const char *data = static_cast<const char *>(g_bytes_get_data(bytes, &n));
          ref->w->buffer.append(data, n);
          impl->take_apart(ref->w);
        }
        if (!impl->finished && !ref->w->waiting) impl->read_next(ref->w);
      },
      new WorkerRef{w});
}

// Lines and, after a page's line, its images' bytes, as far as they have arrived.
void DeckRender::Impl::take_apart(const std::shared_ptr<Worker> &w) {
  while (!finished && !w->deaf && !w->waiting) {
    if (w->incoming) {
      Worker::Incoming &in = *w->incoming;
      std::string &image = in.bytes[in.index];
      size_t take = std::min(in.sizes[in.index] - image.size(), w->buffer.size());
      image.append(w->buffer, 0, take);
      w->buffer.erase(0, take);
      if (image.size() < in.sizes[in.index]) return;  // more to come
      if (++in.index < in.sizes.size()) continue;
      Worker::Incoming whole = std::move(in);
      w->incoming.reset();
      complete(w, std::move(whole));
      continue;
    }
    size_t nl = w->buffer.find('\n');
    if (nl == std::string::npos) {
      if (w->buffer.size() > kMaxLineBytes) w->reject("a line longer than 1 MiB");
      return;
    }
    std::string line = w->buffer.substr(0, nl);
    w->buffer.erase(0, nl + 1);
    on_line(w, line);
  }
}

void DeckRender::Impl::on_line(const std::shared_ptr<Worker> &w, const std::string &line) {
  if (!json_depth_within(line, kMaxLineDepth)) {
    w->reject("JSON nested deeper than " + std::to_string(kMaxLineDepth) + " levels");
    return;
  }
  g_autoptr(JsonParser) parser = json_parser_new();
  if (!json_parser_load_from_data(parser, line.data(), static_cast<gssize>(line.size()), nullptr))
    return;
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) return;
  JsonObject *o = json_node_get_object(root);
  std::string type = text_member(o, "type");
  int64_t page64 = int_member(o, "page", 0);
  // Pages this worker was given, once the count is known; anything else is ignored.
  bool page_ok = page64 >= 1 && page64 <= pages &&
                 (w->expected.empty() ||
                  std::find(w->expected.begin(), w->expected.end(), page64) != w->expected.end());
  int page = page_ok ? static_cast<int>(page64) : 0;
  if (type == "page") {  // even for a page not ours: its images follow and must be read past
    on_page_line(w, o, page_ok, page);
    return;
  }
  if (type == "sandbox") {
    static const std::pair<const char *, const char *> kLayers[] = {
        {"netns",
         "slide workers share the server's network namespace (unshare: %s); seccomp "
         "still refuses them any socket"},
        {"landlock",
         "slide workers run without Landlock (%s): they can read every file their "
         "uid can; seccomp still refuses them writes, sockets and processes"}};
    std::string layer = text_member(o, "missing");
    for (const auto &[name, sentence] : kLayers)
      if (layer == name && noted.insert(layer).second && cb.sandbox_note) {
        int64_t e = int_member(o, "errno", 0);
        g_autofree char *note = g_strdup_printf(
            sentence, g_strerror(static_cast<int>(std::clamp<int64_t>(e, 0, 4095))));
        cb.sandbox_note(note);
      }
    return;
  }
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
  } else if (type == "page-error") {
    w->finished.insert(page);
    arm_page_timer(w);
    std::string why = worker_words(text_member(o, "message"), kMaxMessageBytes, false);
    fail_page(page, why.empty() ? "page " + std::to_string(page) + " cannot be rendered" : why);
  } else if (type == "error") {
    static const char *kCodes[] = {"not_pdf",  "encrypted",      "damaged",
                                   "no_pages", "too_many_pages", "worker_failed"};
    std::string code = text_member(o, "code");
    std::string message = worker_words(text_member(o, "message"), kMaxMessageBytes, false);
    if (std::none_of(std::begin(kCodes), std::end(kCodes),
                     [&](const char *k) { return code == k; }))
      code = "damaged";
    finish(code, message.empty() ? "The PDF cannot be read." : message);
  }
}

// {"type":"page",...,"images":[{"profile","width","height","bytes","encoding"}, ...]}, then the
// bytes. A list that does not say exactly how many bytes follow loses us the framing: the worker
// is stopped and its page fails.
void DeckRender::Impl::on_page_line(const std::shared_ptr<Worker> &w, JsonObject *o, bool page_ok,
                                    int page) {
  JsonNode *images_node = json_object_get_member(o, "images");
  JsonArray *images = images_node && JSON_NODE_HOLDS_ARRAY(images_node)
                          ? json_node_get_array(images_node)
                          : nullptr;
  if (!images || json_array_get_length(images) > boxes.size()) {
    w->reject("a page without a list of at most one image per profile");
    return;
  }
  if (page_ok && w->finished.count(page)) {
    w->reject("page " + std::to_string(page) + " twice");
    return;
  }
  Worker::Incoming in;
  in.keep = page_ok && !resolved.count(page);
  in.page.number = page;
  in.page.text = worker_words(text_member(o, "text"), kMaxTextBytes, true);
  std::set<std::string> seen;
  for (guint i = 0; i < json_array_get_length(images); i++) {
    JsonNode *imn = json_array_get_element(images, i);
    if (!JSON_NODE_HOLDS_OBJECT(imn)) {
      w->reject("an image that is not an object");
      return;
    }
    JsonObject *im = json_node_get_object(imn);
    RenderedImage ri;
    ri.profile = text_member(im, "profile");
    // Only images for a box we asked for, once each, and no larger than that box.
    auto box = std::find_if(boxes.begin(), boxes.end(),
                            [&](const SlideBox &b) { return b.profile == ri.profile; });
    uint64_t most = limits.max_image_bytes;
    if (box != boxes.end())
      most = std::min<uint64_t>(most, uint64_t{4} * box->width * box->height + 65536);
    int64_t size = int_member(im, "bytes", 0);
    if (size < 1 || static_cast<uint64_t>(size) > most) {
      w->reject("an image of " + std::to_string(size) + " bytes");
      return;
    }
    ri.width = static_cast<int>(std::clamp<int64_t>(int_member(im, "width", 0), 0, 16384));
    ri.height = static_cast<int>(std::clamp<int64_t>(int_member(im, "height", 0), 0, 16384));
    ri.encoding = text_member(im, "encoding") == "lossless" ? "lossless" : "lossy";
    bool fits = box != boxes.end() && ri.width >= 1 && ri.height >= 1 && ri.width <= box->width &&
                ri.height <= box->height;
    in.keep_image.push_back(fits && seen.insert(ri.profile).second);
    in.page.images.push_back(ri);
    in.sizes.push_back(static_cast<size_t>(size));
    in.bytes.emplace_back();
  }
  if (page_ok) arm_page_timer(w);
  if (in.sizes.empty())
    complete(w, std::move(in));
  else
    w->incoming = std::move(in);
}

// Every byte of a page has come: the worker is done with it (a worker that dies before is
// charged with it, as with any page it began).
void DeckRender::Impl::complete(const std::shared_ptr<Worker> &w, Worker::Incoming in) {
  if (in.page.number) w->finished.insert(in.page.number);
  std::unique_ptr<StoreJob> job = keep(std::move(in));
  if (!job) return;
  if (may_queue(*job))
    to_writer(std::move(job));
  else
    pause(w, std::move(job));
}

// The images of a page of ours that are WebP, within the deck's ceiling; nothing when the page
// is not ours or fails.
std::unique_ptr<StoreJob> DeckRender::Impl::keep(Worker::Incoming in) {
  if (!in.keep || finished) return nullptr;
  auto job = std::make_unique<StoreJob>();
  job->owner = weak_from_this();
  job->dir = out;
  job->before_write = limits.test_before_write;
  job->page.number = in.page.number;
  job->page.text = std::move(in.page.text);
  for (size_t i = 0; i < in.page.images.size(); i++)
    if (in.keep_image[i] &&
        is_simple_webp(in.bytes[i], in.page.images[i].width, in.page.images[i].height)) {
      job->queued += in.bytes[i].size();
      job->page.images.push_back(in.page.images[i]);
      job->bytes.push_back(std::move(in.bytes[i]));
    }
  if (deck_bytes + job->queued > limits.max_deck_bytes) {
    fail_page(in.page.number, "page " + std::to_string(in.page.number) +
                                  ": its images would take the deck over " +
                                  std::to_string(limits.max_deck_bytes >> 20) + " MiB");
    return nullptr;
  }
  deck_bytes += job->queued;
  return job;
}

// Names the images by their SHA-256 and writes them, off the main loop; then reports the page.
void DeckRender::Impl::to_writer(std::unique_ptr<StoreJob> job) {
  queued_bytes += job->queued;
  stats.peak_queued_bytes = std::max(stats.peak_queued_bytes, queued_bytes);
  GTask *task = g_task_new(nullptr, nullptr, on_stored, nullptr);
  g_task_set_task_data(task, job.release(), [](gpointer d) { delete static_cast<StoreJob *>(d); });
  g_task_run_in_thread(task, store_in_thread);
  g_object_unref(task);
}

// The writer is behind: the worker's page waits, and the worker with it. Time it spends blocked
// on its full pipe is the server's, not its page's: the page timer stands still.
void DeckRender::Impl::pause(const std::shared_ptr<Worker> &w, std::unique_ptr<StoreJob> job) {
  w->waiting = std::move(job);
  w->timer_left = 0;
  if (w->timer) {
    w->timer_left = std::max<int64_t>(1, (w->timer_due - g_get_monotonic_time()) / 1000);
    g_source_remove(w->timer);
    w->timer = 0;
  }
  stats.pauses++;
  stats.paused_workers++;
}

// The writer caught up: waiting pages go to it, in the workers' order, and their workers are
// read again.
void DeckRender::Impl::resume_waiting() {
  for (auto w : std::vector<std::shared_ptr<Worker>>(workers)) {
    if (finished) return;
    if (!w->waiting || !may_queue(*w->waiting)) continue;
    to_writer(std::move(w->waiting));
    stats.paused_workers--;
    if (w->timer_left) arm_page_timer(w, w->timer_left);
    take_apart(w);  // what was read after the page
    if (!finished && !w->waiting) read_next(w);
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
    else if (sig == SIGSYS)
      why = "was stopped by its sandbox (a forbidden system call)";
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
  // The worker starts in "/": a relative path must not depend on the server's folder.
  if (worker_path.find('/') != std::string::npos && !g_path_is_absolute(worker_path.c_str())) {
    g_autofree char *absolute = g_canonicalize_filename(worker_path.c_str(), nullptr);
    im.worker_path = absolute;
  } else {
    im.worker_path = worker_path;
  }
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

DeckRender::Stats DeckRender::stats() const {
  return impl_ ? impl_->stats : Stats{};
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
