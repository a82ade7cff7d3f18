// SPDX-License-Identifier: Apache-2.0
/// \file
/// proxystore-cpp version macros.
#pragma once

/// Major version: changes when the public API or the stored format breaks.
#define PROXYSTORE_VERSION_MAJOR 0
/// Minor version: new features, compatible with the same major version.
#define PROXYSTORE_VERSION_MINOR 1
/// Patch version: fixes only.
#define PROXYSTORE_VERSION_PATCH 0

/// The version as one integer: major * 10000 + minor * 100 + patch.
#define PROXYSTORE_VERSION \
  (PROXYSTORE_VERSION_MAJOR * 10000 + PROXYSTORE_VERSION_MINOR * 100 + PROXYSTORE_VERSION_PATCH)

#define PROXYSTORE_DETAIL_STR2(x) #x
#define PROXYSTORE_DETAIL_STR(x) PROXYSTORE_DETAIL_STR2(x)
/// The version as a string, e.g. "0.1.0".
#define PROXYSTORE_VERSION_STRING                                                \
  PROXYSTORE_DETAIL_STR(PROXYSTORE_VERSION_MAJOR)                                \
  "." PROXYSTORE_DETAIL_STR(PROXYSTORE_VERSION_MINOR) "." PROXYSTORE_DETAIL_STR( \
      PROXYSTORE_VERSION_PATCH)
