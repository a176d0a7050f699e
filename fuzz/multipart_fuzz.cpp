// A slide upload's body as SlideService::upload takes it apart (domain/pdf_upload.hpp): the
// Content-Type the client sent and the body, multipart/form-data read by libsoup. Whatever the
// two, nothing is read outside the body, and the answer is an error with one of its documented
// codes, or a PDF that is a part of the body and a file name without a path.
//
// Input: the Content-Type header value, a newline, then the body.
#include <cstring>
#include <set>

#include "domain/pdf_upload.hpp"
#include "fuzz_support.hpp"

using namespace gramothi;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 256 * 1024) return 0;
  auto [type, body] = fuzz::split_first(data, size, '\n');
  // libsoup hands the handler a header value without NUL, CR or LF.
  if (type.find_first_of(std::string("\0\r", 2)) != std::string::npos) return 0;
  // An exact-size heap copy: ASan sees any read past the body's end.
  auto *copy = static_cast<char *>(g_memdup2(body.data(), body.size()));
  GBytes *bytes = g_bytes_new_take(copy, body.size());
  auto r = extract_pdf(bytes, type);
  if (r) {
    GBytes *pdf = r->first;
    gsize len = 0;
    const auto *p = static_cast<const char *>(g_bytes_get_data(pdf, &len));
    FUZZ_CHECK(len > 0 && len <= body.size());
    FUZZ_CHECK(memmem(body.data(), body.size(), p, len) != nullptr);  // a part of the body
    FUZZ_CHECK(!r->second.empty() && r->second.size() <= 200);
    FUZZ_CHECK(r->second.find('/') == std::string::npos);
    FUZZ_CHECK(g_utf8_validate(r->second.data(), static_cast<gssize>(r->second.size()), nullptr));
    g_bytes_unref(pdf);
  } else {
    static const std::set<std::string> kCodes = {"invalid_multipart", "missing_file",
                                                 "unsupported_media_type", "not_pdf"};
    FUZZ_CHECK(kCodes.count(r.error().code) == 1);
    FUZZ_CHECK(r.error().kind == ErrorKind::kInvalid);
  }
  g_bytes_unref(bytes);
  return 0;
}

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  fuzz::quiet_logs();
  return 0;
}
