#include "package.hpp"

#include <glib/gstdio.h>

#include <archive.h>
#include <archive_entry.h>

#include <cerrno>
#include <utility>
#include <vector>

#include "player_html.hpp"
#include "timeline.hpp"

namespace gramothi::recording {

namespace {

using Images = std::vector<std::pair<std::string, std::string>>;  // file name, bytes

// Writes the zip to `zip_path` (through a temporary file renamed over it). Returns "" or what
// went wrong.
std::string write_package(const std::string &zip_path, const std::string &audio_path,
                          const std::string &timeline_json, const Images &images) {
  std::string tmp = zip_path + ".tmp";
  struct archive *a = archive_write_new();
  archive_write_set_format_zip(a);
  std::string why;
  if (archive_write_open_filename(a, tmp.c_str()) != ARCHIVE_OK) why = archive_error_string(a);
  auto add = [&](const std::string &name, const std::string &data, bool store) {
    if (!why.empty()) return;
    // Audio and WebP are compressed already: stored as they are; text is deflated.
    if (store)
      archive_write_zip_set_compression_store(a);
    else
      archive_write_zip_set_compression_deflate(a);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, g_get_real_time() / G_USEC_PER_SEC, 0);
    if (archive_write_header(a, e) != ARCHIVE_OK ||
        archive_write_data(a, data.data(), data.size()) < 0)
      why = archive_error_string(a) ? archive_error_string(a) : "cannot write " + name;
    archive_entry_free(e);
  };
  add("index.html", player_page(timeline_json), false);
  add("timeline.json", timeline_json, false);
  add("audio.ogg", read_text(audio_path), true);
  for (const auto &[name, bytes] : images)
    add("slides/" + name, bytes, true);
  if (archive_write_close(a) != ARCHIVE_OK && why.empty()) why = archive_error_string(a);
  archive_write_free(a);
  if (why.empty() && g_rename(tmp.c_str(), zip_path.c_str()) != 0) why = g_strerror(errno);
  if (!why.empty()) g_unlink(tmp.c_str());
  return why;
}

}  // namespace

// One package being made: shared by the steps, each on the reader or the main loop.
struct LecturePackages::Making {
  Recording recording;  // a copy: the index may change meanwhile
  std::string folder, profile, zip_path;
  Done done;
  std::string zip;  // the bytes, once read or made
  PlayerTimeline timeline;
  Images images;
  size_t images_pending = 0;
  std::string error;
};

LecturePackages::LecturePackages(HostLink host, FileWorker *reader)
    : host_(host), reader_(reader) {}

void LecturePackages::get(const Recording &r, const std::string &folder, const std::string &profile,
                          Done done) {
  auto m = std::make_shared<Making>();
  m->recording = r;
  m->folder = folder;
  m->profile = profile;
  m->zip_path = folder + "/package-" + profile + ".zip";
  m->done = std::move(done);
  reader_->run(
      [m] {
        m->zip = read_text(m->zip_path);
        if (m->zip.empty())
          m->timeline = player_timeline(m->recording, read_text(m->folder + "/timeline.jsonl"),
                                        m->profile, "slides/");
      },
      while_alive(weak_from_this(), [m](LecturePackages &self) { self.on_read(m); }));
}

// From the cache, or: each slide image from the slide store, then pack.
void LecturePackages::on_read(std::shared_ptr<Making> m) {
  if (!m->zip.empty()) return m->done(m->zip, "");
  m->images_pending = m->timeline.images.size();
  if (m->images_pending == 0) return pack(m);
  for (const auto &name : m->timeline.images) {
    auto on_image = [m, name](LecturePackages &self, const GramothiError *error,
                              const uint8_t *data, size_t len) {
      if (!error && data)
        m->images.emplace_back(name, std::string(reinterpret_cast<const char *>(data), len));
      if (--m->images_pending == 0) self.pack(m);
    };
    host_.api->slides_image(host_.ctx, name.c_str(), OnBytes::call,
                            OnBytes::wrap(while_alive(weak_from_this(), on_image)));
  }
}

void LecturePackages::pack(std::shared_ptr<Making> m) {
  reader_->run(
      [m] {
        m->error =
            write_package(m->zip_path, m->folder + "/audio.ogg", m->timeline.json, m->images);
        if (m->error.empty()) m->zip = read_text(m->zip_path);
      },
      [m] { m->done(m->zip, m->error); });
}

}  // namespace gramothi::recording
