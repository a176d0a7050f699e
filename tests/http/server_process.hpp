// ServerProcess: runs the real `gramothi serve` binary for integration tests, on a free
// loopback port, with a config file the test writes; reads the bound port from its banner.
// HttpClient: blocking libsoup requests against it.
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <libpq-fe.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <sys/prctl.h>

#include <memory>
#include <stdexcept>
#include <map>
#include <string>

#include "auth/jwt.hpp"

class ServerProcess {
 public:
  ServerProcess() = default;
  ServerProcess(const ServerProcess &) = delete;
  ServerProcess &operator=(const ServerProcess &) = delete;
  ~ServerProcess() { kill(); }

  // Starts the server and waits (up to 30 s) for its banner. Throws on failure, with the log.
  void start(const std::string &config_path, const std::string &log_path,
             const char *log_level = "debug") {
    log_path_ = log_path;
    const char *bin = g_getenv("GRAMOTHI_BIN");
    if (!bin) throw std::runtime_error("GRAMOTHI_BIN is not set");
    g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    g_subprocess_launcher_set_stderr_file_path(l, log_path.c_str());
    g_subprocess_launcher_setenv(l, "LOG_LEVEL", log_level, TRUE);
    // A test that dies (a crash, a fatal critical) takes its server with it, instead of leaving
    // it running to load the machine for the next suites.
    g_subprocess_launcher_set_child_setup(
        l, [](gpointer) { prctl(PR_SET_PDEATHSIG, SIGKILL); }, nullptr, nullptr);
    g_autoptr(GError) err = nullptr;
    proc_ = g_subprocess_launcher_spawn(l, &err, bin, "serve", "--config", config_path.c_str(),
                                        nullptr);
    if (!proc_) throw std::runtime_error(std::string("spawn: ") + err->message);
    g_autoptr(GDataInputStream) out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(proc_));
    int64_t deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    while (g_get_monotonic_time() < deadline) {
      g_autofree char *line = g_data_input_stream_read_line(out, nullptr, nullptr, nullptr);
      if (!line) break;
      const char *at = strstr(line, "is listening on http://");
      if (at) {
        const char *colon = strrchr(at, ':');
        port_ = atoi(colon + 1);
        base_ = "http://127.0.0.1:" + std::to_string(port_);
        return;
      }
    }
    throw std::runtime_error("the server did not start; its log:\n" + log());
  }

  // SIGTERM and wait; returns the exit status (-1 if it had to be killed).
  int stop() {
    if (!proc_) return -1;
    g_subprocess_send_signal(proc_, SIGTERM);
    bool done = false;
    g_subprocess_wait_async(
        proc_, nullptr,
        [](GObject *, GAsyncResult *, gpointer p) { *static_cast<bool *>(p) = true; }, &done);
    int64_t deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!done && g_get_monotonic_time() < deadline) {
      if (!g_main_context_iteration(nullptr, FALSE)) g_usleep(5000);
    }
    if (!done) {
      kill();
      return -1;
    }
    int status = g_subprocess_get_if_exited(proc_) ? g_subprocess_get_exit_status(proc_) : -1;
    g_clear_object(&proc_);
    return status;
  }

  // False once the process has exited (GLib reaps it in the background).
  bool running() const { return proc_ && g_subprocess_get_identifier(proc_) != nullptr; }

  void kill() {
    if (!proc_) return;
    g_subprocess_force_exit(proc_);
    g_subprocess_wait(proc_, nullptr, nullptr);
    g_clear_object(&proc_);
  }

  std::string log() const {
    g_autofree char *data = nullptr;
    g_file_get_contents(log_path_.c_str(), &data, nullptr, nullptr);
    return data ? data : "";
  }

  const std::string &base() const { return base_; }
  int port() const { return port_; }
  // The server's process id, or 0 when it is not running.
  int pid() const {
    const char *id = proc_ ? g_subprocess_get_identifier(proc_) : nullptr;
    return id ? atoi(id) : 0;
  }

 private:
  GSubprocess *proc_ = nullptr;
  std::string log_path_;
  std::string base_;
  int port_ = 0;
};

