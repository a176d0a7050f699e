// Who may see a class's recordings: whoever may attend the class, as the host's class_access
// says (the token's grants, open attendance, the class's teachers, admins). Having attended a
// session gives nothing by itself. Turning recording on or off needs teaching the class.
// Others get 403 `not_in_class` (or `not_class_owner` for teaching).
//
// Credentials come from the Authorization header. <audio> elements and download links, which
// cannot send one, carry a ticket instead (?ticket=, minted by POST .../links): it opens one
// recording for a short time. A long-lived token in the URL (?token=) is refused. Every request
// is authenticated before its recording is looked up, so unknown and existing ids answer the
// same 401 without credentials.
#pragma once

#include <functional>
#include <string>

#include "host.hpp"

namespace gramothi::recording {

using Allowed = std::function<void(GramothiHttpExchange *ex, const GramothiPrincipal &who,
                                   const std::string &class_id)>;

enum class Right { kAttend, kTeach };

// The caller from the Authorization header; otherwise answers 401 and returns false.
bool authenticate(const HostLink &host, GramothiHttpExchange *ex, GramothiPrincipal *who);

// Runs `then` (on the main loop, later) when `who` has `right` in the class; otherwise answers
// the request (403, or the host's error; `refused` instead of the 403 when given) and drops
// `then`.
using Refused = std::function<void(GramothiHttpExchange *ex)>;
void with_right(const HostLink &host, GramothiHttpExchange *ex, const GramothiPrincipal &who,
                const std::string &class_id, Right right, Allowed then, Refused refused = nullptr);

// The scope of a recording's tickets.
std::string ticket_scope(const std::string &recording_id);

}  // namespace gramothi::recording
