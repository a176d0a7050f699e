// IpAdmission: decides whether a new client connection may open. It counts the open connections
// in total and per client address, and meters new connections per address with a token bucket
// (a steady rate plus a burst). Pure logic: no sockets and no clock reads; callers pass now_us,
// so tests replay exact timelines. ConnectionGuard owns one and asks it for every accept.
//
// An "address" is the key client_address_key() makes: an IPv4 address as is (also when it
// arrives IPv4-mapped on an IPv6 socket), an IPv6 address by its /64 prefix, the block one
// household or school network normally gets, so rotating through one's own /64 gains nothing.
#pragma once

#include <gio/gio.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace gramothi {

// The limits on client connections; [limits] in the config (see README), defaults here.
struct ConnectionLimits {
  size_t max_connections = 10000;        // open at once, all clients
  size_t max_connections_per_ip = 1000;  // open at once, one address
  double new_per_ip_per_second = 100;    // new connections per address: steady rate
  double new_per_ip_burst = 500;         // ... and how many may come at once
  int header_timeout_s = 20;  // from connecting, or a request's first byte, to its headers
  int idle_timeout_s = 60;    // a kept-alive connection between requests
};

std::string client_address_key(GInetAddress *address);

class IpAdmission {
 public:
  enum class Verdict { kAdmit, kServerFull, kAddressFull, kTooFast };

  explicit IpAdmission(const ConnectionLimits &limits) : limits_(limits) {}

  // On kAdmit the connection counts as open until release(key). A refused one takes no token.
  Verdict admit(const std::string &key, int64_t now_us);
  void release(const std::string &key);
  // Forgets addresses with no open connection whose bucket has refilled (call now and then).
  void forget_idle(int64_t now_us);

  size_t open() const { return open_; }
  size_t open_from(const std::string &key) const;
  size_t addresses() const { return by_address_.size(); }

 private:
  struct Address {
    size_t open = 0;
    double tokens = 0;
    int64_t refilled_us = 0;
  };
  void refill(Address &a, int64_t now_us) const;

  ConnectionLimits limits_;
  std::unordered_map<std::string, Address> by_address_;
  size_t open_ = 0;
};

}  // namespace gramothi
