// What every fuzz target shares: a check that ends the run as a crash (so libFuzzer keeps the
// input), and quiet logs (a log line per input would slow the run to a crawl and tell nothing).
#pragma once

#include <glib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "base/log.hpp"

#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

namespace gramothi::fuzz {

// Errors only from our own log, none from GLib's default handler below warnings; a critical
// (a GLib precondition failed: our code handed it something it refuses) is a crash.
inline void quiet_logs() {
  log_set_level(LogLevel::kError);
  g_log_set_always_fatal(static_cast<GLogLevelFlags>(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR));
  g_log_set_writer_func(
      [](GLogLevelFlags level, const GLogField *fields, gsize n, gpointer) {
        if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR))
          return g_log_writer_standard_streams(level, fields, n, nullptr);
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
