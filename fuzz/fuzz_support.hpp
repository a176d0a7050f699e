// What every fuzz target shares: a check that ends the run as a crash (so libFuzzer keeps the
// input), and quiet logs (a log line per input would slow the run to a crawl and tell nothing).
#pragma once

#include <fcntl.h>
#include <glib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/log.hpp"

#define FUZZ_CHECK(cond)                                                                         \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      dprintf(gramothi::fuzz::report_fd(), "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, \
              #cond);                                                                            \
      std::abort();                                                                              \
    }                                                                                            \
  } while (0)

namespace gramothi::fuzz {

// Where FUZZ_CHECK and fatal GLib messages go: stderr, or the copy of it that
// discard_library_stderr() keeps.
inline int &report_fd() {
  static int fd = STDERR_FILENO;
  return fd;
}

// For a target whose libraries write to stderr themselves, thousands of lines a minute
// (Poppler's "some font thing failed", libjpeg's "Corrupt JPEG data"): call it first in
// LLVMFuzzerInitialize, with its arguments. It adds -close_fd_mask=2, with which libFuzzer sends
// the process's stderr to /dev/null and keeps its own output and the sanitizers' reports
// (crashes, leaks, timeouts, the final stats) on a copy of the original; FUZZ_CHECK's and
// GLib's fatal messages go to a copy of their own. Nothing that reports a finding is lost.
inline void discard_library_stderr(int *argc, char ***argv) {
  int copy = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) return;  // keep stderr as it is
  report_fd() = copy;
  static std::vector<char *> args;
  static char flag[] = "-close_fd_mask=2";
  args.assign(*argv, *argv + *argc);
  args.push_back(flag);
  args.push_back(nullptr);
  *argv = args.data();
  *argc = static_cast<int>(args.size()) - 1;
}

// Errors only from our own log, none from GLib's default handler below warnings; a critical
// (a GLib precondition failed: our code handed it something it refuses) is a crash.
inline void quiet_logs() {
  log_set_level(LogLevel::kError);
  g_log_set_always_fatal(static_cast<GLogLevelFlags>(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR));
  g_log_set_writer_func(
      [](GLogLevelFlags level, const GLogField *fields, gsize n, gpointer) {
        if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR)) {
          g_autofree char *text = g_log_writer_format_fields(level, fields, n, FALSE);
          dprintf(report_fd(), "%s\n", text);
        }
        return G_LOG_WRITER_HANDLED;
      },
      nullptr, nullptr);
}

// The input up to the first `sep`, and the rest after it (all of it when there is no `sep`).
inline std::pair<std::string, std::string> split_first(const uint8_t *data, size_t size, char sep) {
  std::string all(reinterpret_cast<const char *>(data), size);
  size_t at = all.find(sep);
  if (at == std::string::npos) return {"", all};
  return {all.substr(0, at), all.substr(at + 1)};
}

}  // namespace gramothi::fuzz
