// The recording plugin: records each live class (by default, or when the teacher asks) as
// Ogg/Opus at a speech bitrate, with a timeline of slide changes and chat, so students who
// missed the class can catch up: online at /recordings/{recording_id}, or offline from the
// lecture package, a zip with its own player.
//
// Options, group [plugin.recording]:
//   record_by_default  true|false  record every class from start to stop (teachers may turn it
//                                  off or on for their class: POST /api/v1/recordings/{class_id});
//                                  default true
//   bitrate_kbps       6..128      Ogg/Opus bitrate; default 24 (about 11 MB an hour)
//   dir                path        one folder per recording; default DATA_DIR/recordings
//   link_ttl_s         60..86400   how long a ticketed audio or package link works (POST
//                                  /api/v1/recordings/{id}/links); default 3600
//
// Example:
//   [plugins]
//   load = rest;signaling;recording
//
//   [plugin.recording]
//   record_by_default = true
//   bitrate_kbps = 24
//   dir = /srv/gramothi/recordings
//
// The parts, each owned by the one RecordingPlugin created in init and deleted in shutdown:
//   index.hpp    the recordings by id; recording.json per folder; the start-up scan
//   writer.hpp   recordings in progress: start, timeline, stop, "recording.state" news
//   routes.hpp   the HTTP routes (access.hpp: who may see what)
//   package.hpp  the lecture package (zip) and its cache
//   worker.hpp   the two file threads: writes (in order) and reads/packing
// Everything but file work runs on the main loop; host.hpp says how callbacks reach live
// objects only.
#include <glib.h>

#include <cerrno>
#include <memory>
#include <string>

#include "gramothi/plugin.h"
#include "host.hpp"
#include "index.hpp"
#include "package.hpp"
#include "routes.hpp"
#include "worker.hpp"
#include "writer.hpp"

namespace gramothi::recording {
namespace {

// [plugin.recording], checked at init.
struct Settings {
  bool record_by_default = true;
  int bitrate_kbps = 24;
  int64_t link_ttl_s = 3600;
  std::string dir;
};

// Reads the settings; false after writing what is wrong into `error`.
bool read_settings(const HostLink &host, Settings *s, char *error, size_t error_size) {
  if (const char *v = host.api->config_get(host.ctx, "record_by_default")) {
    if (g_strcmp0(v, "true") != 0 && g_strcmp0(v, "false") != 0) {
      g_snprintf(error, error_size,
                 "[plugin.recording] record_by_default: '%s' is not true or false", v);
      return false;
    }
    s->record_by_default = g_strcmp0(v, "true") == 0;
  }
  if (const char *v = host.api->config_get(host.ctx, "bitrate_kbps")) {
    gint64 n = 0;
    if (!g_ascii_string_to_signed(v, 10, 6, 128, &n, nullptr)) {
      g_snprintf(error, error_size,
                 "[plugin.recording] bitrate_kbps: '%s' is not a whole number from 6 to 128", v);
      return false;
    }
    s->bitrate_kbps = static_cast<int>(n);
  }
  if (const char *v = host.api->config_get(host.ctx, "link_ttl_s")) {
    gint64 n = 0;
    if (!g_ascii_string_to_signed(v, 10, 60, 86400, &n, nullptr)) {
      g_snprintf(error, error_size,
                 "[plugin.recording] link_ttl_s: '%s' is not a whole number from 60 to 86400", v);
      return false;
    }
    s->link_ttl_s = n;
  }
  const char *dir = host.api->config_get(host.ctx, "dir");
  s->dir = dir && *dir ? dir : std::string(host.api->data_dir(host.ctx)) + "/recordings";
  return true;
}

// The plugin's state between init and shutdown: the sole owner of every part. The parts that
// are called back later are held by shared_ptr so callbacks can hold weak_ptrs to them; only
// this object holds them strongly.
struct RecordingPlugin {
  RecordingPlugin(const HostLink &host, const Settings &s)
      : writer(std::make_unique<FileWorker>()),
        reader(std::make_unique<FileWorker>()),
        index(std::make_shared<RecordingIndex>(host, s.dir, writer.get())),
        recorder(std::make_shared<ClassRecorder>(host, index.get(), writer.get(),
                                                 s.record_by_default, s.bitrate_kbps)),
        packages(std::make_shared<LecturePackages>(host, reader.get())),
        routes(std::make_shared<RecordingRoutes>(host, index.get(), recorder.get(), packages.get(),
                                                 reader.get(), s.link_ttl_s)) {}

  ~RecordingPlugin() {
    // Finish the queued file work, then drop what it would have reported to the main loop.
    reader.reset();
    writer.reset();
  }

  std::unique_ptr<FileWorker> writer;  // folders, recording.json, the timeline, the scan
  std::unique_ptr<FileWorker> reader;  // audio reads and packages, apart from the writes
  std::shared_ptr<RecordingIndex> index;
  std::shared_ptr<ClassRecorder> recorder;
  std::shared_ptr<LecturePackages> packages;
  std::shared_ptr<RecordingRoutes> routes;
};

int32_t recording_init(const GramothiHost *api, GramothiPluginContext *ctx, void **state,
                       char *error, size_t error_size) {
  if (!GRAMOTHI_HOST_HAS(api, auth_verify_ticket)) {
    g_strlcpy(error, "the host is older than plugin ABI 1.6 (no class grants or tickets)",
              error_size);
    return GRAMOTHI_E_INVALID;
  }
  HostLink host{api, ctx};
  Settings settings;
  if (!read_settings(host, &settings, error, error_size)) return GRAMOTHI_E_INVALID;
  if (g_mkdir_with_parents(settings.dir.c_str(), 0750) != 0)
    host.log(GRAMOTHI_LOG_WARNING, "cannot create " + settings.dir + ": " + g_strerror(errno) +
                                       "; recordings will fail until it exists");
  auto plugin = std::make_unique<RecordingPlugin>(host, settings);
  plugin->index->load();
  if (int32_t status = plugin->routes->add_routes(error, error_size); status != GRAMOTHI_OK)
    return status;
  plugin->recorder->subscribe();
  *state = plugin.release();
  return GRAMOTHI_OK;
}

void recording_shutdown(void *state) {
  delete static_cast<RecordingPlugin *>(state);
}

const GramothiPluginDescriptor kDescriptor = {
    .abi_major = GRAMOTHI_PLUGIN_ABI_MAJOR,
    .abi_minor = GRAMOTHI_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(GramothiPluginDescriptor),
    .reserved = 0,
    .name = "recording",
    .version = "0.1.0",
    .description = "Records classes (Ogg/Opus and a timeline of slides and chat)",
    .init = recording_init,
    .shutdown = recording_shutdown,
};

}  // namespace
}  // namespace gramothi::recording

extern "C" GRAMOTHI_PLUGIN_EXPORT const GramothiPluginDescriptor *gramothi_plugin_describe(void) {
  return &gramothi::recording::kDescriptor;
}
