#include "base/secrets.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gramothi {

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = getrandom(out.data() + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      g_error("getrandom failed: %s", g_strerror(errno));
    }
    got += static_cast<size_t>(r);
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); i++)
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  return diff == 0;
}

std::string base64url_encode(std::string_view bytes) {
  g_autofree char *b64 =
      g_base64_encode(reinterpret_cast<const guchar *>(bytes.data()), bytes.size());
  std::string out;
  for (const char *p = b64; *p; ++p) {
    if (*p == '=') break;
    out += *p == '+' ? '-' : *p == '/' ? '_' : *p;
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string b64;
  b64.reserve(text.size() + 3);
  for (char c : text) {
    if (g_ascii_isalnum(c))
      b64 += c;
    else if (c == '-')
      b64 += '+';
    else if (c == '_')
      b64 += '/';
    else
      return std::nullopt;
  }
  while (b64.size() % 4)
    b64 += '=';
  gsize len = 0;
  g_autofree guchar *raw = g_base64_decode(b64.c_str(), &len);
  std::string bytes(reinterpret_cast<const char *>(raw), len);
  // Canonical only: the unused low bits of the last character must be zero, so that exactly
  // one text decodes to these bytes (a changed last character is a different text).
  if (base64url_encode(bytes) != text) return std::nullopt;
  return bytes;
}

std::string hmac(GChecksumType type, std::string_view key, std::string_view data) {
  g_autoptr(GHmac) h = g_hmac_new(type, reinterpret_cast<const guchar *>(key.data()), key.size());
  g_hmac_update(h, reinterpret_cast<const guchar *>(data.data()), static_cast<gssize>(data.size()));
  guint8 digest[64];
  gsize len = sizeof digest;
  g_hmac_get_digest(h, digest, &len);
  return std::string(reinterpret_cast<const char *>(digest), len);
}

Result<std::string> load_or_create_jwt_secret(const std::string &data_dir) {
  auto fail = [](const std::string &msg) {
    return Error{ErrorKind::kInternal, "secret_unavailable", msg};
  };
  if (g_mkdir_with_parents(data_dir.c_str(), 0700) != 0)
    return fail("cannot create data directory '" + data_dir + "': " + g_strerror(errno));
  std::string path = data_dir + "/jwt-secret";

  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    std::string secret = base64url_encode(random_bytes(48));
    std::string line = secret + "\n";
    bool ok = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ok = (fsync(fd) == 0) && ok;
    close(fd);
    if (!ok) {
      unlink(path.c_str());
      return fail("cannot write '" + path + "': " + g_strerror(errno));
    }
    return secret;
  }
  if (errno != EEXIST) return fail("cannot create '" + path + "': " + g_strerror(errno));

  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return fail("cannot stat '" + path + "'");
  if (st.st_mode & (S_IRWXG | S_IRWXO))
    return fail("'" + path + "' is readable by others; run: chmod 600 " + path);
  g_autofree char *data = nullptr;
  g_autoptr(GError) err = nullptr;
  if (!g_file_get_contents(path.c_str(), &data, nullptr, &err))
    return fail("cannot read '" + path + "': " + err->message);
  std::string secret = g_strstrip(data);
  if (secret.size() < 32) return fail("'" + path + "' holds fewer than 32 characters");
  return secret;
}

}  // namespace gramothi
