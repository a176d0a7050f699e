// Class ids and user ids as every layer accepts them: 1..64 (class) / 1..128 (user) characters
// of [A-Za-z0-9._:@-], never "." or ".." (ids name folders on disk).
#pragma once

#include <string_view>

namespace gramothi {

bool valid_class_id(std::string_view id);
bool valid_user_id(std::string_view id);

}  // namespace gramothi
