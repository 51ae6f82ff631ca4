// The doctest main of every test executable. CTest runs each test case as
// `--test-case=<name>` (doctest_discover_tests); a name that matches nothing would pass with
// zero test cases run, silently (doctest_discover_tests splits names at ';', for one). So a run
// in which no test case started fails.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

namespace {

int g_started = 0;

struct CountStarted : doctest::IReporter {
  explicit CountStarted(const doctest::ContextOptions& /*unused*/) {}
  void report_query(const doctest::QueryData& /*unused*/) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& /*unused*/) override {}
  void test_case_start(const doctest::TestCaseData& /*unused*/) override { ++g_started; }
  void test_case_reenter(const doctest::TestCaseData& /*unused*/) override {}
  void test_case_end(const doctest::CurrentTestCaseStats& /*unused*/) override {}
  void test_case_exception(const doctest::TestCaseException& /*unused*/) override {}
  void subcase_start(const doctest::SubcaseSignature& /*unused*/) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData& /*unused*/) override {}
  void log_message(const doctest::MessageData& /*unused*/) override {}
  void test_case_skipped(const doctest::TestCaseData& /*unused*/) override {}
};

REGISTER_LISTENER("count_started", 1, CountStarted);

}  // namespace

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int failed = context.run();
  if (context.shouldExit()) return failed;  // --help, --list-test-cases, ...
  if (failed != 0) return failed;
  if (g_started == 0) {
    std::fprintf(stderr, "doctest: no test case matched the filters: nothing was tested\n");
    return 1;
  }
  return 0;
}
