// A process's CPU time (user + system), resident memory and thread count, read from /proc.
#pragma once

#include <glib.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

struct ProcSample {
  double cpu_s = 0;
  double rss_mb = 0;
  int threads = 0;
};

inline ProcSample sample_proc(int pid) {
  ProcSample s;
  g_autofree char *stat = nullptr;
  std::string base = "/proc/" + std::to_string(pid);
  if (g_file_get_contents((base + "/stat").c_str(), &stat, nullptr, nullptr)) {
    // Fields after the ")" of the command name: state is field 3; utime 14, stime 15.
    const char *p = strrchr(stat, ')');
    g_auto(GStrv) f = g_strsplit(p ? p + 2 : "", " ", -1);
    if (g_strv_length(f) > 13)
      s.cpu_s = (g_ascii_strtod(f[11], nullptr) + g_ascii_strtod(f[12], nullptr)) /
                static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  g_autofree char *status = nullptr;
  if (g_file_get_contents((base + "/status").c_str(), &status, nullptr, nullptr)) {
    if (const char *r = strstr(status, "VmRSS:")) s.rss_mb = g_ascii_strtod(r + 6, nullptr) / 1024;
    if (const char *t = strstr(status, "Threads:")) s.threads = atoi(t + 8);
  }
  return s;
}
