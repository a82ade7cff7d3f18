// SPDX-License-Identifier: Apache-2.0
// The bounded thread pool behind resolve_async().
#pragma once

#include <functional>

namespace proxystore::detail {

/// Queues `task` on a process-wide pool of a few threads (started on first
/// use, joined at exit). `task` must not throw.
void run_in_background(std::function<void()> task);

}  // namespace proxystore::detail
