// Lecture package size: an hour of class with a 30-slide deck, packaged at ultra-low by the real
// server. Prints one JSON line.
//
//   recording_bench --pdf DECK --speech WAV [--minutes 60] [--slides 30] [--chats 120]
//
// 1. The real server renders the deck (upload over REST) and lists its slides.
// 2. An hour of speech (the WAV looped) is encoded offline by the server's own [recording]
//    fragment from pipelines/media.ini at the default 24 kbit/s: the same encoder a live
//    recording uses, only faster than real time.
// 3. A recording folder for that hour is written as the recording plugin writes one: the audio,
//    a timeline with the slides shown one after another across the hour, and chat.
// 4. The server starts again (the plugin indexes the folder) and the package is downloaded from
//    GET /api/v1/recordings/{id}/package?profile=ultra-low.
// Run it through bench/run-recording.
#include <gst/app/gstappsrc.h>
#include <sys/stat.h>
#include <gst/gst.h>

#include <cstdio>
#include <fstream>

#include "../tests/http/server_process.hpp"
#include "../tests/media/decode_file.hpp"
#include "base/json.hpp"
#include "config/profiles.hpp"
#include "media/media_pipelines.hpp"

using namespace gramothi;

namespace {

const std::string kSecret = "recording-bench-secret-0123456789abcdef";

// `minutes` of the speech, looped, through `encoder` into `out`. Returns the encoding seconds.
double encode_hour(const std::vector<int16_t> &speech, int minutes, const std::string &encoder,
                   const std::string &out) {
  std::string desc =
      "appsrc name=src format=time caps=audio/x-raw,format=S16LE,channels=1,"
      "rate=48000,layout=interleaved ! " +
      encoder + " ! filesink location=\"" + out + "\"";
  g_autoptr(GError) err = nullptr;
  GstElement *p = gst_parse_launch(desc.c_str(), &err);
  if (!p) {
    fprintf(stderr, "encoder: %s\n", err->message);
    return -1;
  }
  GstElement *src = gst_bin_get_by_name(GST_BIN(p), "src");
  gst_element_set_state(p, GST_STATE_PLAYING);
  int64_t t0 = g_get_monotonic_time();
  const size_t chunk = 48000;  // one second
  uint64_t total = uint64_t(minutes) * 60 * 48000, done = 0;
  size_t at = 0;
  while (done < total) {
    size_t n = std::min<uint64_t>(chunk, total - done);
    GstBuffer *b = gst_buffer_new_allocate(nullptr, n * 2, nullptr);
    GstMapInfo m;
    gst_buffer_map(b, &m, GST_MAP_WRITE);
    auto *dst = reinterpret_cast<int16_t *>(m.data);
    for (size_t i = 0; i < n; i++, at = (at + 1) % speech.size())
      dst[i] = speech[at];
    gst_buffer_unmap(b, &m);
    GST_BUFFER_PTS(b) = gst_util_uint64_scale(done, GST_SECOND, 48000);
    GST_BUFFER_DURATION(b) = gst_util_uint64_scale(n, GST_SECOND, 48000);
    gst_app_src_push_buffer(GST_APP_SRC(src), b);
    done += n;
  }
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  GstBus *bus = gst_element_get_bus(p);
  GstMessage *msg = gst_bus_timed_pop_filtered(bus, GST_CLOCK_TIME_NONE,
                                               GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  double secs = (g_get_monotonic_time() - t0) / 1e6;
  if (msg) gst_message_unref(msg);
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(p);
  return secs;
}

JsonNode *parse(const std::string &text, JsonParser *p) {
  return json_parser_load_from_data(p, text.c_str(), -1, nullptr) ? json_parser_get_root(p)
                                                                  : nullptr;
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  std::string pdf, speech_wav;
  int minutes = 60, slide_count = 30, chats = 120;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--pdf") pdf = argv[i + 1];
    if (a == "--speech") speech_wav = argv[i + 1];
    if (a == "--minutes") minutes = atoi(argv[i + 1]);
    if (a == "--slides") slide_count = atoi(argv[i + 1]);
    if (a == "--chats") chats = atoi(argv[i + 1]);
  }
  if (pdf.empty() || speech_wav.empty()) {
    fprintf(stderr,
            "usage: recording_bench --pdf DECK --speech WAV [--minutes 60] [--slides 30]\n");
    return 2;
  }
  const char *root = g_getenv("GRAMOTHI_SOURCE_ROOT");
  g_autofree char *d = g_dir_make_tmp("gramothi-recbench-XXXXXX", nullptr);
  std::string dir = d;
  std::string config = "[server]\nlisten_address=127.0.0.1\nport=0\n[storage]\ndata_dir=" + dir +
                       "/data\n[auth]\njwt_secret=" + kSecret +
                       "\n[media]\nice_addresses=127.0.0.1\n[plugins]\nload=rest;signaling;"
                       "recording\ndir=" +
                       g_getenv("GRAMOTHI_PLUGIN_DIR") + "\n";
  std::string config_path = dir + "/gramothi.ini";
  g_file_set_contents(config_path.c_str(), config.c_str(), -1, nullptr);
  std::string admin = test_token(kSecret, "admin-1", Role::kAdmin);

  // 1. The deck, rendered by the real server.
  auto server = std::make_unique<ServerProcess>();
  server->start(config_path, dir + "/server.log", "info");
  HttpClient http(server->base());
  g_autofree char *deck = nullptr;
  gsize deck_len = 0;
  if (!g_file_get_contents(pdf.c_str(), &deck, &deck_len, nullptr)) {
    fprintf(stderr, "cannot read %s\n", pdf.c_str());
    return 1;
  }
  std::string body(deck, deck_len);
  http.post("/api/v1/streaming/slides/bench-class", admin, body, "application/pdf");
  std::string listing;
  for (int i = 0; i < 600; i++) {
    listing = http.get("/api/v1/streaming/slides/bench-class", admin).body;
    if (listing.find("\"status\":\"rendering\"") == std::string::npos &&
        listing.find("\"deck\":{") != std::string::npos)
      break;
    g_usleep(100000);
  }
  server->stop();
  g_autoptr(JsonParser) lp = json_parser_new();
  JsonNode *lroot = parse(listing, lp);
  JsonArray *slides =
      lroot ? json_object_get_array_member(json_node_get_object(lroot), "slides") : nullptr;
  if (!slides || json_array_get_length(slides) < static_cast<guint>(slide_count)) {
    fprintf(stderr, "the deck has fewer than %d slides: %s\n", slide_count, listing.c_str());
    return 1;
  }

  // 2. An hour of speech through the server's recording encoder.
  auto profiles = ProfileSet::load(std::string(root) + "/pipelines/profiles.ini");
  auto pipes = MediaPipelines::load(std::string(root) + "/pipelines/media.ini", *profiles);
  if (!pipes) {
    fprintf(stderr, "%s\n", pipes.error().message.c_str());
    return 1;
  }
  auto speech = decode_file(speech_wav, "wavparse");
  if (speech.empty()) return 1;
  std::string rid = "0123456789abcdef0123456789abcdef";
  std::string rdir = dir + "/data/recordings/" + rid;
  g_mkdir_with_parents(rdir.c_str(), 0750);
  double encode_s = encode_hour(speech, minutes, pipes->recorder(24000), rdir + "/audio.ogg");

  // 3. The recording's folder, as the plugin writes it.
  int64_t t0 = g_get_real_time() / 1000 - int64_t(minutes) * 60000;
  int64_t hour_ms = int64_t(minutes) * 60000;
  std::string timeline;
  for (int i = 0; i < slide_count; i++) {
    JsonNode *s = json_array_get_element(slides, static_cast<guint>(i));
    g_autofree char *text = json_to_string(s, FALSE);
    timeline += "{\"t_ms\":" + std::to_string(hour_ms * i / slide_count) +
                ",\"type\":\"slide\",\"action\":\"next\",\"slide\":" + text + "}\n";
  }
  for (int i = 0; i < chats; i++)
    timeline +=
        "{\"t_ms\":" + std::to_string(hour_ms * i / chats + 1234) +
        ",\"type\":\"chat\",\"message\":{\"message_id\":\"m" + std::to_string(i) +
        "\",\"user_id\":\"student-" + std::to_string(i % 25) +
        "\",\"role\":\"student\",\"text\":\"Sir, could you repeat the part about "
        "chlorophyll and light?\",\"sent_at\":\"2026-11-25T10:00:00.000Z\",\"sent_at_ms\":" +
        std::to_string(t0 + hour_ms * i / chats) + "}}\n";
  g_file_set_contents((rdir + "/timeline.jsonl").c_str(), timeline.c_str(), -1, nullptr);
  std::string meta = JsonObjectWriter()
                         .str("recording_id", rid)
                         .str("class_id", "bench-class")
                         .str("state", "complete")
                         .num("started_at_ms", t0)
                         .num("ended_at_ms", t0 + hour_ms)
                         .num("duration_ms", hour_ms)
                         .num("bitrate_kbps", int64_t{24})
                         .finish();
  g_file_set_contents((rdir + "/recording.json").c_str(), meta.c_str(), -1, nullptr);

  // 4. The package, from the real server.
  server = std::make_unique<ServerProcess>();
  server->start(config_path, dir + "/server2.log", "info");
  HttpClient http2(server->base());
  HttpResponse pkg;
  int64_t p0 = g_get_monotonic_time();
  for (int i = 0; i < 50; i++) {  // the index loads just after the start
    pkg = http2.get("/api/v1/recordings/" + rid + "/package?profile=ultra-low", admin);
    if (pkg.status != 404) break;
    g_usleep(100000);
  }
  double pack_s = (g_get_monotonic_time() - p0) / 1e6;
  server->stop();
  struct stat st {};
  stat((rdir + "/audio.ogg").c_str(), &st);
  int64_t audio_bytes = st.st_size;
  printf("%s\n",
         JsonObjectWriter()
             .str("bench", "lecture_package")
             .num("minutes", int64_t{minutes})
             .num("slides", int64_t{slide_count})
             .num("chat_messages", int64_t{chats})
             .str("profile", "ultra-low")
             .num("status", int64_t{pkg.status})
             .num("package_bytes", static_cast<int64_t>(pkg.body.size()))
             .num("package_mb", pkg.body.size() / 1e6)
             .num("audio_bytes", audio_bytes)
             .num("audio_kbit_s", audio_bytes * 8.0 / (minutes * 60.0) / 1000.0)
             .num("slides_and_page_bytes", static_cast<int64_t>(pkg.body.size()) - audio_bytes)
             .num("target_mb", 15.0)
             .boolean("target_met", pkg.status == 200 && pkg.body.size() <= 15'000'000)
             .num("encode_seconds", encode_s)
             .num("package_seconds", pack_s)
             .finish()
             .c_str());
  std::string cmd = "rm -rf '" + dir + "'";
  if (system(cmd.c_str()) != 0) fprintf(stderr, "cannot remove %s\n", dir.c_str());
  return pkg.status == 200 ? 0 : 1;
}
