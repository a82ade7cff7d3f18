// SPDX-License-Identifier: Apache-2.0
// The latency-against-size table behind docs/performance.md's plot.
#pragma once

#include "report.hpp"

#include <ostream>

namespace proxystore::bench {

/// Writes one row per object size — the size in bytes, then the median
/// seconds of each series (the library's operations and their baselines:
/// raw hiredis, the RESP floor, a raw file read, a plain copy) — as
/// whitespace-separated columns with a header line, for bench/latency.gp.
/// A series with no data at some size shows "NaN" there (gnuplot skips it).
void write_latency_table(std::ostream& out, const RecordingReporter& reporter);

}  // namespace proxystore::bench
