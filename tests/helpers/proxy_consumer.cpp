// SPDX-License-Identifier: Apache-2.0
// A separate consumer process for cross-process tests: reads one serialized
// Proxy<T> from stdin, resolves it with no store registered, and prints
// what it got.
//
//   proxy_consumer <string|string_digest|vector_f64|i64>
//
// stdout: the value (string), "size=<n> sum=<s>" (vector_f64, and
// string_digest: the sum of its bytes) or the number (i64); exit 0. On failure: "error:
// <ExceptionClass>: <message>", exit 3.
#include <proxystore/proxystore.hpp>

#include <cstdint>
#include <iostream>
#include <iterator>
#include <numeric>
#include <string>
#include <vector>

namespace {

template <class T>
proxystore::Proxy<T> read_proxy() {
  std::string bytes((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  return proxystore::deserialize<proxystore::Proxy<T>>(bytes);
}

int consume(const std::string& type) {
  if (type == "string") {
    auto proxy = read_proxy<std::string>();
    const std::string& value = proxy;
    std::cout << value;
  } else if (type == "string_digest") {
    auto proxy = read_proxy<std::string>();
    std::uint64_t sum = 0;
    for (const char c : *proxy)
      sum += static_cast<unsigned char>(c);
    std::cout << "size=" << proxy->size() << " sum=" << sum;
  } else if (type == "vector_f64") {
    auto proxy = read_proxy<std::vector<double>>();
    std::cout << "size=" << proxy->size()
              << " sum=" << std::accumulate(proxy->begin(), proxy->end(), 0.0);
  } else if (type == "i64") {
    auto proxy = read_proxy<long long>();
    std::cout << *proxy;
  } else {
    std::cerr << "usage: proxy_consumer <string|string_digest|vector_f64|i64>\n";
    return 2;
  }
  return 0;
}

int report(const char* kind, const std::exception& e) {
  std::cout << "error: " << kind << ": " << e.what();
  return 3;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: proxy_consumer <string|vector_f64|i64>\n";
    return 2;
  }
  try {
    return consume(argv[1]);
  } catch (const proxystore::ProxyResolveMissingKeyError& e) {
    return report("ProxyResolveMissingKeyError", e);
  } catch (const proxystore::SerializationError& e) {
    return report("SerializationError", e);
  } catch (const proxystore::ForbiddenStoreError& e) {
    return report("ForbiddenStoreError", e);
  } catch (const proxystore::ConnectionError& e) {
    return report("ConnectionError", e);
  } catch (const proxystore::StoreNotFoundError& e) {
    return report("StoreNotFoundError", e);
  } catch (const proxystore::Error& e) {
    return report("Error", e);
  } catch (const std::exception& e) {
    return report("std::exception", e);
  }
}
