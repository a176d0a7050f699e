#include "base/log.hpp"

#include <glib.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace gramothi {
namespace {

std::atomic<int> g_threshold{static_cast<int>(LogLevel::kInfo)};

LogLevel level_from_glib(GLogLevelFlags flags) {
  if (flags & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) return LogLevel::kError;
  if (flags & G_LOG_LEVEL_WARNING) return LogLevel::kWarning;
  if (flags & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO)) return LogLevel::kInfo;
  return LogLevel::kDebug;
}

const char *level_tag(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO ";
    case LogLevel::kWarning:
      return "WARN ";
    case LogLevel::kError:
      return "ERROR";
  }
  return "?    ";
}

void write_line(LogLevel level, std::string_view component, std::string_view message) {
  if (static_cast<int>(level) < g_threshold.load(std::memory_order_relaxed)) return;
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  g_autofree char *stamp = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S");
  std::string line = std::string(stamp) + "." +
                     std::to_string(g_date_time_get_microsecond(now) / 1000 + 1000).substr(1) +
                     "Z " + level_tag(level) + " gramothi[" + std::string(component) +
                     "]: " + std::string(message) + "\n";
  fputs(line.c_str(), stderr);
}

GLogWriterOutput writer(GLogLevelFlags flags, const GLogField *fields, gsize n_fields, gpointer) {
  const char *domain = "glib";
  const char *message = "";
  for (gsize i = 0; i < n_fields; i++) {
    if (g_strcmp0(fields[i].key, "GLIB_DOMAIN") == 0 && fields[i].length < 0)
      domain = static_cast<const char *>(fields[i].value);
    else if (g_strcmp0(fields[i].key, "MESSAGE") == 0 && fields[i].length < 0)
      message = static_cast<const char *>(fields[i].value);
  }
  write_line(level_from_glib(flags), domain, message);
  return G_LOG_WRITER_HANDLED;
}

}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warning" || name == "warn") return LogLevel::kWarning;
  if (name == "error") return LogLevel::kError;
  return std::nullopt;
}

bool log_init() {
  g_log_set_writer_func(writer, nullptr, nullptr);
  const char *env = g_getenv("LOG_LEVEL");
  if (!env || !*env) return true;
  auto level = parse_log_level(env);
  if (!level) {
    write_line(LogLevel::kError, "core",
               std::string("LOG_LEVEL='") + env + "' is not one of debug, info, warning, error");
    return false;
  }
  log_set_level(*level);
  return true;
}

void log_set_level(LogLevel level) {
  g_threshold.store(static_cast<int>(level));
}
LogLevel log_level() {
  return static_cast<LogLevel>(g_threshold.load());
}

void log_message(LogLevel level, std::string_view component, std::string_view message) {
  write_line(level, component, message);
}

}  // namespace gramothi
