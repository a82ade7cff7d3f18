// SPDX-License-Identifier: Apache-2.0
// Peer-supplied text made safe to quote in an error message.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace proxystore::detail {

/// `text` with control bytes, bytes >= 0x7f and '\\' escaped as \xNN, cut
/// after `limit` bytes (then "...(N bytes)" is appended). Names, keys, types
/// and config strings come from peers (inside proxies): quoted this way they
/// cannot forge log lines (CR/LF), drive a terminal (ESC) or flood a log.
/// Every message that quotes such text uses it. (Defined in security.cpp.)
std::string printable(std::string_view text, std::size_t limit = 128);

/// Whether `text` holds a NUL, another C0 control byte or DEL — bytes no
/// store name, type, key or option of a legitimate config contains.
bool has_control_bytes(std::string_view text) noexcept;

}  // namespace proxystore::detail
