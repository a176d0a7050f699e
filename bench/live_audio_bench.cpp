// Live-audio fan-out benchmark: the real server, one teacher (in this process) and N listeners
// spread over several worker processes, all real webrtcbin peers over the real WebSocket.
// Prints one JSON line: listeners connected, join time (listen -> first RTP packet)
// p50/p95/p99, packets delivered vs expected, server CPU/RSS/threads (and per listener), and
// mouth-to-ear latency (the teacher's tone onset -> the onset decoded at a listener) p50/p95,
// and the CPU the load clients (teacher + workers) used, since they share the machine.
//
//   live_audio_bench [--listeners 150] [--workers 4] [--join-rate 10] [--measure 20]
//                    [--profile medium] [--decoders 10] [--transport lite|webrtcbin]
//                    [--clients lite|webrtcbin]
//
// Run it through bench/run-live-audio, which builds it and runs it in a private network
// namespace (loopback only). Listeners join at --join-rate per second; once all have joined
// and settled, packets are counted for --measure seconds while the teacher beeps (400 ms of
// 440 Hz every 1.5 s); one listener in every N/--decoders decodes audio to time the beeps.
// Decoding listeners are always webrtcbins; the others are LiteClients (ICE, DTLS, SRTP
// without a media stack, see tests/media/lite_client.hpp) unless --clients webrtcbin; with light
// clients the decoders run in a process of their own beside the --workers. --transport picks
// the server's listener transport (webrtcbin needs webrtcbin clients).
#include <glib/gstdio.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "../tests/http/server_process.hpp"
#include "../tests/media/lite_client.hpp"
#include "../tests/media/webrtc_peer.hpp"
#include "auth/jwt.hpp"
#include "base/json.hpp"
#include "config/profiles.hpp"
#include "percentile.hpp"
#include "proc_sample.hpp"

using namespace gramothi;

