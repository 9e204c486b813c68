// Fetches and downloads from a real HTTP server on loopback (cpp-httplib):
// error bodies are never taken for the document, redirects stay on HTTP,
// empty files download, a symlink is never written through, and an
// interrupted download resumes.
#include "common/http_fetch.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "gtest/gtest.h"
#include "httplib.h"

namespace patchfarm {
namespace {

class HttpFetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Get("/busy", [](const httplib::Request&, httplib::Response& res) {
      res.status = 503;
      res.set_content("<html>try later</html>", "text/html");
    });
    server_.Get("/doc", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("hello, world", "application/octet-stream");
    });
    server_.Get("/empty", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("", "application/octet-stream");
    });
    server_.Get("/to-file", [this](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("file://" + dir_ + "/secret");
    });
    server_.Get("/to-doc", [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("/doc");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    dir_ = std::string(std::getenv("TEST_TMPDIR")) + "/" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    ASSERT_EQ(mkdir(dir_.c_str(), 0755), 0);
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
  }

  std::string Url(const std::string& path) { return absl::StrCat("http://127.0.0.1:", port_, path); }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::string dir_;
};

TEST_F(HttpFetchTest, AnErrorsBodyIsNotTheDocument) {
  auto fetched = FetchUrl(Url("/busy"), 1 << 20);
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(fetched.status().message().find("HTTP 503"), std::string::npos) << fetched.status();
  const std::string part = dir_ + "/package.part";
  auto downloaded = DownloadUrl(Url("/busy"), part, 1 << 20);
  EXPECT_EQ(downloaded.status().code(), absl::StatusCode::kUnavailable);
  auto kept = ReadFileToString(part);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, "");  // Nothing to resume from.
  EXPECT_EQ(FetchUrl(Url("/missing"), 100).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(HttpFetchTest, RedirectsStayOnHttp) {
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/secret", "a local file").ok());
  ASSERT_TRUE(FetchUrl("file://" + dir_ + "/secret", 100).ok());
  EXPECT_FALSE(FetchUrl(Url("/to-file"), 1 << 20).ok());
  auto fetched = FetchUrl(Url("/to-doc"), 1 << 20);
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(*fetched, "hello, world");
}

TEST_F(HttpFetchTest, DownloadsResumeAndEmptyFilesArrive) {
  const std::string part = dir_ + "/doc.part";
  ASSERT_TRUE(WriteFileAtomically(part, "hello").ok());
  auto resumed = DownloadUrl(Url("/doc"), part, 12);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->resumed_from, 5u);
  EXPECT_EQ(*ReadFileToString(part), "hello, world");
  const std::string empty = dir_ + "/empty.part";
  auto got = DownloadUrl(Url("/empty"), empty, 0);
  ASSERT_TRUE(got.ok()) << got.status();
  auto bytes = ReadFileToString(empty);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, "");
  // Bytes kept that the server cannot go on from: start over.
  const std::string longer = dir_ + "/longer.part";
  ASSERT_TRUE(WriteFileAtomically(longer, "these are not the doc's bytes").ok());
  EXPECT_EQ(DownloadUrl(Url("/doc"), longer, 100).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(HttpFetchTest, ADownloadNeverWritesThroughASymlink) {
  const std::string target = dir_ + "/elsewhere";
  ASSERT_TRUE(WriteFileAtomically(target, "keep").ok());
  const std::string part = dir_ + "/doc.part";
  ASSERT_EQ(symlink(target.c_str(), part.c_str()), 0);
  EXPECT_FALSE(DownloadUrl(Url("/doc"), part, 12).ok());
  EXPECT_EQ(*ReadFileToString(target), "keep");
}

}  // namespace
}  // namespace patchfarm
