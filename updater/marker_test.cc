#include "updater/marker.h"

#include <sys/stat.h>

#include <string>

#include "common/file.h"
#include "core/tree/tree_testing.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

class MarkerTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = NewTempPath("marker");
    ASSERT_EQ(mkdir(dir_.c_str(), 0755), 0);
  }

  std::string Path() const { return dir_ + "/marker"; }

  std::string dir_;
};

TEST_F(MarkerTest, RoundTrip) {
  Marker marker;
  marker.fields["product"] = "game";
  marker.fields["channel"] = "stable";
  marker.fields["version"] = "2.0";
  marker.fields["manifest"] = std::string(64, 'a');
  marker.fields["serial"] = "1700000000";
  marker.fields["hotfixes"] =
      "fix.dll:" + std::string(64, 'b') + ",other:" + std::string(64, 'c');
  marker.fields["motto"] = "a=b=c";  // Values may hold '='.
  marker.fields["empty"] = "";
  auto encoded = EncodeMarker(marker);
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  EXPECT_EQ(encoded->substr(0, 9), "channel=s");  // Sorted by key.
  ASSERT_TRUE(WriteFileAtomically(Path(), *encoded).ok());
  auto read = ReadMarker(Path());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->fields, marker.fields);
  EXPECT_EQ(read->Get("motto"), "a=b=c");
  EXPECT_EQ(read->Get("absent"), "");
}

TEST_F(MarkerTest, HandWrittenLinesAreRead) {
  // As a package manager might write it: blank lines, a repeated key.
  ASSERT_TRUE(
      WriteFileAtomically(Path(), "\nself_update=true\n\nself_update=false\nversion=1.0")
          .ok());
  auto read = ReadMarker(Path());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->Get("self_update"), "false");
  EXPECT_EQ(read->Get("version"), "1.0");
  EXPECT_EQ(read->fields.size(), 2u);
}

TEST_F(MarkerTest, BadLineRefused) {
  ASSERT_TRUE(
      WriteFileAtomically(Path(), "version=1.0\nthis line has no equals sign\n").ok());
  auto read = ReadMarker(Path());
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss) << read.status();
  EXPECT_NE(read.status().message().find(Path()), absl::string_view::npos)
      << read.status();
}

TEST_F(MarkerTest, MissingFileIsAnEmptyMarker) {
  auto read = ReadMarker(Path());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->fields.empty());
  EXPECT_EQ(read->Get("version"), "");
}

TEST_F(MarkerTest, FieldsThatWouldNotReadBackAreRefused) {
  for (const auto& [key, value] :
       {std::pair<std::string, std::string>{"channel", "stable\nself_update=false"},
        {"a=b", "c"},
        {"a\nb", "c"}}) {
    Marker marker;
    marker.fields[key] = value;
    auto encoded = EncodeMarker(marker);
    EXPECT_FALSE(encoded.ok()) << key;
    EXPECT_EQ(encoded.status().code(), absl::StatusCode::kInvalidArgument) << key;
  }
}

TEST_F(MarkerTest, ADirectoryIsNotAMarker) {
  ASSERT_EQ(mkdir(Path().c_str(), 0755), 0);
  EXPECT_FALSE(ReadMarker(Path()).ok());
}

}  // namespace
}  // namespace patchfarm
