#include "domain/slide_service.hpp"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <set>

#include "base/ids.hpp"
#include "base/json.hpp"
#include "base/log.hpp"
#include "base/main_loop.hpp"
#include "domain/class_registry.hpp"
#include "domain/pdf_upload.hpp"

namespace gramothi {
namespace {

constexpr const char *kImagePath = "/api/v1/streaming/slides/images/";

void log_slides(LogLevel level, const std::string &message) {
  log_message(level, "slides", message);
}

Error unavailable_storage(const std::string &why) {
  return Error{ErrorKind::kUnavailable, "storage_unavailable", "Storage is unavailable: " + why};
}

std::string deck_json(const DeckInfo &d) {
  JsonObjectWriter w;
  w.str("deck_id", d.deck_id)
      .str("class_id", d.class_id)
      .str("file_name", d.file_name)
      .num("bytes", d.source_bytes)
      .str("status", d.status)
      .boolean("active", d.active);
  if (d.page_count)
    w.num("pages_total", *d.page_count);
  else
    w.null("pages_total");
  w.num("pages_done", d.pages_done).num("pages_failed", d.pages_failed);
  if (d.error_code)
    w.raw("error", JsonObjectWriter()
                       .str("code", *d.error_code)
                       .str("message", d.error_message.value_or(""))
                       .finish());
  else
    w.null("error");
  return w.finish();
}

std::string slide_json(const SlideInfo &s) {
  JsonObjectWriter w;
  w.str("slide_id", s.slide_id)
      .num("order_no", s.order_no)
      .str("status", s.status)
      .str("text", s.text)
      .raw("images", s.images_json)
      .opt_str("error", s.error);
  return w.finish();
}

// The preview of a slide that profiles with slide_preview carry: a glimpse of the slide that a
// 2G link brings in under a second beside the audio, while the image takes many. Its box's
// name cannot be a profile's ('_' is not allowed in one).
constexpr const char *kPreviewBox = "_preview";
constexpr int kPreviewWidth = 160, kPreviewHeight = 120;
constexpr size_t kPreviewBytes = 1536;

// {"url","width","height","bytes","encoding"} of a rendered image, and "preview", the same of
// `preview`, when there is one.
std::string image_json(const RenderedImage &im, const RenderedImage *preview = nullptr) {
  JsonObjectWriter w;
  w.str("url", SlideService::image_url(im.file))
      .num("width", int64_t{im.width})
      .num("height", int64_t{im.height})
      .num("bytes", im.bytes)
      .str("encoding", im.encoding);
  if (preview) w.raw("preview", image_json(*preview));
  return w.finish();
}

bool valid_image_name(const std::string &f) {
  if (f.size() != 64 + 5 || f.compare(64, 5, ".webp") != 0) return false;
  for (size_t i = 0; i < 64; i++)
    if (!g_ascii_isxdigit(f[i]) || g_ascii_isupper(f[i])) return false;
  return true;
}

}  // namespace

struct SlideService::Impl : std::enable_shared_from_this<SlideService::Impl> {
  const ProfileSet &profiles;
  StorageWorker &worker;
  EventBus &bus;
  std::string worker_path, decks_dir, images_dir;
  RenderLimits limits;
  int64_t max_upload = 0;
  std::map<std::string, std::unique_ptr<DeckRender>> renders;
  // Decks wait here while another renders: one deck at a time keeps a core for live classes.
  std::deque<std::pair<DeckInfo, std::string>> waiting;
  struct Progress {
    std::string class_id;
    int64_t total = -1, done = 0, failed = 0;
  };
  std::map<std::string, Progress> progress;
  std::set<std::string> sandbox_notes;  // logged once per server

  Impl(const ProfileSet &p, StorageWorker &w, EventBus &b) : profiles(p), worker(w), bus(b) {}

