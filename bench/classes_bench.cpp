// Many classes on one server (issue 15), run by bench/run-classes:
//   classes_bench [--classes 5] [--teachers] [--listeners 0] [--measure 20] [--baseline 10]
// The real server (rest, signaling and recording plugins: every class is recorded, as on a
// school's server) with no class for --baseline seconds, then K live classes (REST start), each
// with a teacher publishing a 440 Hz tone over webrtcbin when --teachers is given, for --measure
// seconds; then, with --listeners M, M light listeners per class (the lite transport's ICE-lite
// client of the tests), their profiles spread over all the profiles in turn, for --measure
// seconds more. Everything runs in this one process, inside a private network namespace
// (bench/run-classes), on loopback. One JSON line: the server's CPU (% of one core), RSS and
// threads in each phase, the cost per class and per listener, delivery and join p95/max.
#include <glib.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "../tests/http/server_process.hpp"
#include "../tests/media/lite_client.hpp"
#include "../tests/media/webrtc_peer.hpp"
#include "auth/jwt.hpp"
#include "base/json.hpp"
#include "config/profiles.hpp"
#include "percentile.hpp"
#include "proc_sample.hpp"
#include "transport/dtls_srtp.hpp"

using namespace gramothi;

namespace {

const std::string kSecret = "classes-bench-secret-0123456789abcdef";

struct Phase {
  double cpu_pct = 0, rss_mb = 0;
  int threads = 0;
};

// The server's CPU over `seconds` of this process's main loop (which drives the teachers and
// listeners meanwhile).
Phase measure(int pid, double seconds) {
  ProcSample a = sample_proc(pid);
  int64_t t0 = g_get_monotonic_time();
  spin_for(static_cast<int>(seconds * 1000));
  ProcSample b = sample_proc(pid);
  double wall = (g_get_monotonic_time() - t0) / 1e6;
  return {(b.cpu_s - a.cpu_s) / wall * 100.0, b.rss_mb, b.threads};
}

std::string phase_json(const Phase &p) {
  return JsonObjectWriter()
      .raw("cpu_pct_of_one_core", std::to_string(p.cpu_pct))
      .raw("rss_mb", std::to_string(p.rss_mb))
      .num("threads", int64_t{p.threads})
      .finish();
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  int classes = 5, listeners = 0;
  gboolean teachers = FALSE;
  double measure_s = 20, baseline_s = 10;
  GOptionEntry entries[] = {
      {"classes", 'k', 0, G_OPTION_ARG_INT, &classes, "Live classes (5)", "K"},
      {"teachers", 't', 0, G_OPTION_ARG_NONE, &teachers, "Each class has a teacher speaking",
       nullptr},
      {"listeners", 'm', 0, G_OPTION_ARG_INT, &listeners, "Light listeners per class (0)", "M"},
      {"measure", 's', 0, G_OPTION_ARG_DOUBLE, &measure_s, "Seconds measured per phase (20)", "S"},
      {"baseline", 'b', 0, G_OPTION_ARG_DOUBLE, &baseline_s, "Seconds with no class (10)", "S"},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  g_autoptr(GOptionContext) ctx = g_option_context_new("- many classes on one server");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_autoptr(GError) err = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
    fprintf(stderr, "%s\n", err->message);
    return 2;
  }
  if (classes < 1 || classes > 500 || listeners < 0 || listeners > 1000 || measure_s < 1 ||
      baseline_s < 1)
    return 2;

  g_autofree char *dir = g_dir_make_tmp("gramothi-classes-XXXXXX", nullptr);
  std::string config =
      std::string("[server]\nlisten_address=127.0.0.1\nport=0\n") + "[storage]\ndata_dir=" + dir +
      "/data\n[auth]\njwt_secret=" + kSecret +
      "\n[media]\nice_addresses=127.0.0.1\nlistener_transport=lite\n" +
      "[plugins]\nload=rest;signaling;recording\ndir=" + g_getenv("GRAMOTHI_PLUGIN_DIR") +
      "\n[plugin.signaling]\nrate_per_second=50\n";
  std::string config_path = std::string(dir) + "/gramothi.ini";
  g_file_set_contents(config_path.c_str(), config.c_str(), -1, nullptr);
  ServerProcess server;
  server.start(config_path, std::string(dir) + "/server.log", "info");
  std::vector<std::string> ids;
  for (int k = 0; k < classes; k++)
    ids.push_back("class-" + std::to_string(k));
  auto sign = [&](const std::string &user, Role role) {
    return test_token(kSecret, user, role, ids);
  };
  spin_for(1000);
  Phase none = measure(server.pid(), baseline_s);

  HttpClient http(server.base());
  std::vector<std::unique_ptr<WsClient>> sockets;
  std::vector<std::unique_ptr<TeacherPeer>> speakers;
  for (const auto &id : ids) {
    auto r = http.post("/api/v1/streaming/start", sign("teacher-" + id, Role::kTeacher),
                       "{\"class_id\":\"" + id + "\"}");
    if (r.status != 200) {
      fprintf(stderr, "start %s: %u %s\n", id.c_str(), r.status, r.body.c_str());
      return 1;
    }
    if (!teachers) continue;
    sockets.push_back(
        std::make_unique<WsClient>(server.port(), id, sign("teacher-" + id, Role::kTeacher)));
    if (!sockets.back()->wait_for("authenticated", nullptr, 10000)) {
      fprintf(stderr, "the teacher of %s was not authenticated\n", id.c_str());
      return 1;
    }
    speakers.push_back(std::make_unique<TeacherPeer>(*sockets.back(), 440));
    speakers.back()->publish();
  }
  for (auto &t : speakers)
    if (!spin_until([&] { return t->connected(); }, 30000)) {
      fprintf(stderr, "a teacher did not connect\n%s", server.log().c_str());
      return 1;
    }
  spin_for(2000);
  Phase with_classes = measure(server.pid(), measure_s);

  auto profiles =
      ProfileSet::load(std::string(g_getenv("GRAMOTHI_SOURCE_ROOT")) + "/pipelines/profiles.ini");
  if (!profiles) return 1;
  const auto &all = profiles->all();
  struct Slot {
    std::unique_ptr<WsClient> ws;
    std::unique_ptr<LiteClient> lite;
    int64_t listen_at = 0;
    double frame_ms = 20;
  };
  std::vector<Slot> slots;
  Phase with_listeners;
  double delivered = 0;
  std::vector<double> joins;
  if (listeners > 0) {
    auto identity = DtlsIdentity::generate();
    if (!identity) return 1;
    int n = 0;
    for (const auto &id : ids)
      for (int m = 0; m < listeners; m++, n++) {
        const BandwidthProfile &p = all[static_cast<size_t>(n) % all.size()];
        Slot s;
        s.frame_ms = p.opus_frame_ms;
        s.ws = std::make_unique<WsClient>(server.port(), id,
                                          sign("student-" + std::to_string(n), Role::kStudent));
        if (s.ws->connected() && s.ws->wait_for("authenticated", nullptr, 10000)) {
          s.listen_at = g_get_monotonic_time();
          s.lite = std::make_unique<LiteClient>(*s.ws, *identity);
          s.lite->listen(p.name);
        }
        slots.push_back(std::move(s));
        spin_for(20);  // 50 joins a second
      }
    spin_for(3000);
    int64_t win_start = g_get_monotonic_time();
    with_listeners = measure(server.pid(), measure_s);
    int64_t win_end = g_get_monotonic_time();
    double expected = 0, received = 0;
    for (auto &s : slots) {
      expected += (win_end - win_start) / 1000.0 / s.frame_ms;
      if (!s.lite) continue;
      auto packets = s.lite->packets();
      if (!packets.empty()) joins.push_back((packets.front().arrival_us - s.listen_at) / 1000.0);
      for (const auto &pk : packets)
        if (pk.arrival_us >= win_start && pk.arrival_us < win_end) received++;
    }
    delivered = expected > 0 ? received / expected : 0;
  }

  double per_class = (with_classes.cpu_pct - none.cpu_pct) / classes;
  int total_listeners = classes * listeners;
  JsonObjectWriter w;
  w.num("classes", int64_t{classes})
      .boolean("teachers", teachers)
      .num("listeners_per_class", int64_t{listeners})
      .raw("measured_s", std::to_string(measure_s))
      .raw("no_class", phase_json(none))
      .raw("classes_live", phase_json(with_classes))
      .raw("cpu_pct_per_class", std::to_string(per_class))
      .raw("threads_per_class",
           std::to_string(double(with_classes.threads - none.threads) / classes));
  if (listeners > 0)
    w.raw("with_listeners", phase_json(with_listeners))
        .raw("cpu_pct_per_listener",
             std::to_string((with_listeners.cpu_pct - with_classes.cpu_pct) / total_listeners))
        .num("listeners_joined", static_cast<int64_t>(joins.size()))
        .raw("delivered_vs_expected", std::to_string(delivered))
        .raw("join_ms_p95", std::to_string(percentile(joins, 95)))
        .raw("join_ms_max", std::to_string(percentile(joins, 100)));
  printf("%s\n", w.finish().c_str());
  fflush(stdout);
  slots.clear();
  speakers.clear();
  sockets.clear();
  server.stop();
  std::string cmd = std::string("rm -rf '") + dir + "'";
  if (system(cmd.c_str()) != 0) fprintf(stderr, "cannot remove %s\n", dir);
  return 0;
}
