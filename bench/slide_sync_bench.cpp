// Slide-sync fan-out benchmark: the real server, a rendered deck, N student WebSockets and the
// teacher's; the teacher moves the slide M times and every student's arrival time is taken.
// Prints one JSON line: the time from the upload's POST to page 1 being ready (the current
// slide) for every profile, then students, moves, deliveries (expected N x M), latency
// p50/p95/p99/max (teacher's send -> the student's socket has the message, same machine clock).
//
//   slide_sync_bench --pdf FILE [--students 150] [--moves 20]
#include <glib/gstdio.h>

#include <algorithm>
#include <cstdio>

#include "../tests/http/server_process.hpp"
#include "../tests/media/webrtc_peer.hpp"
#include "auth/jwt.hpp"
#include "base/json.hpp"
#include "percentile.hpp"

using namespace gramothi;

namespace {

const std::string kSecret = "sync-bench-secret-0123456789abcdef-0123";

std::string sign(const std::string &user, Role role) {
  return test_token(kSecret, user, role, {"sync"});
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  g_autofree char *pdf = nullptr;
  int students = 150, moves = 20;
  GOptionEntry entries[] = {
      {"pdf", 0, 0, G_OPTION_ARG_FILENAME, &pdf, "The deck", "FILE"},
      {"students", 'n', 0, G_OPTION_ARG_INT, &students, "Student sockets (150)", "N"},
      {"moves", 'm', 0, G_OPTION_ARG_INT, &moves, "Slide moves (20)", "M"},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  g_autoptr(GOptionContext) ctx = g_option_context_new("- slide-sync fan-out benchmark");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_autoptr(GError) err = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &err) || !pdf || students < 1 || moves < 1) {
    fprintf(stderr, "usage: slide_sync_bench --pdf FILE [--students N] [--moves M]\n");
    return 2;
  }
  g_autofree char *dir = g_dir_make_tmp("gramothi-sync-bench-XXXXXX", nullptr);
  std::string config =
      std::string("[server]\nlisten_address=127.0.0.1\nport=0\n[storage]\ndata_dir=") + dir +
      "/data\n[auth]\njwt_secret=" + kSecret +
      "\n[media]\nenabled=false\n[plugins]\nload=rest;signaling\ndir=" +
      g_getenv("GRAMOTHI_PLUGIN_DIR") + "\n[plugin.signaling]\nrate_per_second=1000\n";
  std::string config_path = std::string(dir) + "/gramothi.ini";
  g_file_set_contents(config_path.c_str(), config.c_str(), -1, nullptr);
  ServerProcess server;
  server.start(config_path, std::string(dir) + "/server.log", "warning");
  HttpClient http(server.base());
  std::string teacher_token = sign("teacher-b", Role::kTeacher);
  g_autofree char *data = nullptr;
  gsize len = 0;
  g_file_get_contents(pdf, &data, &len, nullptr);
  if (http.post("/api/v1/streaming/start", teacher_token, "{\"class_id\":\"sync\"}").status != 200)
    return 1;
  // Upload -> page 1 ready in every profile (it becomes the current slide), as a teacher waits.
  int64_t upload_at = g_get_monotonic_time();
  if (http.post("/api/v1/streaming/slides/sync", teacher_token, std::string(data, len),
                "application/pdf")
          .status != 202) {
    fprintf(stderr, "cannot upload the deck\n%s", server.log().c_str());
    return 1;
  }
  int64_t first_page_us = -1;
  bool ready = spin_until(
      [&] {
        HttpResponse r = http.get("/api/v1/streaming/slides/sync", teacher_token);
        std::string current = r.str("current_slide_id");
        if (first_page_us < 0 && current != "<null>" && current != "<missing>")
          first_page_us = g_get_monotonic_time() - upload_at;
        return r.str("deck.status") == "ready";
      },
      120000);
  if (!ready) return 1;

  WsClient teacher(server.port(), "sync", teacher_token);
  if (!teacher.wait_for("authenticated", nullptr)) return 1;
  std::vector<std::unique_ptr<WsClient>> socks;
  for (int i = 0; i < students; i++) {
    socks.push_back(std::make_unique<WsClient>(server.port(), "sync",
                                               sign("s-" + std::to_string(i), Role::kStudent)));
    if (!socks.back()->wait_for("authenticated", nullptr)) return 1;
  }
  spin_for(1000);
  for (auto &s : socks)
    s->take_all("slide-sync");
  teacher.take_all("slide-sync");

  // Each move: note when it was sent, then when each socket has it.
  std::vector<double> latencies;
  int64_t delivered = 0;
  for (int m = 0; m < moves; m++) {
    const char *action = m % 2 == 0 ? "next" : "previous";
    int64_t sent = g_get_monotonic_time();
    teacher.send(json_msg("slide-sync", {{"action", action}}));
    std::vector<bool> got(socks.size(), false);
    size_t count = 0;
    spin_until(
        [&] {
          int64_t now = g_get_monotonic_time();
          for (size_t i = 0; i < socks.size(); i++)
            if (!got[i] && !socks[i]->take_all("slide-sync").empty()) {
              got[i] = true;
              count++;
              latencies.push_back((now - sent) / 1000.0);
            }
          return count == socks.size();
        },
        5000);
    delivered += static_cast<int64_t>(count);
    teacher.take_all("slide-sync");
    spin_for(200);
  }

  JsonObjectWriter w;
  w.num("first_page_after_upload_s", first_page_us / 1e6)
      .num("students", int64_t{students})
      .num("moves", int64_t{moves})
      .num("delivered", delivered)
      .num("expected", int64_t{students} * moves)
      .num("latency_ms_p50", percentile(latencies, 50))
      .num("latency_ms_p95", percentile(latencies, 95))
      .num("latency_ms_p99", percentile(latencies, 99))
      .num("latency_ms_max", percentile(latencies, 100));
  printf("%s\n", w.finish().c_str());
  socks.clear();
  int status = server.stop();
  std::string rm = std::string("rm -rf '") + dir + "'";
  if (system(rm.c_str()) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return status == 0 ? 0 : 1;
}
