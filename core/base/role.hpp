// Who a signed-in user is to the server: the role their token grants. Shared vocabulary of the
// stores (attendance, chat) and of authentication.
#pragma once

#include <optional>
#include <string_view>

namespace gramothi {

enum class Role { kStudent, kTeacher, kAdmin };

// "student", "teacher", "admin": the names tokens, JSON and the database use.
std::string_view role_name(Role role);
std::optional<Role> parse_role(std::string_view name);

}  // namespace gramothi
