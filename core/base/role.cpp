#include "base/role.hpp"

namespace gramothi {

std::string_view role_name(Role role) {
  switch (role) {
    case Role::kStudent:
      return "student";
    case Role::kTeacher:
      return "teacher";
    case Role::kAdmin:
      return "admin";
  }
  return "student";
}

std::optional<Role> parse_role(std::string_view name) {
  if (name == "student") return Role::kStudent;
  if (name == "teacher") return Role::kTeacher;
  if (name == "admin") return Role::kAdmin;
  return std::nullopt;
}

}  // namespace gramothi
