// WebPages: the browser pages of web/, served by core from memory. Every file is read and
// gzipped once at start, so a page costs no disk read and a phone on 2G gets the smallest
// bytes: a page (*.html) with its stylesheet and scripts inlined and their comments left out
// (one request instead of four), gzip when the client accepts it (and it is smaller), an ETag
// from the content, 304 to a matching If-None-Match. Scripts and stylesheets are minified
// like the ones inlined. Pages ("/", and "/teach/{class_id}",
// "/class/{class_id}" when web/teach.html and web/class.html exist) revalidate every time; other
// files under
// "/web/{file}" may be cached for a day.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.hpp"
#include "http/http_router.hpp"

namespace gramothi {

class WebPages {
 public:
  // Reads every regular file directly in `dir` (at most 2 MiB each). Errors: kInternal
  // "web_invalid" naming the file.
  static Result<std::unique_ptr<WebPages>> load(const std::string &dir);
  // Errors name the route that could not be added. `pace` (may be empty) gives the bytes per
  // second a listener on a bandwidth profile has beside its audio (0: no pacing): a file asked
  // for with ?pace=PROFILE goes out no faster, as slide images do.
  std::optional<Error> add_routes(HttpRouter &router,
                                  std::function<size_t(std::string_view)> pace = {});

  // What load() does to pages: `html` with each <link rel="stylesheet" href="/web/X"> and
  // <script src="/web/X"></script> whose file is in `files` (name -> text) replaced by the
  // file's text, minified (minify_css, minify_js) in a <style> or <script>; the page's own
  // <script>s minified.
  static std::string inline_assets(const std::string &html,
                                   const std::map<std::string, std::string> &files);
  // Whole-line // comments and indentation removed; a script with a backtick or a line ending in
  // a backslash (a string that may span lines) unchanged.
  static std::string minify_js(const std::string &js);
  // Comments (outside quoted strings), indentation and blank lines removed.
  static std::string minify_css(const std::string &css);

  struct File {
    std::string content_type, etag, body, gzipped;  // gzipped empty: not worth it
  };

 private:
  void serve(GramothiHttpExchange *ex, const File &f, bool page) const;
  std::map<std::string, File> files_;
  std::function<size_t(std::string_view)> pace_;
};

}  // namespace gramothi