  template <typename T>
  void run(std::function<Result<T>(SlideStore &)> op, std::function<void(Result<T>)> done) {
    auto result = std::make_shared<std::optional<Result<T>>>();
    worker.post(
        [result, op = std::move(op)](Database *db, const std::string &open_error) {
          if (!db) {
            result->emplace(unavailable_storage(open_error));
            return;
          }
          SlideStore store(*db);
          result->emplace(op(store));
        },
        [result, done = std::move(done)] {
          if (done) done(std::move(**result));
        });
  }

  void publish_progress(const std::string &deck_id, const std::string &status) {
    auto it = progress.find(deck_id);
    if (it == progress.end()) return;
    JsonObjectWriter w;
    w.str("class_id", it->second.class_id).str("deck_id", deck_id).str("status", status);
    if (it->second.total >= 0)
      w.num("pages_total", it->second.total);
    else
      w.null("pages_total");
    w.num("pages_done", it->second.done).num("pages_failed", it->second.failed);
    bus.publish("slides.progress", w.finish());
  }

  void publish_sync(const std::string &class_id, const std::string &action, const SlideMove &m) {
    bus.publish("slides.sync", JsonObjectWriter()
                                   .str("class_id", class_id)
                                   .str("action", action)
                                   .num("timestamp", now_ms())
                                   .raw("slide", slide_json(m.current))
                                   .raw("next", m.next ? slide_json(*m.next) : "null")
                                   .finish());
  }

