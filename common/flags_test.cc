#include "common/flags.h"

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "gtest/gtest.h"

ABSL_FLAG(std::string, test_listen, "", "where to listen");
ABSL_FLAG(bool, test_plain, false, "no TLS");
ABSL_FLAG(patchfarm::ByteSize, test_memory, patchfarm::ByteSize{uint64_t{1} << 30}, "memory");
using Window = patchfarm::Count<1, 1000>;  // A macro argument cannot hold the comma.
ABSL_FLAG(Window, test_window, Window{10}, "window");
ABSL_FLAG(patchfarm::Seconds, test_lease, patchfarm::Seconds{absl::Seconds(30)}, "lease");

namespace patchfarm {
namespace {

absl::StatusOr<bool> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "daemon");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return ParseFlags(static_cast<int>(argv.size()), argv.data(), "common/flags_test.cc");
}

TEST(Flags, DashedAndUnderscoredNamesValuesAfterOrWithEquals) {
  ASSERT_TRUE(Parse({"--test-listen", "127.0.0.1:1", "--test-plain", "--test_memory=512M",
                     "--test-window", "3", "--test-lease=0.5"})
                  .ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_test_listen), "127.0.0.1:1");
  EXPECT_TRUE(absl::GetFlag(FLAGS_test_plain));
  EXPECT_EQ(absl::GetFlag(FLAGS_test_memory).bytes, uint64_t{512} << 20);
  EXPECT_EQ(absl::GetFlag(FLAGS_test_window).value, 3);
  EXPECT_EQ(absl::GetFlag(FLAGS_test_lease).duration, absl::Milliseconds(500));
  ASSERT_TRUE(Parse({"--test-plain=false"}).ok());
  EXPECT_FALSE(absl::GetFlag(FLAGS_test_plain));
  auto help = Parse({"--test-window", "5", "--help", "--nonsense"});
  ASSERT_TRUE(help.ok());
  EXPECT_TRUE(*help);
}

TEST(Flags, BadValuesAreRefusedNamingTheFlag) {
  const std::vector<std::vector<std::string>> bad = {
      {"--test-window", "0"},        {"--test-window", "1001"},   {"--test-window", "x"},
      {"--test-window", "-1"},       {"--test-lease", "-1"},      {"--test-lease", "nan"},
      {"--test-lease", "inf"},       {"--test-lease", "0"},       {"--test-memory", "1.5G"},
      {"--test-memory", "0"},        {"--test-memory", "99999999999999999999G"},
      {"--test-plain=maybe"},        {"--test-window"},
  };
  for (const auto& args : bad) {
    absl::StatusOr<bool> parsed = Parse(args);
    ASSERT_FALSE(parsed.ok()) << args[0] << " " << (args.size() > 1 ? args[1] : "");
    EXPECT_NE(parsed.status().message().find(args[0].substr(0, args[0].find('='))),
              std::string::npos)
        << parsed.status();
  }
  EXPECT_EQ(absl::GetFlag(FLAGS_test_window).value, 5);  // Unchanged by the refusals.
  absl::StatusOr<bool> unknown = Parse({"--no-such-flag", "1"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("--no-such-flag"), std::string::npos);
  EXPECT_FALSE(Parse({"positional"}).ok());
  EXPECT_FALSE(Parse({"--help-me"}).ok());
}

TEST(Flags, HelpListsEveryFlagWithItsDefault) {
  const std::string help = FlagsHelp("common/flags_test.cc");
  EXPECT_NE(help.find("  --test-listen  where to listen\n"), std::string::npos) << help;
  EXPECT_NE(help.find("  --test-memory  memory (default: 1G)\n"), std::string::npos) << help;
  EXPECT_NE(help.find("  --test-window  window (default: 10)\n"), std::string::npos) << help;
  EXPECT_NE(help.find("  --test-lease  lease (default: 30)\n"), std::string::npos) << help;
  EXPECT_NE(help.find("  --test-plain  no TLS\n"), std::string::npos) << help;
}

}  // namespace
}  // namespace patchfarm
