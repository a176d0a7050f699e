// Class recording end to end: the real server with the recording plugin, a teacher webrtcbin
// sending a 440 Hz tone, slides and chat over the real WebSocket. The recorded Ogg file is
// decoded with GStreamer and checked against what the test did and when. Runs inside private
// network and mount namespaces (see meson): the full-disk case mounts a tiny tmpfs.
#include <archive.h>
#include <archive_entry.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "../http/server_process.hpp"
#include "../media/decode_file.hpp"
#include "../media/ws_connect.hpp"
#include "../slides/test_decks.hpp"

using namespace gramothi;

namespace {

const std::string kSecret = "recording-test-secret-0123456789abcdef";

std::string token(const std::string &user, Role role) {
  // Outsiders hold no grant for the test classes; everyone else holds them all.
  if (user == "stranger" || user == "student-out" || user == "teacher-2")
    return test_token(kSecret, user, role);
  return test_token(kSecret, user, role, {"rec-1", "rec-2", "rec-3", "rec-4", "rec-5"});
}

int64_t now_ms() {
  return g_get_real_time() / 1000;
}

std::vector<int16_t> decode_ogg(const std::string &path) {
  return decode_file(path, "oggdemux ! opusdec");
}

// Where the Ogg file's own clock ends, in ms: the last page's granule position less the
// Opus pre-skip (RFC 7845 §4). Players show this as the length; -1 if the file is not Ogg/Opus.
int64_t ogg_end_ms(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::string d((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  int64_t granule = -1, pre_skip = -1;
  for (size_t pos = 0; pos + 27 <= d.size() && d.compare(pos, 4, "OggS") == 0;) {
    const auto *h = reinterpret_cast<const uint8_t *>(d.data() + pos);
    if (pos + 27 + h[26] > d.size()) break;
    size_t body = 0;
    for (size_t i = 0; i < h[26]; i++)
      body += h[27 + i];
    if (pos + 27 + h[26] + body > d.size()) break;
    const uint8_t *payload = h + 27 + h[26];
    if (pre_skip < 0 && body >= 19 && memcmp(payload, "OpusHead", 8) == 0)
      pre_skip = payload[10] | payload[11] << 8;
    int64_t g = 0;
    for (int i = 7; i >= 0; i--)
      g = g << 8 | h[6 + i];
    if (g > 0) granule = g;
    pos += 27 + h[26] + body;
  }
  return granule < 0 || pre_skip < 0 ? -1 : (granule - pre_skip) / 48;
}

// The audio from `from_ms` for `len_ms`.
std::vector<int16_t> slice(const std::vector<int16_t> &pcm, int64_t from_ms, int64_t len_ms) {
  size_t a = static_cast<size_t>(std::max<int64_t>(0, from_ms) * 48);
  size_t b = std::min(pcm.size(), a + static_cast<size_t>(len_ms * 48));
  return a < b ? std::vector<int16_t>(pcm.begin() + a, pcm.begin() + b) : std::vector<int16_t>{};
}

double rms(const std::vector<int16_t> &x) {
  double s = 0;
  for (int16_t v : x)
    s += double(v) * v;
  return x.empty() ? 0 : std::sqrt(s / x.size());
}

// Where the tone starts: the first 10 ms window louder than 1000 RMS, from `from_ms`.
int64_t onset_ms(const std::vector<int16_t> &pcm, int64_t from_ms) {
  for (int64_t t = from_ms; t * 48 < static_cast<int64_t>(pcm.size()); t += 10)
    if (rms(slice(pcm, t, 10)) > 1000) return t;
  return -1;
}

// How much of the audio from `from_ms` for `len_ms` is the tone, judged 100 ms at a time: a
// 24 kbit/s voice encoding keeps the pitch but not the phase over long stretches.
double tone_in(const std::vector<int16_t> &pcm, int64_t from_ms, int64_t len_ms, double freq) {
  double sum = 0;
  int n = 0;
  for (int64_t t = from_ms; t + 100 <= from_ms + len_ms; t += 100, n++)
    sum += tone_share(slice(pcm, t, 100), freq);
  return n ? sum / n : 0;
}

// The files of a zip, by name (read with libarchive).
std::map<std::string, std::string> unzip(const std::string &zip) {
  std::map<std::string, std::string> out;
  struct archive *a = archive_read_new();
  archive_read_support_format_zip(a);
  if (archive_read_open_memory(a, zip.data(), zip.size()) == ARCHIVE_OK) {
    struct archive_entry *e;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
      std::string data;
      char buf[65536];
      la_ssize_t n;
      while ((n = archive_read_data(a, buf, sizeof buf)) > 0)
        data.append(buf, static_cast<size_t>(n));
      out[archive_entry_pathname(e)] = data;
    }
  }
  archive_read_free(a);
  return out;
}

std::vector<std::string> lines_of(const std::string &path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

JsonNode *parse(const std::string &text, JsonParser *p) {
  if (!json_parser_load_from_data(p, text.c_str(), -1, nullptr)) return nullptr;
  return json_parser_get_root(p);
}

class RecordingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_autofree char *d = g_dir_make_tmp("gramothi-recording-XXXXXX", nullptr);
    dir_ = d;
  }
  void TearDown() override {
    if (server_) server_->stop();
    std::string cmd = "umount '" + dir_ + "/small' 2>/dev/null; rm -rf '" + dir_ + "'";
    if (system(cmd.c_str()) != 0) g_warning("cannot remove %s", dir_.c_str());
  }
  void start_server(const std::string &extra = "") {
    std::string config = "[server]\nlisten_address=127.0.0.1\nport=0\n[storage]\ndata_dir=" + dir_ +
                         "/data\n[auth]\njwt_secret=" + kSecret +
                         "\n[media]\nice_addresses=127.0.0.1\ningest_latency_ms=40\n"
                         "[plugins]\nload=rest;signaling;recording\ndir=" +
                         g_getenv("GRAMOTHI_PLUGIN_DIR") + "\n" + extra;
    std::string path = dir_ + "/gramothi.ini";
    g_file_set_contents(path.c_str(), config.c_str(), -1, nullptr);
    server_ = std::make_unique<ServerProcess>();
    server_->start(path, dir_ + "/server.log." + std::to_string(++starts_));
    http_ = std::make_unique<HttpClient>(server_->base());
  }
  HttpResponse post(const std::string &path, const std::string &body,
                    const std::string &user = "teacher-1", Role role = Role::kTeacher) {
    return http_->post(path, token(user, role), body);
  }
  std::unique_ptr<WsClient> connect(const std::string &class_id, const std::string &user,
                                    Role role) {
    return connect_authenticated(server_->port(), class_id, token(user, role), user);
  }
  // The class's recordings, newest first, once `done(list)` holds (up to `ms`).
  std::string recordings(const std::string &class_id,
                         const std::function<bool(const std::string &)> &done, int ms = 10000) {
    std::string body;
    spin_until(
        [&] {
          body =
              http_->get("/api/v1/recordings/" + class_id, token("teacher-1", Role::kTeacher)).body;
          return done(body);
        },
        ms);
    return body;
  }
  std::string recording_dir(const std::string &list) {
    g_autoptr(JsonParser) p = json_parser_new();
    JsonNode *root = parse(list, p);
    if (!root) return "";
    JsonArray *a = json_object_get_array_member(json_node_get_object(root), "recordings");
    if (json_array_get_length(a) == 0) return "";
    return dir_ + "/data/recordings/" +
           json_object_get_string_member(json_array_get_object_element(a, 0), "recording_id");
  }

  std::string dir_;
  int starts_ = 0;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<HttpClient> http_;
};

}  // namespace

