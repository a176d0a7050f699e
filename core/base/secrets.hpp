// Randomness, constant-time comparison, base64url, HMAC, and the server's generated JWT
// secret (data_dir/jwt-secret, created once with mode 0600).
#pragma once

#include <glib.h>

#include <optional>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace gramothi {

std::string random_bytes(size_t n);  // from getrandom(2); aborts if the kernel cannot supply
bool constant_time_equal(std::string_view a, std::string_view b);
std::string base64url_encode(std::string_view bytes);
// Accepts canonical unpadded base64url only: nullopt for any character outside the alphabet,
// for padding, and for a last character whose unused bits are not zero.
std::optional<std::string> base64url_decode(std::string_view text);
std::string hmac(GChecksumType type, std::string_view key, std::string_view data);  // raw bytes

// Reads data_dir/jwt-secret, or creates it (and data_dir) when missing. Refuses a secret file
// that others can read or that is shorter than 32 characters.
Result<std::string> load_or_create_jwt_secret(const std::string &data_dir);

}  // namespace gramothi
