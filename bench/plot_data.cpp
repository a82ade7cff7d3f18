// SPDX-License-Identifier: Apache-2.0
#include "plot_data.hpp"

#include "bench_common.hpp"

#include <string>
#include <vector>

namespace proxystore::bench {
namespace {

/// A line of the plot: its title and how its benchmark is named at a size.
struct Series {
  const char* title;  // one word per column header: gnuplot splits on spaces
  const char* prefix;
  const char* suffix;
};

// vector<char> rows: their payload is the object size exactly.
constexpr Series series[] = {
    {"RedisStore_get", "redis/get/char/", "/store"},
    {"hiredis_GET", "redis/get/char/", "/hiredis"},
    {"RESP_floor_GET", "redis/get/char/", "/floor"},
    {"RedisStore_set", "redis/set/char/", "/store"},
    {"hiredis_SET", "redis/set/char/", "/hiredis"},
    {"FileStore_get", "file/get/char/", "/store"},
    {"raw_file_read", "file/get/char/", "/raw"},
    {"LocalStore_get", "local/get/char/", "/store"},
    {"copy", "local/copy/char/", ""},
};

}  // namespace

void write_latency_table(std::ostream& out, const RecordingReporter& reporter) {
  out << "bytes";
  for (const Series& s : series)
    out << ' ' << s.title;
  out << '\n';
  for (std::size_t size : object_sizes()) {
    out << size;
    for (const Series& s : series) {
      const auto seconds = reporter.median(std::string(s.prefix) + size_label(size) + s.suffix);
      if (seconds)
        out << ' ' << *seconds;
      else
        out << " NaN";
    }
    out << '\n';
  }
}

}  // namespace proxystore::bench