TEST_F(RecordingTest, AClassIsRecordedWithItsSlidesAndChatAtTheRightTimes) {
  start_server();
  std::string deck = lecture_deck(dir_ + "/deck.pdf");
  ASSERT_EQ(http_
                ->post("/api/v1/streaming/slides/rec-1", token("teacher-1", Role::kTeacher), deck,
                       "application/pdf")
                .status,
            202u);
  // The whole deck rendered, and page 1 the class's current slide.
  ASSERT_TRUE(spin_until(
      [&] {
        std::string b =
            http_->get("/api/v1/streaming/slides/rec-1", token("teacher-1", Role::kTeacher)).body;
        g_autoptr(JsonParser) p = json_parser_new();
        JsonNode *root = parse(b, p);
        if (!root) return false;
        JsonObject *o = json_node_get_object(root);
        JsonNode *deck = json_object_get_member(o, "deck");
        return deck && JSON_NODE_HOLDS_OBJECT(deck) &&
               g_strcmp0(json_object_get_string_member_with_default(json_node_get_object(deck),
                                                                    "status", ""),
                         "ready") == 0 &&
               json_object_get_string_member_with_default(o, "current_slide_id", nullptr);
      },
      30000));
  int64_t start_sent = now_ms();
  ASSERT_EQ(post("/api/v1/streaming/start", "{\"class_id\":\"rec-1\"}").status, 200u);
  std::string list = recordings("rec-1", [](const std::string &b) {
    return b.find("\"state\":\"recording\"") != std::string::npos;
  });
  ASSERT_NE(list.find("\"state\":\"recording\""), std::string::npos) << list << server_->log();

  auto tws = connect("rec-1", "teacher-1", Role::kTeacher);
  auto sws = connect("rec-1", "student-1", Role::kStudent);
  auto teacher = std::make_unique<TeacherPeer>(*tws, 440);
  teacher->set_audible(false);
  teacher->publish();
  ASSERT_TRUE(spin_until([&] { return teacher->connected(); }, 15000)) << server_->log();
  spin_for(1500);

  // Unmute and say so in chat at the same moment: the chat's offset is where the tone begins.
  teacher->set_audible(true);
  int64_t unmuted_at = now_ms();
  sws->send(R"({"type":"chat-message","text":"<b>tone on</b>"})");
  spin_for(1500);
  int64_t moved_at = now_ms();
  tws->send(R"({"type":"slide-sync","action":"next"})");
  spin_for(1000);
  // The teacher drops; two seconds later a new connection speaks again: one recording.
  teacher.reset();
  tws.reset();
  spin_for(2000);
  int64_t back_at = now_ms();
  tws = connect("rec-1", "teacher-1", Role::kTeacher);
  teacher = std::make_unique<TeacherPeer>(*tws, 440);
  teacher->publish();
  ASSERT_TRUE(spin_until([&] { return teacher->connected(); }, 15000));
  spin_for(2000);
  int64_t stop_sent = now_ms();
  ASSERT_EQ(post("/api/v1/streaming/stop", "{\"class_id\":\"rec-1\"}").status, 200u);
  list = recordings("rec-1", [](const std::string &b) {
    return b.find("\"state\":\"complete\"") != std::string::npos &&
           b.find("\"duration_ms\":0") == std::string::npos;
  });
  ASSERT_NE(list.find("\"state\":\"complete\""), std::string::npos) << list << server_->log();
  EXPECT_EQ(list.find("recording_id", list.find("recording_id") + 1), std::string::npos)
      << "one recording for one session: " << list;

  std::string rdir = recording_dir(list);
  g_autoptr(JsonParser) lp = json_parser_new();
  JsonObject *rec = json_array_get_object_element(
      json_object_get_array_member(json_node_get_object(parse(list, lp)), "recordings"), 0);
  int64_t t0 = json_object_get_int_member(rec, "started_at_ms");
  int64_t duration = json_object_get_int_member(rec, "duration_ms");
  EXPECT_NEAR(t0, start_sent, 1000);
  EXPECT_NEAR(duration, stop_sent - t0, 700);

  auto pcm = decode_ogg(rdir + "/audio.ogg");
  ASSERT_FALSE(pcm.empty());
  EXPECT_NEAR(static_cast<double>(pcm.size()) / 48, duration, 200);
  // The file's own times start at 0 too (players go by them to place the slides and chat).
  EXPECT_NEAR(ogg_end_ms(rdir + "/audio.ogg"), static_cast<double>(pcm.size()) / 48, 200)
      << "the Ogg's granule positions do not start at the recording's start";
  // Silence while muted, the tone once unmuted, silence while the teacher was away, the tone
  // again after.
  EXPECT_LT(rms(slice(pcm, unmuted_at - t0 - 1000, 800)), 200);
  EXPECT_GT(tone_in(pcm, moved_at - t0, 800, 440), 0.8);
  EXPECT_LT(rms(slice(pcm, back_at - t0 - 1200, 800)), 200);
  EXPECT_GT(tone_in(pcm, stop_sent - t0 - 1200, 800, 440), 0.8) << [&] {
    std::string levels = "loudness every 250 ms:";
    for (int64_t t = 0; t * 48 < static_cast<int64_t>(pcm.size()); t += 250)
      levels += " " + std::to_string(static_cast<int>(rms(slice(pcm, t, 250))));
    return levels + "; unmuted " + std::to_string(unmuted_at - t0) + ", back " +
           std::to_string(back_at - t0) + ", stop " + std::to_string(stop_sent - t0);
  }();

  // The timeline: the first slide at 0, the move and the chat at their offsets.
  auto lines = lines_of(rdir + "/timeline.jsonl");
  ASSERT_GE(lines.size(), 3u);
  int64_t chat_t = -1, move_t = -1, first_t = -1;
  for (const auto &l : lines) {
    g_autoptr(JsonParser) p = json_parser_new();
    JsonObject *o = json_node_get_object(parse(l, p));
    std::string type = json_object_get_string_member(o, "type");
    int64_t t = json_object_get_int_member(o, "t_ms");
    if (type == "chat") {
      chat_t = t;
      EXPECT_STREQ(
          json_object_get_string_member(json_object_get_object_member(o, "message"), "text"),
          "<b>tone on</b>");
    } else if (type == "slide") {
      int64_t n = json_object_get_int_member(json_object_get_object_member(o, "slide"), "order_no");
      if (n == 1 && first_t < 0) first_t = t;
      if (n == 2) move_t = t;
    }
  }
  EXPECT_EQ(first_t, 0) << "the slide on screen at the start";
  EXPECT_NEAR(chat_t, unmuted_at - t0, 100);
  EXPECT_NEAR(move_t, moved_at - t0, 100);
  // And the audio agrees with the timeline: the tone begins right after the chat's offset
  // (the teacher's jitter buffer and the mixer add about 100 ms).
  int64_t onset = onset_ms(pcm, chat_t - 500);
  EXPECT_GE(onset, chat_t - 50);
  EXPECT_LE(onset, chat_t + 300) << "tone at " << onset << " ms, chat at " << chat_t << " ms";

  // Playback over HTTP: the audio in ranges, so seeking need not download everything.
  std::string rid = json_object_get_string_member(rec, "recording_id");
  std::string api = "/api/v1/recordings/" + rid;
  std::string file;
  {
    g_autofree char *data = nullptr;
    gsize len = 0;
    g_file_get_contents((rdir + "/audio.ogg").c_str(), &data, &len, nullptr);
    file.assign(data, len);
  }
  auto part = http_->request("GET", api + "/audio", token("teacher-1", Role::kTeacher), nullptr,
                             nullptr, {{"Range", "bytes=100-199"}});
  EXPECT_EQ(part.status, 206u);
  EXPECT_EQ(part.body, file.substr(100, 100));
  EXPECT_EQ(part.headers["content-range"], "bytes 100-199/" + std::to_string(file.size()));
  EXPECT_EQ(part.headers["accept-ranges"], "bytes");
  // An <audio> element cannot send a header: it gets a short-lived link for this recording.
  // A long-lived token in the URL is refused.
  auto in_url = http_->get(api + "/audio?token=" + token("teacher-1", Role::kTeacher));
  EXPECT_EQ(in_url.status, 401u);
  EXPECT_EQ(in_url.str("error.code"), "token_in_url") << in_url.body;
  auto links = http_->post(api + "/links", token("student-1", Role::kStudent), "");
  ASSERT_EQ(links.status, 200u) << links.body;
  std::string audio_url = links.str("audio_url");
  ASSERT_NE(audio_url.find("?ticket="), std::string::npos) << links.body;
  EXPECT_EQ(audio_url.find(token("student-1", Role::kStudent)), std::string::npos);
  auto whole = http_->get(audio_url);
  EXPECT_EQ(whole.status, 200u);
  EXPECT_EQ(whole.body, file);
  std::string ticket = audio_url.substr(audio_url.find("?ticket=") + 8);
  EXPECT_EQ(http_->get(api + "/timeline?ticket=" + ticket).status, 401u)
      << "a ticket opens the audio and the package only";
  EXPECT_EQ(http_->get(api + "/audio?ticket=" + ticket + "x").status, 401u);
  // Someone else's recording answers as an unknown one would: ids cannot be probed.
  EXPECT_EQ(http_->post(api + "/links", token("stranger", Role::kStudent), "").status, 404u);
  EXPECT_EQ(http_
                ->request("GET", api + "/audio", token("teacher-1", Role::kTeacher), nullptr,
                          nullptr, {{"Range", "bytes=999999999-"}})
                .status,
            416u);
  EXPECT_EQ(http_->get(api + "/audio").status, 401u);
  auto stranger = http_->get(api + "/audio", token("stranger", Role::kStudent));
  auto unknown = http_->get("/api/v1/recordings/nope/audio", token("stranger", Role::kStudent));
  EXPECT_EQ(stranger.status, 404u);
  EXPECT_EQ(stranger.body, unknown.body);
  EXPECT_EQ(http_->get("/api/v1/recordings/nope/audio", token("admin", Role::kAdmin)).status, 404u);

  // The timeline for the online player: slides with their image at the chosen profile.
  auto tl = http_->get(api + "/timeline?profile=low", token("teacher-1", Role::kTeacher));
  ASSERT_EQ(tl.status, 200u) << tl.body;
  EXPECT_NE(tl.body.find("\"order_no\":2"), std::string::npos) << tl.body;
  EXPECT_NE(tl.body.find("/api/v1/streaming/slides/images/"), std::string::npos);
  EXPECT_EQ(http_->get(api + "/timeline?profile=huge", token("teacher-1", Role::kTeacher)).status,
            400u);

  // The lecture package: audio, the slides of one profile, timeline and offline player.
  auto pkg = http_->get(api + "/package?profile=ultra-low", token("teacher-1", Role::kTeacher));
  ASSERT_EQ(pkg.status, 200u) << pkg.body;
  EXPECT_EQ(pkg.content_type, "application/zip");
  EXPECT_NE(pkg.headers["content-disposition"].find("attachment; filename=\"rec-1-"),
            std::string::npos);
  std::map<std::string, std::string> entries = unzip(pkg.body);
  EXPECT_EQ(entries["audio.ogg"], file);
  ASSERT_TRUE(entries.count("index.html"));
  ASSERT_TRUE(entries.count("timeline.json"));
  std::string ultra =
      http_->get(api + "/timeline?profile=ultra-low", token("teacher-1", Role::kTeacher)).body;
  size_t webps = 0;
  for (const auto &[name, data] : entries)
    if (name.rfind("slides/", 0) == 0) {
      webps++;
      EXPECT_EQ(data.substr(0, 4), "RIFF") << name;
      EXPECT_NE(ultra.find(name.substr(7)), std::string::npos) << "only this recording's slides";
    }
  EXPECT_EQ(webps, 2u) << "slides 1 and 2 at ultra-low";
  // The chat's markup stays text, and cannot close the page's script element.
  EXPECT_NE(entries["index.html"].find("\\u003cb>tone on\\u003c/b>"), std::string::npos);
  EXPECT_EQ(entries["index.html"].find("<b>tone on"), std::string::npos);
  // Made once, then served from the cache.
  auto again = http_->get(api + "/package?profile=ultra-low", token("teacher-1", Role::kTeacher));
  EXPECT_EQ(again.body, pkg.body);
  EXPECT_EQ(http_->get(api + "/package", token("stranger", Role::kStudent)).status, 404u);
}

