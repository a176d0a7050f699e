// Who may see a class's recordings: admins; the class's owner and its teacher (`owner_id`,
// `teacher_id` of the class status); students who attended one of its sessions, or whose
// token's "classes" claim names the class. Others get 403 `not_class_owner` (teachers) or
// `not_in_class` (students).
//
// The token comes from the Authorization header or, for <audio> elements and download links,
// which cannot send one, from `?token=`.
#pragma once

#include <functional>
#include <string>

#include "host.hpp"

namespace gramothi::recording {

using Allowed = std::function<void(GramothiHttpExchange *ex, const GramothiPrincipal &who,
                                   const std::string &class_id)>;

// Runs `then` (on the main loop, maybe later) when the caller may see the class's recordings;
// otherwise answers the request (401, 403, or the host's error) and drops `then`.
void with_access(const HostLink &host, GramothiHttpExchange *ex, const std::string &class_id,
                 Allowed then);

}  // namespace gramothi::recording