struct HttpResponse {
  unsigned status = 0;
  std::string body;
  std::string content_type;
  std::map<std::string, std::string> headers;  // names in lower case
  // Parsed body (null node when the body is not JSON).
  JsonNode *json() {
    if (!parsed_) {
      parser_ = json_parser_new();
      if (json_parser_load_from_data(parser_, body.c_str(), static_cast<gssize>(body.size()),
                                     nullptr))
        parsed_ = json_parser_get_root(parser_);
    }
    return parsed_;
  }
  std::string str(const char *path) {  // "error.code" style lookup of a string member
    JsonNode *n = json();
    g_auto(GStrv) parts = g_strsplit(path, ".", -1);
    for (int i = 0; n && parts[i]; i++) {
      if (!JSON_NODE_HOLDS_OBJECT(n)) return "<not an object>";
      JsonObject *o = json_node_get_object(n);
      n = json_object_has_member(o, parts[i]) ? json_object_get_member(o, parts[i]) : nullptr;
    }
    if (!n) return "<missing>";
    if (JSON_NODE_HOLDS_NULL(n)) return "<null>";
    if (json_node_get_value_type(n) == G_TYPE_STRING) return json_node_get_string(n);
    if (json_node_get_value_type(n) == G_TYPE_INT64) return std::to_string(json_node_get_int(n));
    if (json_node_get_value_type(n) == G_TYPE_BOOLEAN)
      return json_node_get_boolean(n) ? "true" : "false";
    return "<other>";
  }
  ~HttpResponse() {
    if (parser_) g_object_unref(parser_);
  }
  HttpResponse() = default;
  HttpResponse(HttpResponse &&o) noexcept
      : status(o.status),
        body(std::move(o.body)),
        content_type(std::move(o.content_type)),
        headers(std::move(o.headers)) {}
  HttpResponse &operator=(HttpResponse &&o) noexcept {
    if (this == &o) return *this;
    if (parser_) g_object_unref(parser_);
    parser_ = nullptr;
    parsed_ = nullptr;
    status = o.status;
    body = std::move(o.body);
    content_type = std::move(o.content_type);
    headers = std::move(o.headers);
    return *this;
  }

 private:
  JsonParser *parser_ = nullptr;
  JsonNode *parsed_ = nullptr;
};

class HttpClient {
 public:
  explicit HttpClient(std::string base) : base_(std::move(base)), session_(soup_session_new()) {
    soup_session_set_timeout(session_, 20);
  }
  ~HttpClient() { g_object_unref(session_); }

  HttpResponse request(const std::string &method, const std::string &path,
                       const std::string &token = "", const std::string *body = nullptr,
                       const char *content_type = "application/json",
                       const std::map<std::string, std::string> &extra_headers = {}) {
    std::string url = base_ + path;
    g_autoptr(SoupMessage) msg = soup_message_new(method.c_str(), url.c_str());
    if (!msg) throw std::runtime_error("bad url " + url);
    SoupMessageHeaders *h = soup_message_get_request_headers(msg);
    if (!token.empty())
      soup_message_headers_replace(h, "Authorization", ("Bearer " + token).c_str());
    for (const auto &[k, v] : extra_headers)
      soup_message_headers_replace(h, k.c_str(), v.c_str());
    if (body) {
      g_autoptr(GBytes) b = g_bytes_new(body->data(), body->size());
      soup_message_set_request_body_from_bytes(msg, content_type, b);
    }
    g_autoptr(GError) err = nullptr;
    g_autoptr(GBytes) out = soup_session_send_and_read(session_, msg, nullptr, &err);
    HttpResponse r;
    if (!out) throw std::runtime_error(method + " " + path + ": " + err->message);
    r.status = soup_message_get_status(msg);
    gsize len = 0;
    auto *data = static_cast<const char *>(g_bytes_get_data(out, &len));
    r.body.assign(data ? data : "", len);
    const char *ct =
        soup_message_headers_get_content_type(soup_message_get_response_headers(msg), nullptr);
    r.content_type = ct ? ct : "";
    soup_message_headers_foreach(
        soup_message_get_response_headers(msg),
        [](const char *name, const char *value, gpointer out) {
          g_autofree char *lower = g_ascii_strdown(name, -1);
          (*static_cast<std::map<std::string, std::string> *>(out))[lower] = value;
        },
        &r.headers);
    return r;
  }
  HttpResponse get(const std::string &path, const std::string &token = "") {
    return request("GET", path, token);
  }
  HttpResponse post(const std::string &path, const std::string &token, const std::string &body,
                    const char *content_type = "application/json") {
    return request("POST", path, token, &body, content_type);
  }

 private:
  std::string base_;
  SoupSession *session_;
};

// A token for `user` signed with `secret`, valid for an hour, granted `classes` (to teach them
// for teachers and admins, to attend them for students): what the school's backend hands out.
inline std::string test_token(const std::string &secret, const std::string &user,
                              gramothi::Role role, const std::vector<std::string> &classes = {}) {
  gramothi::TokenClaims c{user, role, 0, g_get_real_time() / G_USEC_PER_SEC + 3600};
  (role == gramothi::Role::kStudent ? c.classes : c.teaches) = classes;
  return gramothi::JwtCodec(secret).sign(c);
}