// Issue 15: a class with no teacher encodes nothing and sends its listeners nothing; its
// recording gets each gap as silence when a teacher comes, and up to its end when it ends
// without one, so the file lasts as long as the class and its audio stays where the timeline
// (wall-clock milliseconds from the start) puts it.
TEST_F(RecordingTest, TheGapsBetweenTeachersAreRecordedAsSilenceOfTheirLength) {
  start_server();
  int64_t start_sent = now_ms();
  ASSERT_EQ(post("/api/v1/streaming/start", "{\"class_id\":\"rec-5\"}").status, 200u);
  std::string list = recordings("rec-5", [](const std::string &b) {
    return b.find("\"state\":\"recording\"") != std::string::npos;
  });
  ASSERT_NE(list.find("\"state\":\"recording\""), std::string::npos) << list << server_->log();
  auto sws = connect("rec-5", "student-1", Role::kStudent);
  ListenerPeer listener(*sws);
  listener.listen("low");
  spin_for(3000);
  EXPECT_EQ(listener.packets().size(), 0u) << "sent while no teacher speaks";

  auto tws = connect("rec-5", "teacher-1", Role::kTeacher);
  auto teacher = std::make_unique<TeacherPeer>(*tws, 440);
  teacher->publish();
  ASSERT_TRUE(spin_until([&] { return teacher->connected(); }, 15000)) << server_->log();
  ASSERT_TRUE(spin_until([&] { return listener.packets().size() > 50; }, 15000))
      << "the teacher is heard" << server_->log();
  spin_for(2000);
  int64_t left_at = now_ms();
  teacher.reset();
  tws.reset();
  spin_for(1000);
  size_t heard = listener.packets().size();
  spin_for(2000);
  EXPECT_EQ(listener.packets().size(), heard) << "sent after the teacher left";
  int64_t stop_sent = now_ms();
  ASSERT_EQ(post("/api/v1/streaming/stop", "{\"class_id\":\"rec-5\"}").status, 200u);
  list = recordings("rec-5", [](const std::string &b) {
    return b.find("\"state\":\"complete\"") != std::string::npos &&
           b.find("\"duration_ms\":0") == std::string::npos;
  });
  ASSERT_NE(list.find("\"state\":\"complete\""), std::string::npos) << list << server_->log();

  g_autoptr(JsonParser) lp = json_parser_new();
  JsonObject *rec = json_array_get_object_element(
      json_object_get_array_member(json_node_get_object(parse(list, lp)), "recordings"), 0);
  int64_t t0 = json_object_get_int_member(rec, "started_at_ms");
  int64_t duration = json_object_get_int_member(rec, "duration_ms");
  EXPECT_NEAR(t0, start_sent, 1000);
  EXPECT_NEAR(duration, stop_sent - t0, 700) << "the gap at the end is in the file";
  auto pcm = decode_ogg(recording_dir(list) + "/audio.ogg");
  ASSERT_FALSE(pcm.empty());
  EXPECT_NEAR(static_cast<double>(pcm.size()) / 48, duration, 200);
  EXPECT_LT(rms(slice(pcm, 500, 2000)), 200) << "silence before the teacher";
  EXPECT_GT(tone_in(pcm, left_at - t0 - 1200, 800, 440), 0.8)
      << "the tone where the timeline has it";
  EXPECT_LT(rms(slice(pcm, left_at - t0 + 1000, 1500)), 200) << "silence after the teacher";
}

