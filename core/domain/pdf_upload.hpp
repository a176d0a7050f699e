// The PDF in a slide upload: the request body itself (application/pdf, application/octet-stream
// or no type), or the file part of a multipart/form-data body (libsoup's parser), with the
// file name the form gave it. Pure: no storage, no main loop; SlideService::upload and the
// fuzz target (fuzz/multipart_fuzz.cpp) call it.
#pragma once

#include <glib.h>

#include <string>
#include <utility>

#include "base/error.hpp"

namespace gramothi {

// The PDF's bytes (a new reference: the caller unrefs it) and its file name ("deck.pdf" when
// the form names none usable). Errors (kInvalid): "invalid_multipart", "missing_file",
// "unsupported_media_type", "not_pdf" (no "%PDF-" in the first KiB).
Result<std::pair<GBytes *, std::string>> extract_pdf(GBytes *body, const std::string &type);

}  // namespace gramothi
