// Logging: GLib structured logging to stderr, one line per record:
//   2026-11-24T10:00:00.123Z INFO  gramothi[rest]: message
// LOG_LEVEL=debug|info|warning|error sets the threshold (default info).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gramothi {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Installs the writer; reads LOG_LEVEL. Returns false (and logs why) for an unknown value.
bool log_init();
void log_set_level(LogLevel level);
LogLevel log_level();
std::optional<LogLevel> parse_log_level(std::string_view name);

// `component` names the part ("core", "storage", a plugin name).
void log_message(LogLevel level, std::string_view component, std::string_view message);

}  // namespace gramothi
