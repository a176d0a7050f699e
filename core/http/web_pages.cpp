#include "http/web_pages.hpp"

#include <gio/gio.h>

#include <algorithm>
#include <cstring>

namespace gramothi {
namespace {

constexpr size_t kMaxFile = 2 * 1024 * 1024;
// Bytes of a page in flight before the client acknowledged any: 50 kbit/s with a 1 s queue
// holds about 6 KB, which the class socket's first messages share.
constexpr size_t kPageFirstWindow = 4096;

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

// `<tag ... attr="/web/NAME" ...>` at `at`: NAME, or "" when the tag does not name a file of
// web/ that way.
std::string web_file_named(const std::string &html, size_t at, size_t end, const char *attr) {
  std::string key = std::string(attr) + "=\"/web/";
  size_t a = html.find(key, at);
  if (a == std::string::npos || a > end) return "";
  size_t start = a + key.size(), stop = html.find('"', start);
  if (stop == std::string::npos || stop > end) return "";
  return html.substr(start, stop - start);
}

bool contains_nocase(const std::string &text, const char *needle) {
  g_autofree char *lower = g_ascii_strdown(text.c_str(), static_cast<gssize>(text.size()));
  return strstr(lower, needle) != nullptr;
}

}  // namespace

std::string WebPages::minify_js(const std::string &js) {
  // Only what is safe without parsing: whole-line `//` comments and indentation go, and a
  // comment after code ("  // ") when nothing before it could open a string or a regular
  // expression (no quote, no slash). A template literal (a backtick) or a line continued with a
  // backslash could span lines whose text that would change: such a script is left as it is.
  std::string out;
  g_auto(GStrv) split = g_strsplit(js.c_str(), "\n", -1);
  for (char **l = split; *l; l++) {
    std::string line = *l;
    size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    line.erase(0, first);
    if (line.rfind("//", 0) == 0) continue;
    if (line.find('`') != std::string::npos || line.back() == '\\') return js;
    size_t tail = line.find("  // ");
    if (tail != std::string::npos && line.find_first_of("'\"/") > tail) line.erase(tail);
    out += line + "\n";
  }
  return out;
}

std::string WebPages::minify_css(const std::string &css) {
  // Comments go (outside quoted strings), then indentation and blank lines.
  std::string bare;
  char quote = 0;
  for (size_t i = 0; i < css.size(); i++) {
    char c = css[i];
    if (quote) {
      bare += c;
      if (c == '\\' && i + 1 < css.size())
        bare += css[++i];
      else if (c == quote)
        quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
      bare += c;
    } else if (c == '/' && i + 1 < css.size() && css[i + 1] == '*') {
      size_t end = css.find("*/", i + 2);
      if (end == std::string::npos) return css;  // unterminated: not ours to fix
      i = end + 1;
    } else {
      bare += c;
    }
  }
  std::string out;
  g_auto(GStrv) split = g_strsplit(bare.c_str(), "\n", -1);
  for (char **l = split; *l; l++) {
    std::string line = *l;
    size_t first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos) out += line.substr(first) + "\n";
  }
  return out;
}

std::string WebPages::inline_assets(const std::string &html,
                                    const std::map<std::string, std::string> &files) {
  // <link rel="stylesheet" href="/web/X.css"> and <script src="/web/X.js"></script> become
  // <style> and <script> with the file's text, made smaller; a file that could end the element
  // early (its text holds "</style" or "</script") stays a reference. The page's own <script>s
  // are made smaller too.
  std::string out;
  size_t pos = 0;
  while (pos < html.size()) {
    size_t link = html.find("<link rel=\"stylesheet\"", pos);
    size_t script = html.find("<script src=", pos);
    size_t own = html.find("<script>", pos);  // the page's own script: minified in place
    size_t at = std::min({link, script, own});
    if (at == std::string::npos) break;
    if (at == own) {
      size_t body = own + strlen("<script>"), end = html.find("</script>", body);
      if (end == std::string::npos) break;
      out += html.substr(pos, body - pos) + "\n" + minify_js(html.substr(body, end - body));
      pos = end;
      continue;
    }
    bool is_script = at == script;
    size_t end = is_script ? html.find("</script>", at) : html.find('>', at);
    if (end == std::string::npos) break;
    end += is_script ? strlen("</script>") : 1;
    std::string name = web_file_named(html, at, end, is_script ? "src" : "href");
    auto file = name.empty() ? files.end() : files.find(name);
    const char *closing = is_script ? "</script" : "</style";
    if (file == files.end() || contains_nocase(file->second, closing)) {
      out += html.substr(pos, end - pos);
    } else {
      out += html.substr(pos, at - pos);
      out += is_script ? "<script>\n" + minify_js(file->second) + "</script>"
                       : "<style>\n" + minify_css(file->second) + "</style>";
    }
    pos = end;
  }
  return out + html.substr(std::min(pos, html.size()));
}

Result<std::unique_ptr<WebPages>> WebPages::load(const std::string &dir) {
  auto pages = std::make_unique<WebPages>();
  std::map<std::string, std::string> texts;  // every file's bytes, by name
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
    texts[name].assign(data, len);
  }
  for (const auto &[name, text] : texts) {
    File f;
    f.content_type = content_type_for(name);
    // A page carries its stylesheet and scripts: on 2G every further request costs a round
    // trip or two before its bytes, and one gzip stream over all of it is smaller.
    if (g_str_has_suffix(name.c_str(), ".html"))
      f.body = inline_assets(text, texts);
    else if (g_str_has_suffix(name.c_str(), ".js"))
      f.body = minify_js(text);
    else if (g_str_has_suffix(name.c_str(), ".css"))
      f.body = minify_css(text);
    else
      f.body = text;
    g_autofree char *sum = g_compute_checksum_for_data(
        G_CHECKSUM_SHA256, reinterpret_cast<const guchar *>(f.body.data()), f.body.size());
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
  // A page starts with a window that fits a 2G link's queue (see exchange_set_first_window).
  if (page) exchange_set_first_window(ex, kPageFirstWindow);
  const char *accept = exchange_header(ex, "Accept-Encoding");
  if (!f.gzipped.empty() && accept && strstr(accept, "gzip")) {
    exchange_add_header(ex, "Content-Encoding", "gzip");
    exchange_respond(ex, 200, f.content_type.c_str(), f.gzipped.data(), f.gzipped.size());
    return;
  }
  exchange_respond(ex, 200, f.content_type.c_str(), f.body.data(), f.body.size());
}

std::optional<Error> WebPages::add_routes(HttpRouter &router,
                                          std::function<size_t(std::string_view)> pace) {
  pace_ = std::move(pace);
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
    // The student page's second part comes while the audio plays: on a slow link it goes at
    // what the link leaves beside the audio (?pace=PROFILE), as slide images do.
    const char *profile = exchange_query(ex, "pace");
    if (profile && pace_) exchange_set_pace(ex, pace_(profile));
    serve(ex, it->second, g_str_has_suffix(name, ".html"));
  });
}

}  // namespace gramothi
