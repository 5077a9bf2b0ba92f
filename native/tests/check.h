// A minimal test harness for the native core: CHECK records a failure and carries on, so one run
// reports every broken expectation; main() prints the plain `N passed, N failed` closing line.
#pragma once

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace check {

struct Case {
  const char* name;
  std::function<void()> body;
};

inline std::vector<Case>& cases() {
  static std::vector<Case> all;
  return all;
}
inline int& failures() {
  static int count = 0;
  return count;
}

struct Register {
  Register(const char* name, std::function<void()> body) { cases().push_back({name, std::move(body)}); }
};

inline bool record(bool ok, const char* expr, const char* file, int line) {
  if (!ok) {
    ++failures();
    std::fprintf(stderr, "  FAILED %s:%d: %s\n", file, line, expr);
  }
  return ok;
}

inline int run_all(const char* suite) {
  int passed = 0, failed = 0;
  for (const auto& c : cases()) {
    const int before = failures();
    c.body();
    const bool ok = failures() == before;
    std::printf("%s %s\n", ok ? "ok" : "not ok", c.name);
    (ok ? passed : failed)++;
  }
  std::printf("%s: %d passed, %d failed\n", suite, passed, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace check

#define CHECK_CONCAT2(a, b) a##b
#define CHECK_CONCAT(a, b) CHECK_CONCAT2(a, b)
#define TEST_CASE(name)                                                         \
  static void CHECK_CONCAT(test_fn_, __LINE__)();                               \
  static check::Register CHECK_CONCAT(test_reg_, __LINE__)(name, CHECK_CONCAT(test_fn_, __LINE__)); \
  static void CHECK_CONCAT(test_fn_, __LINE__)()
#define CHECK(expr) check::record(static_cast<bool>(expr), #expr, __FILE__, __LINE__)
#define CHECK_EQ(a, b) check::record((a) == (b), #a " == " #b, __FILE__, __LINE__)
