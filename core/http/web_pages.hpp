// WebPages: the browser pages of web/, served by core from memory. Every file is read and
// gzipped once at start, so a page costs no disk read and a phone on 2G gets the smallest
// bytes: gzip when the client accepts it (and it is smaller), an ETag from the content, 304 to
// a matching If-None-Match. Pages ("/", and "/teach/{class_id}", "/class/{class_id}" when
// web/teach.html and web/class.html exist) revalidate every time; other files under
// "/web/{file}" may be cached for a day.
#pragma once

#include <map>
#include <optional>
#include <memory>
#include <string>

#include "base/error.hpp"
#include "http/http_router.hpp"

namespace gramothi {

class WebPages {
 public:
  // Reads every regular file directly in `dir` (at most 2 MiB each). Errors: kInternal
  // "web_invalid" naming the file.
  static Result<std::unique_ptr<WebPages>> load(const std::string &dir);
  // Errors name the route that could not be added.
  std::optional<Error> add_routes(HttpRouter &router);

  struct File {
    std::string content_type, etag, body, gzipped;  // gzipped empty: not worth it
  };

 private:
  void serve(GramothiHttpExchange *ex, const File &f, bool page) const;
  std::map<std::string, File> files_;
};

}  // namespace gramothi
