#pragma once
// The check most failure tests make: an action throws a ckms::Error of one kind whose
// message names what went wrong.

#include <functional>
#include <string>

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"

namespace ckms::testkit {

// Runs `action`, which must throw a ckms::Error of `kind` whose message holds `needle`.
template <typename F>
void require_error(F&& action, ErrorKind kind, const std::string& needle) {
  try {
    action();
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.kind() == kind);
    CHECK_THAT(e.what(), Catch::Contains(needle));
    return;
  }
  FAIL("no error; expected one containing '" << needle << "'");
}

// The kind of the ckms::Error `action` throws; internal when it throws none.
inline ErrorKind error_kind(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::internal;
}

}  // namespace ckms::testkit