namespace {

const std::string kSecret = "bench-secret-0123456789abcdef-0123456789";

std::string sign(const std::string &user, Role role) {
  return test_token(kSecret, user, role, {"bench"});
}

// ---- worker: a share of the listeners ----

// argv: --worker PORT CLASS FIRST STEP COUNT T0_US JOIN_INTERVAL_US END_US WIN_START_US
//       WIN_END_US DECODE_EVERY PROFILE CLIENTS MODE
// MODE: "all" (every listener of its share), "light" (not the decoding ones), "decoders" (only
// them): with light clients the decoders get a process of their own, so that a webrtcbin's
// set-up (hundreds of milliseconds of the process's main loop) never holds up a light join.
int run_worker(char **a) {
  int port = atoi(a[0]);
  std::string class_id = a[1];
  int first = atoi(a[2]), step = atoi(a[3]), count = atoi(a[4]);
  int64_t t0 = g_ascii_strtoll(a[5], nullptr, 10);
  int64_t interval = g_ascii_strtoll(a[6], nullptr, 10);
  int64_t end = g_ascii_strtoll(a[7], nullptr, 10);
  int64_t win_start = g_ascii_strtoll(a[8], nullptr, 10);
  int64_t win_end = g_ascii_strtoll(a[9], nullptr, 10);
  int decode_every = atoi(a[10]);
  std::string profile = a[11];
  bool lite_clients = std::string(a[12]) == "lite";
  std::string mode = a[13];
  std::shared_ptr<DtlsIdentity> identity;
  if (lite_clients) {
    auto id = DtlsIdentity::generate();
    if (!id) return 1;
    identity = *id;
  }

  struct Slot {
    int index;
    std::unique_ptr<WsClient> ws;
    std::unique_ptr<ListenerPeer> peer;
    std::unique_ptr<LiteClient> lite;
    int64_t listen_at = 0;
  };
  std::vector<Slot> slots;
  for (int k = 0; k < count; k++) {
    int index = first + k * step;
    if (mode == "light" && decode_every > 0 && index % decode_every == 0) continue;
    Slot s;
    s.index = index;
    // Join at the global rate: listener i at t0 + i * interval.
    int64_t at = t0 + index * interval;
    spin_until([&] { return g_get_monotonic_time() >= at; }, 600000);
    s.ws = std::make_unique<WsClient>(port, class_id,
                                      sign("bench-" + std::to_string(index), Role::kStudent));
    if (s.ws->connected() && s.ws->wait_for("authenticated", nullptr, 10000)) {
      bool decode = decode_every > 0 && index % decode_every == 0;
      s.listen_at = g_get_monotonic_time();
      if (lite_clients && !decode) {
        s.lite = std::make_unique<LiteClient>(*s.ws, identity);
        s.lite->listen(profile);
      } else {
        s.peer = std::make_unique<ListenerPeer>(*s.ws, decode);
        s.peer->listen(profile);
      }
    }
    slots.push_back(std::move(s));
  }
  spin_until([&] { return g_get_monotonic_time() >= end; }, 600000);

  for (auto &s : slots) {
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "index");
    json_builder_add_int_value(b, s.index);
    int64_t join_us = -1, in_window = 0, seq_span = 0;
    std::vector<int64_t> onsets;
    if (s.peer || s.lite) {
      auto packets = s.peer ? s.peer->packets() : s.lite->packets();
      if (!packets.empty()) join_us = packets.front().arrival_us - s.listen_at;
      int64_t first_seq = -1, last_seq = -1;
      uint32_t unwrap = 0;
      int64_t prev = -1;
      for (const auto &p : packets) {
        int64_t seq = p.seq + unwrap;
        if (prev >= 0 && seq < prev - 30000) {
          unwrap += 65536;
          seq += 65536;
        }
        prev = seq;
        if (p.arrival_us < win_start || p.arrival_us >= win_end) continue;
        in_window++;
        if (first_seq < 0) first_seq = seq;
        last_seq = seq;
      }
      if (first_seq >= 0) seq_span = last_seq - first_seq + 1;
      if (s.peer) onsets = s.peer->onsets();
    }
    json_builder_set_member_name(b, "join_us");
    json_builder_add_int_value(b, join_us);
    // Which client joined: the light one (as the issue's pion load) or a webrtcbin decoder.
    json_builder_set_member_name(b, "light");
    json_builder_add_boolean_value(b, s.lite != nullptr);
    json_builder_set_member_name(b, "received");
    json_builder_add_int_value(b, in_window);
    json_builder_set_member_name(b, "seq_span");
    json_builder_add_int_value(b, seq_span);
    json_builder_set_member_name(b, "onsets");
    json_builder_begin_array(b);
    for (int64_t o : onsets)
      json_builder_add_int_value(b, o);
    json_builder_end_array(b);
    json_builder_end_object(b);
    JsonNode *root = json_builder_get_root(b);
    g_autofree char *line = json_to_string(root, FALSE);
    printf("%s\n", line);
    json_node_unref(root);
    g_object_unref(b);
  }
  fflush(stdout);
  return 0;
}

// ---- coordinator ----

