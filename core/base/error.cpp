#include "base/error.hpp"

#include "gramothi/plugin.h"

namespace gramothi {

int32_t abi_status(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalid:
      return GRAMOTHI_E_INVALID;
    case ErrorKind::kUnauthorized:
      return GRAMOTHI_E_UNAUTHORIZED;
    case ErrorKind::kForbidden:
      return GRAMOTHI_E_FORBIDDEN;
    case ErrorKind::kNotFound:
      return GRAMOTHI_E_NOT_FOUND;
    case ErrorKind::kConflict:
      return GRAMOTHI_E_CONFLICT;
    case ErrorKind::kTooLarge:
      return GRAMOTHI_E_TOO_LARGE;
    case ErrorKind::kUnavailable:
      return GRAMOTHI_E_UNAVAILABLE;
    case ErrorKind::kInternal:
      return GRAMOTHI_E_INTERNAL;
  }
  return GRAMOTHI_E_INTERNAL;
}

int http_status_for(ErrorKind kind) {
  return static_cast<int>(gramothi_status_http(abi_status(kind)));
}

}  // namespace gramothi
