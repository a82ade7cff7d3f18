// SPDX-License-Identifier: Apache-2.0
// Private: peer-supplied text made safe to quote in an error message.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace proxystore::detail {

/// `text` with control bytes, bytes >= 0x7f and '\\' escaped as \xNN, cut
/// after `limit` bytes (then "...(N bytes)" is appended). Config strings
/// come from peers (inside proxies): quoted this way they cannot forge log
/// lines or flood them. (security.cpp)
std::string printable(std::string_view text, std::size_t limit = 128);

}  // namespace proxystore::detail