TEST_F(RecordingTest, AServerKilledMidClassLeavesAPlayableRecording) {
  start_server();
  ASSERT_EQ(post("/api/v1/streaming/start", "{\"class_id\":\"rec-2\"}").status, 200u);
  auto tws = connect("rec-2", "teacher-1", Role::kTeacher);
  TeacherPeer teacher(*tws, 440);
  teacher.publish();
  ASSERT_TRUE(spin_until([&] { return teacher.connected(); }, 15000));
  spin_for(4000);
  std::string before = recordings("rec-2", [](const std::string &) { return true; });
  server_->kill();  // SIGKILL: no chance to finish anything

  start_server();
  std::string list = recordings("rec-2", [](const std::string &b) {
    return b.find("\"state\":\"interrupted\"") != std::string::npos;
  });
  ASSERT_NE(list.find("\"state\":\"interrupted\""), std::string::npos) << before << list;
  g_autoptr(JsonParser) p = json_parser_new();
  JsonObject *rec = json_array_get_object_element(
      json_object_get_array_member(json_node_get_object(parse(list, p)), "recordings"), 0);
  int64_t duration = json_object_get_int_member(rec, "duration_ms");
  EXPECT_GE(duration, 3000) << "at most the last second is lost";
  auto pcm = decode_ogg(recording_dir(list) + "/audio.ogg");
  EXPECT_NEAR(static_cast<double>(pcm.size()) / 48, duration, 200);
  EXPECT_GT(tone_in(pcm, duration - 1500, 1000, 440), 0.8);
}