int run(int argc, char **argv) {
  int listeners = 150, workers = 4, decoders = 10;
  double join_rate = 10, measure_s = 20;
  g_autofree char *profile_arg = nullptr, *transport_arg = nullptr, *clients_arg = nullptr;
  GOptionEntry entries[] = {
      {"listeners", 'n', 0, G_OPTION_ARG_INT, &listeners, "Listeners (150)", "N"},
      {"workers", 'w', 0, G_OPTION_ARG_INT, &workers, "Listener processes (4)", "P"},
      {"join-rate", 'r', 0, G_OPTION_ARG_DOUBLE, &join_rate, "Joins per second (10)", "R"},
      {"measure", 'm', 0, G_OPTION_ARG_DOUBLE, &measure_s, "Measured seconds (20)", "S"},
      {"profile", 'p', 0, G_OPTION_ARG_STRING, &profile_arg, "Listeners' profile (medium)", "P"},
      {"decoders", 'd', 0, G_OPTION_ARG_INT, &decoders, "Listeners that decode audio (10)", "D"},
      {"transport", 't', 0, G_OPTION_ARG_STRING, &transport_arg,
       "Server's listener transport: lite (default) or webrtcbin", "T"},
      {"clients", 'c', 0, G_OPTION_ARG_STRING, &clients_arg,
       "Non-decoding load clients: lite (default) or webrtcbin", "C"},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  g_autoptr(GOptionContext) ctx = g_option_context_new("- live-audio fan-out benchmark");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_autoptr(GError) err = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
    fprintf(stderr, "%s\n", err->message);
    return 2;
  }
  std::string profile = profile_arg ? profile_arg : "medium";
  std::string transport = transport_arg ? transport_arg : "lite";
  std::string clients = clients_arg ? clients_arg : "lite";
  if (transport == "webrtcbin") clients = "webrtcbin";  // a lite client needs an ICE-lite server
  if ((transport != "lite" && transport != "webrtcbin") ||
      (clients != "lite" && clients != "webrtcbin")) {
    fprintf(stderr, "--transport and --clients take lite or webrtcbin\n");
    return 2;
  }
  if (listeners < 1 || workers < 1 || join_rate <= 0 || measure_s < 1) return 2;
  workers = std::min(workers, listeners);
  int decode_every = decoders > 0 ? std::max(1, listeners / decoders) : 0;

  g_autofree char *dir = g_dir_make_tmp("gramothi-bench-XXXXXX", nullptr);
  std::string config =
      std::string("[server]\nlisten_address=127.0.0.1\nport=0\n[storage]\ndata_dir=") + dir +
      "/data\n[auth]\njwt_secret=" + kSecret +
      "\n[media]\nice_addresses=127.0.0.1\nlistener_transport=" + transport +
      "\n[plugins]\nload=rest;signaling\ndir=" + g_getenv("GRAMOTHI_PLUGIN_DIR") +
      "\n[plugin.signaling]\nrate_per_second=50\n";
  std::string config_path = std::string(dir) + "/gramothi.ini";
  g_file_set_contents(config_path.c_str(), config.c_str(), -1, nullptr);
  ServerProcess server;
  server.start(config_path, std::string(dir) + "/server.log", "info");
  HttpClient http(server.base());
  auto started = http.post("/api/v1/streaming/start", sign("teacher-b", Role::kTeacher),
                           "{\"class_id\":\"bench\"}");
  if (started.status != 200) {
    fprintf(stderr, "start failed: %s\n", started.body.c_str());
    return 1;
  }

  WsClient tws(server.port(), "bench", sign("teacher-b", Role::kTeacher));
  if (!tws.wait_for("authenticated", nullptr, 10000)) return 1;
  TeacherPeer teacher(tws, 440);
  teacher.set_audible(false);
  teacher.publish();
  if (!spin_until([&] { return teacher.connected(); }, 20000)) {
    fprintf(stderr, "the teacher did not connect\n%s", server.log().c_str());
    return 1;
  }
  spin_for(1000);
  ProcSample baseline = sample_proc(server.pid());

  // Schedule: listener i joins at t0 + i/rate; the window opens 5 s after the last join.
  int64_t now = g_get_monotonic_time();
  int64_t t0 = now + 2 * G_USEC_PER_SEC;
  int64_t interval = static_cast<int64_t>(G_USEC_PER_SEC / join_rate);
  int64_t win_start = t0 + listeners * interval + 5 * G_USEC_PER_SEC;
  int64_t win_end = win_start + static_cast<int64_t>(measure_s * G_USEC_PER_SEC);
  int64_t end = win_end + G_USEC_PER_SEC;

  const char *self = g_getenv("GRAMOTHI_BENCH_SELF") ? g_getenv("GRAMOTHI_BENCH_SELF") : argv[0];
  std::vector<GSubprocess *> procs;
  // With light clients the decoders have a process of their own (the last one).
  bool own_decoders = clients == "lite" && decode_every > 0;
  for (int w = 0; w < workers + (own_decoders ? 1 : 0); w++) {
    bool decoders_only = w == workers;
    int first = decoders_only ? 0 : w, step = decoders_only ? decode_every : workers;
    int count = (listeners - first + step - 1) / step;
    std::string mode = decoders_only ? "decoders" : own_decoders ? "light" : "all";
    std::vector<std::string> args = {self,
                                     "--worker",
                                     std::to_string(server.port()),
                                     "bench",
                                     std::to_string(first),
                                     std::to_string(step),
                                     std::to_string(count),
                                     std::to_string(t0),
                                     std::to_string(interval),
                                     std::to_string(end),
                                     std::to_string(win_start),
                                     std::to_string(win_end),
                                     std::to_string(decode_every),
                                     profile,
                                     clients,
                                     mode};
    std::vector<const char *> cargv;
    for (auto &s : args)
      cargv.push_back(s.c_str());
    cargv.push_back(nullptr);
    g_autoptr(GError) e = nullptr;
    GSubprocess *p = g_subprocess_newv(cargv.data(), G_SUBPROCESS_FLAGS_STDOUT_PIPE, &e);
    if (!p) {
      fprintf(stderr, "worker: %s\n", e->message);
      return 1;
    }
    procs.push_back(p);
  }

  // Beep during the window; sample the server at its edges.
  spin_until([&] { return g_get_monotonic_time() >= win_start; }, 3600 * 1000);
  ProcSample at_start = sample_proc(server.pid());
  auto clients_cpu = [&] {
    double total = sample_proc(getpid()).cpu_s;  // the teacher lives here
    for (GSubprocess *p : procs)
      if (const char *id = g_subprocess_get_identifier(p)) total += sample_proc(atoi(id)).cpu_s;
    return total;
  };
  double clients_at_start = clients_cpu();
  std::vector<int64_t> beeps;
  while (g_get_monotonic_time() + 1500000 < win_end) {
    beeps.push_back(teacher.set_audible(true));
    spin_for(400);
    teacher.set_audible(false);
    spin_for(1100);
  }
  spin_until([&] { return g_get_monotonic_time() >= win_end; }, 3600 * 1000);
  ProcSample at_end = sample_proc(server.pid());
  double clients_at_end = clients_cpu();

  // Collect the workers' lines.
  std::vector<double> joins, joins_light, joins_decoding, latencies;
  int64_t received = 0, seq_span = 0;
  int connected = 0, reported = 0;
  for (GSubprocess *p : procs) {
    bool done = false;
    char *out = nullptr;
    struct Ctx {
      bool *done;
      char **out;
    } c{&done, &out};
    g_subprocess_communicate_utf8_async(
        p, nullptr, nullptr,
        [](GObject *src, GAsyncResult *res, gpointer data) {
          auto *c = static_cast<Ctx *>(data);
          g_subprocess_communicate_utf8_finish(G_SUBPROCESS(src), res, c->out, nullptr, nullptr);
          *c->done = true;
        },
        &c);
    spin_until([&] { return done; }, 120000);
    g_auto(GStrv) lines = g_strsplit(out ? out : "", "\n", -1);
    g_free(out);
    for (char **l = lines; *l; l++) {
      if (!**l) continue;
      g_autoptr(JsonParser) parser = json_parser_new();
      if (!json_parser_load_from_data(parser, *l, -1, nullptr)) continue;
      JsonObject *o = json_node_get_object(json_parser_get_root(parser));
      reported++;
      int64_t join = json_object_get_int_member(o, "join_us");
      if (join >= 0) {
        connected++;
        joins.push_back(join / 1000.0);
        (json_object_get_boolean_member_with_default(o, "light", FALSE) ? joins_light
                                                                        : joins_decoding)
            .push_back(join / 1000.0);
      }
      received += json_object_get_int_member(o, "received");
      seq_span += json_object_get_int_member(o, "seq_span");
      JsonArray *onsets = json_object_get_array_member(o, "onsets");
      for (guint k = 0; k < json_array_get_length(onsets); k++) {
        int64_t at = json_array_get_int_element(onsets, k);
        if (at < win_start || at >= win_end) continue;
        // The beep this onset belongs to: the latest one before it, within a second.
        int64_t best = -1;
        for (int64_t b : beeps)
          if (b <= at && at - b < G_USEC_PER_SEC) best = b;
        if (best >= 0) latencies.push_back((at - best) / 1000.0);
      }
    }
    g_object_unref(p);
  }

  const BandwidthProfile *bp = nullptr;
  auto profiles =
      ProfileSet::load(std::string(g_getenv("GRAMOTHI_SOURCE_ROOT")) + "/pipelines/profiles.ini");
  if (profiles) bp = profiles->find(profile);
  double frame_ms = bp ? bp->opus_frame_ms : 20;
  double expected = listeners * measure_s * 1000.0 / frame_ms;
  double window_s = (win_end - win_start) / 1e6;
  double cpu_pct = (at_end.cpu_s - at_start.cpu_s) / window_s * 100.0;

  JsonObjectWriter w;
  w.num("listeners", int64_t{listeners})
      .num("connected", int64_t{connected})
      .num("workers", int64_t{workers})
      .str("profile", profile)
      .str("transport", transport)
      .str("clients", clients)
      .raw("join_rate_per_s", std::to_string(join_rate))
      .raw("join_ms_p50", std::to_string(percentile(joins, 50)))
      .raw("join_ms_p95", std::to_string(percentile(joins, 95)))
      .raw("join_ms_p99", std::to_string(percentile(joins, 99)))
      .raw("join_ms_max", std::to_string(percentile(joins, 100)))
      // The same for the light clients alone, and the slowest of the webrtcbin decoders.
      .num("joins_light", static_cast<int64_t>(joins_light.size()))
      .raw("join_ms_p95_light", std::to_string(percentile(joins_light, 95)))
      .raw("join_ms_max_light", std::to_string(percentile(joins_light, 100)))
      .num("joins_decoding", static_cast<int64_t>(joins_decoding.size()))
      .raw("join_ms_max_decoding", std::to_string(percentile(joins_decoding, 100)))
      .num("packets_received", received)
      .raw("packets_expected", std::to_string(static_cast<int64_t>(expected)))
      .raw("delivered_vs_expected", std::to_string(expected > 0 ? received / expected : 0))
      .raw("delivered_vs_sequence", std::to_string(seq_span > 0 ? double(received) / seq_span : 0))
      .raw("server_cpu_pct_of_one_core", std::to_string(cpu_pct))
      .raw("clients_cpu_pct_of_one_core",
           std::to_string((clients_at_end - clients_at_start) / window_s * 100.0))
      .raw("server_rss_mb", std::to_string(at_end.rss_mb))
      .num("server_threads", int64_t{at_end.threads})
      .raw("rss_mb_per_listener",
           std::to_string((at_end.rss_mb - baseline.rss_mb) / std::max(1, connected)))
      .raw("threads_per_listener",
           std::to_string(double(at_end.threads - baseline.threads) / std::max(1, connected)))
      .num("mouth_to_ear_samples", static_cast<int64_t>(latencies.size()))
      .raw("mouth_to_ear_ms_p50", std::to_string(percentile(latencies, 50)))
      .raw("mouth_to_ear_ms_p95", std::to_string(percentile(latencies, 95)));
  printf("%s\n", w.finish().c_str());
  fflush(stdout);
  if (reported != listeners)
    fprintf(stderr, "only %d of %d listeners reported\n", reported, listeners);

  if (g_getenv("GRAMOTHI_BENCH_LOG")) fputs(server.log().c_str(), stderr);
  int status = server.stop();
  std::string rm = std::string("rm -rf '") + dir + "'";
  if (system(rm.c_str()) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return status == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  if (argc >= 16 && strcmp(argv[1], "--worker") == 0) return run_worker(argv + 2);
  return run(argc, argv);
}
