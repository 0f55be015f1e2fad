// Checks for the error discipline: a body must throw jamba::Error with a one-line message that
// names what was wrong.
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "base/error.h"

namespace jamba::test {

// Runs `body`, which must throw jamba::Error; returns the message after checking it is one line.
inline std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return message;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-jamba exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "did not throw";
  return "";
}

inline void expect_error_contains(const std::string& message, const std::vector<std::string>& needles) {
  for (const auto& needle : needles)
    EXPECT_NE(message.find(needle), std::string::npos) << "message: " << message << "\nmissing: " << needle;
}

}  // namespace jamba::test