TEST_F(RecordingTest, AFullDiskStopsTheRecordingAndTheClassGoesOn) {
  // A 48 KiB file system: full after about 15 s of audio at 24 kbit/s.
  std::string small = dir_ + "/small";
  g_mkdir_with_parents(small.c_str(), 0755);
  ASSERT_EQ(mount("tmpfs", small.c_str(), "tmpfs", 0, "size=48k"), 0)
      << "needs a private mount namespace (run under unshare -m): " << g_strerror(errno);
  start_server("[plugin.recording]\ndir=" + small + "\n");
  ASSERT_EQ(post("/api/v1/streaming/start", "{\"class_id\":\"rec-3\"}").status, 200u);
  auto tws = connect("rec-3", "teacher-1", Role::kTeacher);
  TeacherPeer teacher(*tws, 440);
  teacher.publish();
  auto sws = connect("rec-3", "student-1", Role::kStudent);
  ListenerPeer listener(*sws);
  listener.listen("low");
  ASSERT_TRUE(spin_until([&] { return teacher.connected(); }, 15000));
  std::string list = recordings(
      "rec-3",
      [](const std::string &b) { return b.find("\"state\":\"failed\"") != std::string::npos; },
      40000);
  ASSERT_NE(list.find("\"state\":\"failed\""), std::string::npos) << list;
  EXPECT_NE(list.find("No space left on device"), std::string::npos) << list;
  EXPECT_NE(server_->log().find("No space left on device"), std::string::npos);
  // The class goes on: the student still hears the teacher.
  size_t heard = listener.packets().size();
  spin_for(2000);
  EXPECT_GT(listener.packets().size(), heard + 20);
  EXPECT_GT(tone_share(listener.recent_audio(1.0), 440), 0.5);
  // And the class status says what happened to its recording.
  std::string status =
      http_->get("/api/v1/streaming/status/rec-3", token("teacher-1", Role::kTeacher)).body;
  EXPECT_NE(status.find("\"state\":\"live\""), std::string::npos) << status;
  EXPECT_NE(status.find("\"recording\":{"), std::string::npos) << status;
  EXPECT_NE(status.find("No space left on device"), std::string::npos) << status;
}

