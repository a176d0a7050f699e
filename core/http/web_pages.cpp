#include "http/web_pages.hpp"

#include <gio/gio.h>

#include <cstring>

namespace gramothi {
namespace {

constexpr size_t kMaxFile = 2 * 1024 * 1024;

std::string content_type_for(const std::string &name) {
  static const std::pair<const char *, const char *> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".webp", "image/webp"},
      {".ico", "image/x-icon"},
      {".json", "application/json"},
      {".webmanifest", "application/manifest+json"}};
  for (const auto &[ext, type] : kTypes)
    if (g_str_has_suffix(name.c_str(), ext)) return type;
  return "application/octet-stream";
}

std::string gzip(const std::string &data) {
  GZlibCompressor *z = g_zlib_compressor_new(G_ZLIB_COMPRESSOR_FORMAT_GZIP, 9);
  std::string out(data.size() + 1024, '\0');
  gsize read = 0, written = 0;
  GConverterResult r =
      g_converter_convert(G_CONVERTER(z), data.data(), data.size(), out.data(), out.size(),
                          G_CONVERTER_INPUT_AT_END, &read, &written, nullptr);
  g_object_unref(z);
  if (r != G_CONVERTER_FINISHED) return "";
  out.resize(written);
  return out;
}

}  // namespace

Result<std::unique_ptr<WebPages>> WebPages::load(const std::string &dir) {
  auto pages = std::make_unique<WebPages>();
  g_autoptr(GError) err = nullptr;
  g_autoptr(GDir) d = g_dir_open(dir.c_str(), 0, &err);
  if (!d)
    return Error{ErrorKind::kInternal, "web_invalid", "web pages: " + std::string(err->message)};
  while (const char *name = g_dir_read_name(d)) {
    std::string path = dir + "/" + name;
    if (!g_file_test(path.c_str(), G_FILE_TEST_IS_REGULAR) || name[0] == '.') continue;
    g_autofree char *data = nullptr;
    gsize len = 0;
    g_autoptr(GError) read_err = nullptr;
    if (!g_file_get_contents(path.c_str(), &data, &len, &read_err) || len > kMaxFile)
      return Error{ErrorKind::kInternal, "web_invalid",
                   path + ": " + (read_err ? read_err->message : "larger than 2 MiB")};
    File f;
    f.content_type = content_type_for(name);
    f.body.assign(data, len);
    g_autofree char *sum =
        g_compute_checksum_for_data(G_CHECKSUM_SHA256, reinterpret_cast<const guchar *>(data), len);
    f.etag = "\"" + std::string(sum).substr(0, 32) + "\"";
    std::string z = gzip(f.body);
    if (!z.empty() && z.size() + 64 < f.body.size()) f.gzipped = std::move(z);
    pages->files_[name] = std::move(f);
  }
  return pages;
}

void WebPages::serve(GramothiHttpExchange *ex, const File &f, bool page) const {
  exchange_add_header(ex, "ETag", f.etag.c_str());
  exchange_add_header(ex, "Vary", "Accept-Encoding");
  exchange_add_header(ex, "Cache-Control", page ? "no-cache" : "public, max-age=86400");
  const char *match = exchange_header(ex, "If-None-Match");
  if (match && (strstr(match, f.etag.c_str()) || strcmp(match, "*") == 0)) {
    exchange_respond(ex, 304, nullptr, nullptr, 0);
    return;
  }
  const char *accept = exchange_header(ex, "Accept-Encoding");
  if (!f.gzipped.empty() && accept && strstr(accept, "gzip")) {
    exchange_add_header(ex, "Content-Encoding", "gzip");
    exchange_respond(ex, 200, f.content_type.c_str(), f.gzipped.data(), f.gzipped.size());
    return;
  }
  exchange_respond(ex, 200, f.content_type.c_str(), f.body.data(), f.body.size());
}

std::optional<Error> WebPages::add_routes(HttpRouter &router) {
  auto add = [&](const std::string &pattern, HttpHandler h) -> std::optional<Error> {
    std::string why;
    if (!router.add_route("GET", pattern, 0, std::move(h), this, &why))
      return Error{ErrorKind::kInternal, "web_invalid", "GET " + pattern + ": " + why};
    return std::nullopt;
  };
  const std::pair<const char *, const char *> kPages[] = {{"/", "index.html"},
                                                          {"/teach/{class_id}", "teach.html"},
                                                          {"/class/{class_id}", "class.html"}};
  for (const auto &[pattern, file] : kPages) {
    auto it = files_.find(file);
    if (it == files_.end()) continue;
    const File *f = &it->second;
    if (auto e = add(pattern, [this, f](GramothiHttpExchange *ex) { serve(ex, *f, true); }))
      return e;
  }
  return add("/web/{file}", [this](GramothiHttpExchange *ex) {
    const char *name = exchange_param(ex, "file");
    auto it = name ? files_.find(name) : files_.end();
    if (it == files_.end())
      return exchange_respond_error(ex, Error{ErrorKind::kNotFound, "not_found", "No such file."});
    serve(ex, it->second, g_str_has_suffix(name, ".html"));
  });
}

}  // namespace gramothi
