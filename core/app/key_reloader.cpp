#include "app/key_reloader.hpp"

#include "base/log.hpp"

namespace gramothi {

Result<PublicKeys> provider_keys(const std::string &pem, const std::string &pem_kid,
                                 const std::string &jwks) {
  PublicKeys keys;
  if (!pem.empty()) {
    if (auto e = keys.add_pem(pem, pem_kid))
      return Error{ErrorKind::kInvalid, "config_invalid", "[auth] public_key_file: " + e->message};
  }
  if (!jwks.empty()) {
    if (auto e = keys.add_jwks(jwks))
      return Error{ErrorKind::kInvalid, "config_invalid", "[auth] jwks_file: " + e->message};
  }
  return keys;
}

KeyReloader::KeyReloader(JwtCodec &jwt, std::string pem_path, std::string pem_kid,
                         std::string jwks_path)
    : jwt_(jwt),
      pem_path_(std::move(pem_path)),
      pem_kid_(std::move(pem_kid)),
      jwks_path_(std::move(jwks_path)) {
  for (const std::string *path : {&pem_path_, &jwks_path_}) {
    if (path->empty()) continue;
    g_autoptr(GFile) file = g_file_new_for_path(path->c_str());
    g_autoptr(GError) err = nullptr;
    // WATCH_MOVES: a file replaced by rename (how careful tools write) is seen as such.
    GFileMonitor *m = g_file_monitor_file(file, G_FILE_MONITOR_WATCH_MOVES, nullptr, &err);
    if (!m) {
      log_message(
          LogLevel::kWarning, "auth",
          "cannot watch " + *path + " (" + err->message + "); send SIGHUP after changing it");
      continue;
    }
    g_signal_connect(m, "changed", G_CALLBACK(on_changed), this);
    monitors_.push_back(m);
  }
}

KeyReloader::~KeyReloader() {
  g_cancellable_cancel(cancellable_);
  for (GFileMonitor *m : monitors_) {
    g_signal_handlers_disconnect_by_data(m, this);
    g_file_monitor_cancel(m);
    g_object_unref(m);
  }
  if (settle_timer_) g_source_remove(settle_timer_);
  // A read still in flight holds its own reference to the cancellable and sees it cancelled.
  g_object_unref(cancellable_);
}

void KeyReloader::on_changed(GFileMonitor *, GFile *, GFile *, GFileMonitorEvent event,
                             gpointer self) {
  if (event == G_FILE_MONITOR_EVENT_ATTRIBUTE_CHANGED ||
      event == G_FILE_MONITOR_EVENT_PRE_UNMOUNT || event == G_FILE_MONITOR_EVENT_UNMOUNTED)
    return;
  // A write comes as several events: read once they have settled.
  auto *r = static_cast<KeyReloader *>(self);
  if (r->settle_timer_) g_source_remove(r->settle_timer_);
  r->settle_timer_ = g_timeout_add(200, on_settled, r);
}

gboolean KeyReloader::on_settled(gpointer self) {
  auto *r = static_cast<KeyReloader *>(self);
  r->settle_timer_ = 0;
  r->reload("a key file changed");
  return G_SOURCE_REMOVE;
}

void KeyReloader::reload(const std::string &why) {
  if (!watching()) {
    log_message(LogLevel::kInfo, "auth", why + ": no identity provider key files to read");
    return;
  }
  if (reading_) {  // read again once this read is done, so the last change is never missed
    again_ = true;
    again_why_ = why;
    return;
  }
  reading_ = true;
  why_ = why;
  pem_.clear();
  jwks_.clear();
  error_.clear();
  pending_.clear();
  if (!jwks_path_.empty()) pending_.push_back(jwks_path_);
  if (!pem_path_.empty()) pending_.push_back(pem_path_);
  read_next();
}

namespace {

struct ReadJob {
  KeyReloader *reloader;
  GCancellable *cancellable;  // ours: tells whether the reloader still exists
};

}  // namespace

void KeyReloader::read_next() {
  if (pending_.empty()) return finish();
  // First what the file is: only a regular file of at most 1 MiB is read (a FIFO would hold the
  // read for ever, /dev/zero would fill the memory).
  g_autoptr(GFile) file = g_file_new_for_path(pending_.back().c_str());
  auto *job = new ReadJob{this, G_CANCELLABLE(g_object_ref(cancellable_))};
  g_file_query_info_async(
      file, G_FILE_ATTRIBUTE_STANDARD_TYPE "," G_FILE_ATTRIBUTE_STANDARD_SIZE,
      G_FILE_QUERY_INFO_NONE, G_PRIORITY_DEFAULT, cancellable_,
      [](GObject *src, GAsyncResult *res, gpointer data) {
        auto *job = static_cast<ReadJob *>(data);
        g_autoptr(GError) err = nullptr;
        g_autoptr(GFileInfo) info = g_file_query_info_finish(G_FILE(src), res, &err);
        if (g_cancellable_is_cancelled(job->cancellable)) {
          g_object_unref(job->cancellable);
          delete job;
          return;
        }
        KeyReloader *r = job->reloader;
        std::string problem;
        if (!info)
          problem = "cannot read " + r->pending_.back() + ": " + err->message;
        else if (g_file_info_get_file_type(info) != G_FILE_TYPE_REGULAR)
          problem = r->pending_.back() + " is not a regular file";
        else if (g_file_info_get_size(info) > static_cast<goffset>(kMaxFileBytes))
          problem = r->pending_.back() + " is larger than 1 MiB";
        if (!problem.empty()) {
          g_object_unref(job->cancellable);
          delete job;
          if (r->error_.empty()) r->error_ = problem;
          r->pending_.pop_back();
          return r->read_next();
        }
        g_file_load_contents_async(G_FILE(src), job->reloader->cancellable_, on_loaded, job);
      },
      job);
}

void KeyReloader::on_loaded(GObject *src, GAsyncResult *res, gpointer data) {
  auto *job = static_cast<ReadJob *>(data);
  char *contents = nullptr;
  gsize len = 0;
  g_autoptr(GError) err = nullptr;
  bool ok = g_file_load_contents_finish(G_FILE(src), res, &contents, &len, nullptr, &err);
  bool gone = g_cancellable_is_cancelled(job->cancellable);
  KeyReloader *r = job->reloader;
  g_object_unref(job->cancellable);
  delete job;
  g_autofree char *owned = contents;
  if (gone) return;
  std::string path = r->pending_.back();
  r->pending_.pop_back();
  std::string text = ok && len <= kMaxFileBytes ? std::string(contents, len) : "";
  while (!text.empty() && g_ascii_isspace(text.back()))
    text.pop_back();
  if (!ok) {
    if (r->error_.empty()) r->error_ = "cannot read " + path + ": " + err->message;
  } else if (len > kMaxFileBytes) {
    if (r->error_.empty()) r->error_ = path + " is larger than 1 MiB";
  } else if (text.empty()) {
    // Truncated by a failed download: not "no keys", which would lock everyone out.
    if (r->error_.empty()) r->error_ = path + " is empty";
  } else {
    (path == r->jwks_path_ ? r->jwks_ : r->pem_) = text;
  }
  r->read_next();
}

void KeyReloader::finish() {
  if (error_.empty()) {
    auto keys = provider_keys(pem_.empty() ? "" : pem_ + "\n", pem_kid_, jwks_);
    if (!keys) {
      error_ = keys.error().message;
    } else if (keys->size() == 0) {
      error_ = "the files hold no signing key";
    } else {
      std::string described = keys->describe();
      jwt_.set_public_keys(std::move(*keys));
      log_message(LogLevel::kInfo, "auth",
                  "identity provider keys read again (" + why_ + "): " + described);
    }
  }
  if (!error_.empty())
    log_message(LogLevel::kWarning, "auth",
                "identity provider keys not changed (" + why_ + "): " + error_ +
                    "; the keys in use stay as they were");
  reading_ = false;
  if (again_) {
    again_ = false;
    reload(again_why_);
  }
}

}  // namespace gramothi
