// SPDX-License-Identifier: Apache-2.0
// Snippets for docs/executor.md.
#include <proxystore/proxystore.hpp>

#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "check.hpp"

namespace ps = proxystore;

namespace {
//! [task]
// An ordinary function: it takes the object, never a proxy.
double mean(const std::vector<double>& values) {
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}
//! [task]
}  // namespace

int main() {
  return run_snippet("executor", [] {
    const auto dir = std::filesystem::temp_directory_path() / ("executor-" + ps::random_key().id);
    //! [submit]
    auto store = std::make_shared<ps::FileStore>("tasks", dir);
    ps::ThreadPool pool(2);  // or your task runtime: anything that runs a std::function<void()>
    ps::ProxyExecutor exec(store,
                           [&pool](std::function<void()> task) { pool.post(std::move(task)); });

    // 8 MB: above the default 1 MiB threshold, so it travels as a proxy and
    // the worker fetches it; the int below stays a plain value.
    std::future<double> m = exec.submit(mean, std::vector<double>(1'000'000, 2.0));
    std::future<std::vector<double>> big = exec.submit(
        [](int n) { return std::vector<double>(static_cast<std::size_t>(n), 1.0); }, 2'000'000);

    CHECK(m.get() == 2.0);
    CHECK(big.get().size() == 2'000'000);  // stored by the worker, read here, then evicted
    CHECK(exec.stats().proxied_arguments == 1);
    CHECK(exec.stats().proxied_results == 1);
    //! [submit]

    //! [predicates]
    ps::ExecutorOptions options;
    options.proxy_arguments = ps::proxy_if_type<std::string>();  // every string, whatever its size
    options.proxy_results = nullptr;                             // results by value: plain futures
    ps::ProxyExecutor by_type(store, options);                   // its own ThreadPool
    std::future<std::size_t> n =
        by_type.submit([](const std::string& s) { return s.size(); }, std::string("hello"));
    CHECK(n.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
    CHECK(n.get() == 5);
    //! [predicates]
    std::filesystem::remove_all(dir);
  });
}
