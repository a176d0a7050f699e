// STUN as the lite transport reads it (LiteTransport::Impl::on_datagram, on_binding_request):
// a datagram that looks like STUN is parsed; a Binding request's USERNAME is split at its
// colon, its MESSAGE-INTEGRITY checked with a listener's ice-pwd, and it is answered with a
// Binding success response. Whatever the bytes, the parse reads nothing outside the datagram,
// what it accepts is self-consistent, and the answer we would send parses back.
#include <arpa/inet.h>
#include <netinet/in.h>

#include "fuzz_support.hpp"
#include "transport/stun.hpp"

using namespace gramothi;

namespace {
constexpr size_t kMaxDatagram = 2048;  // the transport's receive buffer
const std::string kPassword = "fuzz-listener-ice-password-0123";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > kMaxDatagram) return 0;
  bool looks = stun::looks_like_stun(data, size);
  auto m = stun::parse(data, size);
  if (!m) return 0;
  FUZZ_CHECK(looks);
  FUZZ_CHECK(m->username.size() <= 513);
  FUZZ_CHECK(m->integrity_at == 0 || (m->integrity_at >= 20 && m->integrity_at + 24 <= size));
  FUZZ_CHECK(m->fingerprint_at == 0 || (m->fingerprint_at >= 20 && m->fingerprint_at + 8 == size));
  bool ok = stun::integrity_ok(data, size, *m, kPassword);
  FUZZ_CHECK(!ok || m->integrity_at != 0);
  if (m->type != stun::kBindingRequest) return 0;
  auto colon = m->username.find(':');
  if (colon != std::string::npos) {
    std::string ufrag = m->username.substr(0, colon), remote = m->username.substr(colon + 1);
    FUZZ_CHECK(ufrag.size() + remote.size() + 1 == m->username.size());
  }
  for (int family : {AF_INET, AF_INET6}) {
    sockaddr_storage peer{};
    if (family == AF_INET) {
      auto *a = reinterpret_cast<sockaddr_in *>(&peer);
      a->sin_family = AF_INET;
      a->sin_port = htons(50000);
      inet_pton(AF_INET, "127.0.0.2", &a->sin_addr);
    } else {
      auto *a = reinterpret_cast<sockaddr_in6 *>(&peer);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(50000);
      inet_pton(AF_INET6, "::1", &a->sin6_addr);
    }
    auto response =
        stun::binding_success(m->transaction, reinterpret_cast<sockaddr *>(&peer), kPassword);
    auto back = stun::parse(response.data(), response.size());
    FUZZ_CHECK(back && back->type == stun::kBindingSuccess && back->transaction == m->transaction);
    FUZZ_CHECK(stun::integrity_ok(response.data(), response.size(), *back, kPassword));
  }
  return 0;
}

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  fuzz::quiet_logs();
  return 0;
}
