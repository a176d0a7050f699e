#include "domain/pdf_upload.hpp"

#include <libsoup/soup.h>

#include <algorithm>
#include <cstring>

namespace gramothi {

Result<std::pair<GBytes *, std::string>> extract_pdf(GBytes *body, const std::string &type) {
  auto bad = [](const std::string &code, const std::string &m) {
    return Error{ErrorKind::kInvalid, code, m};
  };
  std::string file_name = "deck.pdf";
  GBytes *pdf = nullptr;
  if (g_ascii_strncasecmp(type.c_str(), "multipart/form-data", 19) == 0) {
    SoupMessageHeaders *h = soup_message_headers_new(SOUP_MESSAGE_HEADERS_MULTIPART);
    soup_message_headers_replace(h, "Content-Type", type.c_str());
    // libsoup 3.2 looks for the end of each part's headers with strstr(), past the body's end
    // when the body has no NUL after it (found by fuzz/multipart_fuzz: a heap over-read). It
    // gets a copy that has one; the parts it returns point into that copy.
    gsize body_len = 0;
    const auto *body_data = static_cast<const char *>(g_bytes_get_data(body, &body_len));
    auto *terminated = static_cast<char *>(g_malloc(body_len + 1));
    if (body_len) memcpy(terminated, body_data, body_len);
    terminated[body_len] = '\0';
    g_autoptr(GBytes) with_nul = g_bytes_new_take(terminated, body_len + 1);
    g_autoptr(GBytes) copy = g_bytes_new_from_bytes(with_nul, 0, body_len);
    SoupMultipart *m = soup_multipart_new_from_message(h, copy);
    soup_message_headers_unref(h);
    if (!m) return bad("invalid_multipart", "The multipart body cannot be read.");
    bool outside = false;
    for (int i = 0; i < soup_multipart_get_length(m) && !pdf && !outside; i++) {
      SoupMessageHeaders *ph = nullptr;
      GBytes *part = nullptr;
      if (!soup_multipart_get_part(m, i, &ph, &part)) continue;
      // The same libsoup gives a part whose end comes before its start a length that wrapped
      // around (2^64 - 2: found by fuzz/multipart_fuzz; the server then read and wrote far past
      // the body). Only parts that lie inside the body are read.
      gsize part_len = 0;
      const auto *part_data = static_cast<const char *>(g_bytes_get_data(part, &part_len));
      if (part_len && (part_data < terminated || part_len > body_len ||
                       static_cast<gsize>(part_data - terminated) > body_len - part_len)) {
        outside = true;
        continue;
      }
      char *disposition = nullptr;
      GHashTable *params = nullptr;
      if (soup_message_headers_get_content_disposition(ph, &disposition, &params)) {
        const char *fn = static_cast<const char *>(g_hash_table_lookup(params, "filename"));
        if (fn) {
          g_autofree char *base = g_path_get_basename(fn);
          if (g_utf8_validate(base, -1, nullptr) && strlen(base) <= 200) file_name = base;
          pdf = g_bytes_ref(part);
        }
        g_free(disposition);
        g_hash_table_destroy(params);
      }
    }
    soup_multipart_free(m);
    if (outside) {
      if (pdf) g_bytes_unref(pdf);
      return bad("invalid_multipart", "The multipart body cannot be read.");
    }
    if (!pdf) return bad("missing_file", "The form has no file part; send the PDF as a file.");
  } else if (type.empty() || g_ascii_strncasecmp(type.c_str(), "application/pdf", 15) == 0 ||
             g_ascii_strncasecmp(type.c_str(), "application/octet-stream", 24) == 0) {
    pdf = g_bytes_ref(body);
  } else {
    return Error{ErrorKind::kInvalid, "unsupported_media_type",
                 "Send the PDF as application/pdf or multipart/form-data, not " + type + "."};
  }
  gsize len = 0;
  const char *data = static_cast<const char *>(g_bytes_get_data(pdf, &len));
  if (len == 0 || !g_strstr_len(data, static_cast<gssize>(std::min<gsize>(len, 1024)), "%PDF-")) {
    g_bytes_unref(pdf);
    return bad("not_pdf", "The upload is not a PDF.");
  }
  return std::make_pair(pdf, file_name);
}

}  // namespace gramothi