  void start_render(const DeckInfo &deck, const std::string &pdf_path);
  void on_page(const std::string &deck_id, const RenderedPage &p);
  void on_page_failed(const std::string &deck_id, int page, const std::string &why);
  void on_done(const std::string &deck_id, const std::string &code, const std::string &message);
};

void SlideService::Impl::start_render(const DeckInfo &deck, const std::string &pdf_path) {
  if (!renders.empty()) {
    log_slides(LogLevel::kInfo, "deck " + deck.deck_id + " (" + deck.class_id +
                                    "): waits for the deck rendering now");
    waiting.emplace_back(deck, pdf_path);
    return;
  }
  std::vector<SlideBox> boxes;
  bool previews = false;
  for (const auto &p : profiles.all()) {
    boxes.push_back({p.name, p.slide_width, p.slide_height});
    previews = previews || p.slide_preview;
  }
  if (previews) boxes.push_back({kPreviewBox, kPreviewWidth, kPreviewHeight, kPreviewBytes});
  progress[deck.deck_id] = Progress{deck.class_id};
  std::weak_ptr<Impl> weak = weak_from_this();
  std::string id = deck.deck_id;
  DeckRender::Callbacks cb;
  cb.document = [weak, id](int n) {
    auto self = weak.lock();
    if (!self) return;
    self->progress[id].total = n;
    self->run<DeckInfo>([id, n](SlideStore &s) { return s.record_page_count(id, n); }, nullptr);
    self->publish_progress(id, "rendering");
  };
  cb.page = [weak, id](const RenderedPage &p) {
    if (auto self = weak.lock()) self->on_page(id, p);
  };
  cb.page_failed = [weak, id](int page, const std::string &why) {
    if (auto self = weak.lock()) self->on_page_failed(id, page, why);
  };
  cb.done = [weak, id](const std::string &code, const std::string &message) {
    if (auto self = weak.lock()) self->on_done(id, code, message);
  };
  cb.sandbox_note = [weak](const std::string &note) {
    auto self = weak.lock();
    if (self && self->sandbox_notes.insert(note).second) log_slides(LogLevel::kWarning, note);
  };
  renders[id] =
      DeckRender::start(worker_path, pdf_path, images_dir, std::move(boxes), limits, std::move(cb));
  log_slides(LogLevel::kInfo, "deck " + id + " (" + deck.class_id + "): rendering");
}

void SlideService::Impl::on_page(const std::string &deck_id, const RenderedPage &p) {
  SlideInfo s;
  s.deck_id = deck_id;
  s.order_no = p.number;
  s.slide_id = deck_id + "-" + std::to_string(p.number);
  s.status = "ready";
  s.text = p.text;
  // Each profile's image; with it, on profiles that show one, the preview, where it is less
  // than half the image (a simple diagram's lossless image can be smaller than any preview).
  auto preview = std::find_if(p.images.begin(), p.images.end(),
                              [](const RenderedImage &im) { return im.profile == kPreviewBox; });
  JsonObjectWriter images;
  for (const auto &im : p.images) {
    const BandwidthProfile *profile = profiles.find(im.profile);
    if (!profile) continue;
    bool with_preview =
        profile->slide_preview && preview != p.images.end() && preview->bytes * 2 < im.bytes;
    images.raw(im.profile, image_json(im, with_preview ? &*preview : nullptr));
  }
  s.images_json = images.finish();
  progress[deck_id].done++;
  std::string class_id = progress[deck_id].class_id;
  std::weak_ptr<Impl> weak = weak_from_this();
  run<bool>([s](SlideStore &st) { return st.add_slide(s); },
            [weak, class_id, s](Result<bool> became_current) {
              auto self = weak.lock();
              if (!self || !became_current.ok() || !*became_current) return;
              // Page 1 of the new deck is now on every screen.
              SlideMove m;
              m.changed = true;
              m.current = s;
              self->publish_sync(class_id, "goto", m);
            });
  publish_progress(deck_id, "rendering");
}

void SlideService::Impl::on_page_failed(const std::string &deck_id, int page,
                                        const std::string &why) {
  SlideInfo s;
  s.deck_id = deck_id;
  s.order_no = page;
  s.slide_id = deck_id + "-" + std::to_string(page);
  s.status = "failed";
  s.images_json = "{}";
  s.error = why;
  progress[deck_id].failed++;
  log_slides(LogLevel::kWarning, "deck " + deck_id + ": " + why);
  run<bool>([s](SlideStore &st) { return st.add_slide(s); }, nullptr);
  publish_progress(deck_id, "rendering");
}

void SlideService::Impl::on_done(const std::string &deck_id, const std::string &code,
                                 const std::string &message) {
  Progress p = progress[deck_id];
  std::string status = code.empty() && p.done > 0 ? "ready" : "failed";
  std::optional<std::string> err_code, err_message;
  if (!code.empty()) {
    err_code = code;
    err_message = message;
  } else if (p.done == 0) {
    err_code = "no_page_rendered";
    err_message = "No page of the deck could be rendered.";
  }
  run<DeckInfo>(
      [deck_id, status, err_code, err_message](SlideStore &s) {
        return s.finish_deck(deck_id, status, err_code, err_message);
      },
      nullptr);
  log_slides(status == "ready" ? LogLevel::kInfo : LogLevel::kWarning,
             "deck " + deck_id + ": " + status + " (" + std::to_string(p.done) + " pages, " +
                 std::to_string(p.failed) + " failed)" + (err_message ? ": " + *err_message : ""));
  publish_progress(deck_id, status);
  progress.erase(deck_id);
  // The DeckRender is inside its own callback: free it later.
  std::weak_ptr<Impl> weak = weak_from_this();
  run_later([weak, deck_id] {
    auto self = weak.lock();
    if (!self) return;
    self->renders.erase(deck_id);
    if (self->renders.empty() && !self->waiting.empty()) {
      auto [deck, path] = self->waiting.front();
      self->waiting.pop_front();
      self->start_render(deck, path);
    }
  });
}

SlideService::SlideService(const Config &config, const ProfileSet &profiles, StorageWorker &worker,
                           EventBus &bus)
    : impl_(std::make_shared<Impl>(profiles, worker, bus)) {
  impl_->worker_path = config.slide_worker.empty() ? default_slide_worker() : config.slide_worker;
  impl_->decks_dir = config.data_dir + "/slides/decks";
  impl_->images_dir = config.data_dir + "/slides/images";
  g_mkdir_with_parents(impl_->decks_dir.c_str(), 0700);
  g_mkdir_with_parents(impl_->images_dir.c_str(), 0700);
  impl_->max_upload = config.slides_max_upload_mb * 1024 * 1024;
  impl_->limits.max_pages = config.slides_max_pages;
  impl_->limits.page_timeout_ms = config.slides_page_timeout_s * 1000;
  impl_->limits.deck_timeout_ms = config.slides_deck_timeout_s * 1000;
  impl_->limits.memory_bytes = static_cast<uint64_t>(config.slides_memory_mb) << 20;
  impl_->limits.cpu_seconds_per_page = config.slides_cpu_seconds_per_page;
  // Checked when the configuration was loaded; "nobody" is 65534 where it is not listed.
  auto user = resolve_worker_user(config.slides_worker_user)
                  .value_or(std::pair<uint32_t, uint32_t>{65534u, 65534u});
  impl_->limits.sandbox.uid = user.first;
  impl_->limits.sandbox.gid = user.second;
  if (geteuid() == 0)
    log_slides(LogLevel::kInfo,
               "the server runs as root: slide workers run as uid " + std::to_string(user.first) +
                   ", gid " + std::to_string(user.second) + " (" + config.slides_worker_user + ")");
  // Decks a previous run left half rendered cannot finish: say so.
  impl_->run<int64_t>([](SlideStore &s) { return s.fail_unfinished(now_ms()); },
                      [](Result<int64_t> n) {
                        if (n.ok() && *n > 0)
                          log_slides(LogLevel::kWarning,
                                     std::to_string(*n) + " deck(s) were interrupted by a restart");
                      });
}

SlideService::~SlideService() = default;

std::string SlideService::image_url(const std::string &file) {
  return kImagePath + file;
}

void SlideService::upload(const TokenClaims &who, const std::string &class_id, GBytes *body,
                          const std::string &content_type, JsonCallback done) {
  auto later_error = [&](Error e) {
    // Answer on a later iteration, as every other path does.
    run_later([e, done = std::move(done)] { done(e); });
  };
  if (!valid_class_id(class_id))
    return later_error({ErrorKind::kInvalid, "invalid_field", "The class id is not valid."});
  if (static_cast<int64_t>(g_bytes_get_size(body)) > impl_->max_upload)
    return later_error(
        {ErrorKind::kTooLarge, "too_large",
         "The deck is larger than " + std::to_string(impl_->max_upload >> 20) + " MB."});
  auto pdf = extract_pdf(body, content_type);
  if (!pdf) return later_error(pdf.error());
  GBytes *bytes = pdf->first;
  std::string file_name = pdf->second;
  g_autofree char *rand = g_uuid_string_random();
  std::string deck_id = "d" + std::string(rand).substr(0, 8) + std::string(rand).substr(9, 4);
  int64_t size = static_cast<int64_t>(g_bytes_get_size(bytes));
  std::weak_ptr<Impl> weak = impl_;
  impl_->run<DeckInfo>(
      [=](SlideStore &s) {
        return s.create_deck(class_id, actor_for(who, class_id, false), deck_id, file_name, size,
                             now_ms());
      },
      [weak, bytes, done = std::move(done)](Result<DeckInfo> deck) mutable {
        auto self = weak.lock();
        if (!self || !deck) {
          g_bytes_unref(bytes);
          done(deck ? Error{ErrorKind::kUnavailable, "slides_unavailable",
                            "The server is shutting down."}
                    : deck.error());
          return;
        }
        // Write the PDF without blocking the loop, then answer and render.
        std::string path = self->decks_dir + "/" + deck->deck_id + ".pdf";
        GFile *file = g_file_new_for_path(path.c_str());
        struct Ctx {
          std::weak_ptr<Impl> weak;
          DeckInfo deck;
          std::string path;
          JsonCallback done;
        };
        auto *ctx = new Ctx{weak, *deck, path, std::move(done)};
        g_file_replace_contents_bytes_async(
            file, bytes, nullptr, FALSE, G_FILE_CREATE_PRIVATE, nullptr,
            [](GObject *src, GAsyncResult *res, gpointer d) {
              std::unique_ptr<Ctx> c(static_cast<Ctx *>(d));
              g_autoptr(GError) err = nullptr;
              bool ok = g_file_replace_contents_finish(G_FILE(src), res, nullptr, &err);
              auto s = c->weak.lock();
              if (!s) {
                c->done(Error{ErrorKind::kUnavailable, "slides_unavailable",
                              "The server is shutting down."});
                return;
              }
              if (!ok) {
                std::string why = err ? err->message : "cannot write";
                s->run<DeckInfo>(
                    [id = c->deck.deck_id, why](SlideStore &st) {
                      return st.finish_deck(id, "failed", "storage_error", why);
                    },
                    nullptr);
                c->done(
                    Error{ErrorKind::kInternal, "storage_error", "Cannot store the deck: " + why});
                return;
              }
              c->done(deck_json(c->deck));
              s->start_render(c->deck, c->path);
            },
            ctx);
        g_object_unref(file);
        g_bytes_unref(bytes);
      });
}

void SlideService::list(const std::string &class_id, JsonCallback done) {
  impl_->run<std::string>(
      [class_id](SlideStore &s) -> Result<std::string> {
        auto r = s.active_slides(class_id);
        if (!r) return r.error();
        std::string slides = "[";
        for (const auto &sl : r->slides)
          slides += (slides.size() > 1 ? "," : "") + slide_json(sl);
        slides += "]";
        return JsonObjectWriter()
            .str("class_id", class_id)
            .raw("deck", r->deck ? deck_json(*r->deck) : "null")
            .opt_str("current_slide_id", r->current_slide_id)
            .raw("slides", slides)
            .finish();
      },
      std::move(done));
}

void SlideService::sync(const TokenClaims &who, const std::string &class_id,
                        const std::string &action, const std::string &slide_id, int64_t order_no,
                        JsonCallback done) {
  if (action != "next" && action != "previous" && action != "goto") {
    run_later([done = std::move(done)] {
      done(Error{ErrorKind::kInvalid, "invalid_field",
                 "Field 'action' must be next, previous or goto."});
    });
    return;
  }
  std::optional<std::string> id;
  if (!slide_id.empty()) id = slide_id;
  std::optional<int64_t> order;
  if (order_no > 0) order = order_no;
  if (action == "goto" && !id && !order) {
    run_later([done = std::move(done)] {
      done(Error{ErrorKind::kInvalid, "missing_field", "goto needs 'slide_id' or 'order_no'."});
    });
    return;
  }
  std::weak_ptr<Impl> weak = impl_;
  impl_->run<SlideMove>(
      [=](SlideStore &s) {
        return s.move(class_id, actor_for(who, class_id, false), action, id, order);
      },
      [weak, class_id, action, done = std::move(done)](Result<SlideMove> m) {
        if (!m) return done(m.error());
        auto self = weak.lock();
        if (self && m->changed) self->publish_sync(class_id, action, *m);
        done(JsonObjectWriter()
                 .boolean("changed", m->changed)
                 .opt_str("reason",
                          m->reason.empty() ? std::nullopt : std::optional<std::string>(m->reason))
                 .str("action", action)
                 .raw("slide", slide_json(m->current))
                 .raw("next", m->next ? slide_json(*m->next) : "null")
                 .finish());
      });
}

void SlideService::image(const std::string &file, BytesCallback done) {
  if (!valid_image_name(file)) {
    run_later([done = std::move(done)] {
      done(Error{ErrorKind::kNotFound, "image_not_found", "No such image."});
    });
    return;
  }
  std::string path = impl_->images_dir + "/" + file;
  GFile *f = g_file_new_for_path(path.c_str());
  auto *cb = new BytesCallback(std::move(done));
  g_file_load_bytes_async(
      f, nullptr,
      [](GObject *src, GAsyncResult *res, gpointer d) {
        std::unique_ptr<BytesCallback> c(static_cast<BytesCallback *>(d));
        g_autoptr(GError) err = nullptr;
        GBytes *bytes = g_file_load_bytes_finish(G_FILE(src), res, nullptr, &err);
        if (!bytes) {
          (*c)(Error{ErrorKind::kNotFound, "image_not_found", "No such image."});
          return;
        }
        (*c)(bytes);
        g_bytes_unref(bytes);
      },
      cb);
  g_object_unref(f);
}

}  // namespace gramothi