TEST_F(RecordingTest, AnUnwritableFolderFailsTheRecordingClearlyAndTheClassGoesOn) {
  start_server("[plugin.recording]\ndir=/dev/null/recordings\n");
  ASSERT_EQ(post("/api/v1/streaming/start", "{\"class_id\":\"rec-4\"}").status, 200u);
  std::string list = recordings("rec-4", [](const std::string &b) {
    return b.find("\"state\":\"failed\"") != std::string::npos;
  });
  EXPECT_NE(list.find("cannot create /dev/null/recordings"), std::string::npos) << list;
  auto tws = connect("rec-4", "teacher-1", Role::kTeacher);
  TeacherPeer teacher(*tws, 440);
  teacher.publish();
  EXPECT_TRUE(spin_until([&] { return teacher.connected(); }, 15000));
}

// Issue 12, finding 2: attendance granted a class's recordings, and `join` checked nothing, so
// any student could join, leave, and download them all. Now the grants decide.
TEST_F(RecordingTest, OnlyTheClassesTeachersAndItsStudentsSeeItsRecordings) {
  start_server();
  ASSERT_EQ(post("/api/v1/streaming/start", "{\"class_id\":\"rec-5\"}").status, 200u);
  ASSERT_EQ(post("/api/v1/streaming/join", "{\"class_id\":\"rec-5\"}", "student-in", Role::kStudent)
                .status,
            200u);
  EXPECT_EQ(
      post("/api/v1/streaming/join", "{\"class_id\":\"rec-5\"}", "student-out", Role::kStudent)
          .status,
      403u)
      << "joining needs a grant";
  auto get = [&](const std::string &user, Role role) {
    return http_->get("/api/v1/recordings/rec-5", token(user, role)).status;
  };
  EXPECT_EQ(get("teacher-1", Role::kTeacher), 200u);
  EXPECT_EQ(get("admin-1", Role::kAdmin), 200u);
  EXPECT_EQ(get("student-in", Role::kStudent), 200u);
  EXPECT_EQ(get("student-out", Role::kStudent), 403u);
  // A student who missed every session but whose token grants the class may; one who attended
  // but whose token no longer grants it may not: attendance alone gives nothing.
  // Each token its own expiry: the host tells a principal's tokens apart by user, role and
  // expiry (GrantBook), and tokens alike in all three share their grants.
  int64_t ttl = 600;
  auto granted = [&](const std::string &user, std::vector<std::string> classes) {
    TokenClaims c{user, Role::kStudent, 0, g_get_real_time() / G_USEC_PER_SEC + ttl++};
    c.classes = std::move(classes);
    return http_->get("/api/v1/recordings/rec-5", JwtCodec(kSecret).sign(c)).status;
  };
  EXPECT_EQ(granted("student-missed", {"bio-2", "rec-5"}), 200u);
  EXPECT_EQ(granted("student-missed", {"bio-2"}), 403u);
  EXPECT_EQ(granted("student-in", {}), 403u);
  EXPECT_EQ(get("teacher-2", Role::kTeacher), 403u);
  // Without a token, an unknown id and an existing one answer alike: ids cannot be probed.
  auto anonymous = http_->get("/api/v1/recordings/rec-5", "");
  auto unknown = http_->get("/api/v1/recordings/nope/audio", "");
  EXPECT_EQ(anonymous.status, 401u);
  EXPECT_EQ(unknown.status, 401u);
  EXPECT_EQ(unknown.str("error.code"), "token_missing") << unknown.body;
  EXPECT_EQ(http_->get("/api/v1/recordings/nope", token("admin-1", Role::kAdmin)).status, 200u)
      << "a class with no recordings lists none";
  EXPECT_EQ(http_->get("/api/v1/recordings/nope/timeline", token("admin-1", Role::kAdmin)).status,
            404u);
  // Turning recording off stops it; students may not.
  EXPECT_EQ(
      post("/api/v1/recordings/rec-5", "{\"record\":false}", "student-in", Role::kStudent).status,
      403u);
  EXPECT_EQ(post("/api/v1/recordings/rec-5", "{\"record\":\"no\"}").status, 400u);
  // Turned off before its audio began, a recording is discarded (nothing to keep): wait until
  // the class's status (for its teacher) says the audio is being recorded, which takes a
  // moment on a busy machine.
  std::string status;
  EXPECT_TRUE(spin_until(
      [&] {
        status =
            http_->get("/api/v1/streaming/status/rec-5", token("teacher-1", Role::kTeacher)).body;
        return status.find("\"state\":\"recording\"") != std::string::npos;
      },
      10000))
      << status;
  EXPECT_EQ(post("/api/v1/recordings/rec-5", "{\"record\":false}").status, 200u);
  std::string list = recordings("rec-5", [](const std::string &b) {
    return b.find("\"state\":\"complete\"") != std::string::npos;
  });
  EXPECT_NE(list.find("\"state\":\"complete\""), std::string::npos) << list;
}

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
