// Helpers shared by unit tests: a temporary directory that removes itself.
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include <string>

class TempDir {
 public:
  TempDir() {
    g_autoptr(GError) err = nullptr;
    char *p = g_dir_make_tmp("gramothi-test-XXXXXX", &err);
    path_ = p ? p : "";
    g_free(p);
  }
  ~TempDir() {
    if (path_.empty()) return;
    std::string cmd = "rm -rf '" + path_ + "'";
    if (system(cmd.c_str()) != 0) g_warning("could not remove %s", path_.c_str());
  }
  const std::string &path() const { return path_; }
  std::string file(const std::string &name, const std::string &contents) const {
    std::string p = path_ + "/" + name;
    g_file_set_contents(p.c_str(), contents.c_str(), static_cast<gssize>(contents.size()), nullptr);
    return p;
  }

 private:
  std::string path_;
};
