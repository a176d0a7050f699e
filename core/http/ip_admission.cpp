#include "http/ip_admission.hpp"

#include <algorithm>

namespace gramothi {

std::string client_address_key(GInetAddress *address) {
  if (g_inet_address_get_family(address) == G_SOCKET_FAMILY_IPV4) {
    g_autofree char *text = g_inet_address_to_string(address);
    return text;
  }
  const guint8 *b = g_inet_address_to_bytes(address);
  static constexpr guint8 kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMappedPrefix, kMappedPrefix + 12, b))
    return std::to_string(b[12]) + "." + std::to_string(b[13]) + "." + std::to_string(b[14]) + "." +
           std::to_string(b[15]);
  guint8 prefix[16] = {};
  std::copy(b, b + 8, prefix);
  g_autoptr(GInetAddress) net = g_inet_address_new_from_bytes(prefix, G_SOCKET_FAMILY_IPV6);
  g_autofree char *text = g_inet_address_to_string(net);
  return std::string(text) + "/64";
}

void IpAdmission::refill(Address &a, int64_t now_us) const {
  if (now_us > a.refilled_us) {
    a.tokens = std::min(limits_.new_per_ip_burst,
                        a.tokens + (now_us - a.refilled_us) / 1e6 * limits_.new_per_ip_per_second);
    a.refilled_us = now_us;
  }
}

IpAdmission::Verdict IpAdmission::admit(const std::string &key, int64_t now_us) {
  if (open_ >= limits_.max_connections) return Verdict::kServerFull;
  auto [it, fresh] = by_address_.try_emplace(key);
  Address &a = it->second;
  if (fresh) {
    a.tokens = limits_.new_per_ip_burst;
    a.refilled_us = now_us;
  }
  if (a.open >= limits_.max_connections_per_ip) return Verdict::kAddressFull;
  refill(a, now_us);
  if (a.tokens < 1) return Verdict::kTooFast;
  a.tokens -= 1;
  a.open++;
  open_++;
  return Verdict::kAdmit;
}

void IpAdmission::release(const std::string &key) {
  auto it = by_address_.find(key);
  if (it == by_address_.end() || it->second.open == 0) return;
  it->second.open--;
  open_--;
}

void IpAdmission::forget_idle(int64_t now_us) {
  for (auto it = by_address_.begin(); it != by_address_.end();) {
    Address &a = it->second;
    if (a.open == 0) refill(a, now_us);
    if (a.open == 0 && a.tokens >= limits_.new_per_ip_burst)
      it = by_address_.erase(it);
    else
      ++it;
  }
}

size_t IpAdmission::open_from(const std::string &key) const {
  auto it = by_address_.find(key);
  return it == by_address_.end() ? 0 : it->second.open;
}

}  // namespace gramothi
