// Publish against a real coordinator in-process (publisher_testing.h).
// Covers the signed index and the digests it names, the atomic switch and
// what is kept of older sites, the policy window, the site's cache, and the
// refusals.
#include "publisher/publisher.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "common/fake_clock.h"
#include "coordinator/auto_publisher.h"
#include "publisher/site_cache.h"
#include "publisher/site_plan.h"
#include "tests/publisher_testing.h"

namespace patchfarm {
namespace {

// A tamper_ that flips a byte of the last block's payload of the package
// from `from_version` to `to_version`: its tables still bind it, its blocks
// no longer rebuild the release.
std::function<void(const std::string&, const std::string&, std::string*)> BreakPackage(
    const std::string& from_version, const std::string& to_version) {
  return [from_version, to_version](const std::string& from, const std::string& to,
                                    std::string* bytes) {
    if (from != from_version || to != to_version) return;
    StringSource source(*bytes);
    auto package = ReadPackage(source);
    ASSERT_TRUE(package.ok()) << package.status();
    ASSERT_FALSE(package->blocks.empty());
    const PackageBlock& block = package->blocks.back();
    (*bytes)[block.payload_offset + block.payload_size / 2] ^= 0x40;
  };
}

TEST_F(PublisherTest, IndexVerifiesAndNamesEveryDigest) {
  SubmitAndComplete("1.0");
  SubmitAndComplete("2.0");
  SubmitAndComplete("3.0");
  Submit("4.0", Dir("4.0"), /*intermediate=*/true);  // A test build: full package only.
  {
    Upload(Dir("1.0"));
    v1::HotfixRequest request;
    request.mutable_release()->set_product("game");
    request.mutable_release()->set_platform("linux-x64");
    request.mutable_release()->set_version("3.0");
    ToProto(Manifest{ScanOrDie(Dir("1.0")).back()},
            request.mutable_files());  // readme.txt
    grpc::ClientContext context;
    v1::HotfixResponse response;
    grpc::Status status = coordinator_->AddHotfix(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  auto report = Publish();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->channels, 1);
  EXPECT_EQ(report->site, Site() + "/game");

  auto json = ReadFileToString(Channel() + "/index.json");
  auto signature = ReadFileToString(Channel() + "/index.json.sig");
  ASSERT_TRUE(json.ok() && signature.ok());
  EXPECT_EQ(signature->size(), 64u);
  EXPECT_TRUE(VerifyEd25519(keys_.public_pem, *json, *signature).ok());
  auto other = GenerateEd25519KeyPair();
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(VerifyEd25519(other->public_pem, *json, *signature).ok());

  v1::UpdateIndex index = LiveIndex();
  EXPECT_EQ(index.format(), 1u);
  EXPECT_EQ(index.product(), "game");
  EXPECT_EQ(index.channel(), "stable");
  EXPECT_EQ(index.serial(), report->serial);
  EXPECT_EQ(index.expires() - index.published(), 30 * 86400);
  EXPECT_EQ(index.motd(), "have fun");
  ASSERT_EQ(index.platforms_size(), 1);
  const v1::SitePlatform& p = index.platforms(0);
  EXPECT_EQ(p.platform(), "linux-x64");
  EXPECT_EQ(p.newest(), "3.0");
  EXPECT_EQ(p.newest_manifest_sha256(), Hex("3.0"));

  ASSERT_EQ(p.releases_size(), 2);
  EXPECT_EQ(p.releases(0).version(), "3.0");
  EXPECT_FALSE(p.releases(0).intermediate());
  EXPECT_EQ(p.releases(1).version(), "4.0");
  EXPECT_TRUE(p.releases(1).intermediate());
  for (const v1::SiteRelease& r : p.releases()) {
    EXPECT_EQ(r.manifest_sha256(), Hex(r.version()));
    EXPECT_EQ(r.full().url(), "full_linux-x64_" + r.version());
    ExpectFile(r.full());
    EXPECT_EQ(DeclaredTree(r.full().url()), Hex(r.version()));
  }

  std::map<std::string, const v1::SitePatch*> patches;
  for (const v1::SitePatch& patch : p.patches()) patches[patch.file().url()] = &patch;
  ASSERT_EQ(patches.size(), 3u);
  ASSERT_EQ(patches.count("from_linux-x64_1.0_to_3.0"), 1u);
  ASSERT_EQ(patches.count("from_linux-x64_2.0_to_3.0"), 1u);
  ASSERT_EQ(patches.count("chain_linux-x64_1.0_to_2.0"), 1u);
  EXPECT_TRUE(patches["from_linux-x64_1.0_to_3.0"]->cumulative());
  EXPECT_FALSE(patches["chain_linux-x64_1.0_to_2.0"]->cumulative());
  for (const auto& [url, patch] : patches) {
    EXPECT_EQ(patch->from_manifest_sha256(), Hex(patch->from_version())) << url;
    EXPECT_EQ(patch->to_manifest_sha256(), Hex(patch->to_version())) << url;
    EXPECT_EQ(patch->to_version(), patch->cumulative() ? "3.0" : "2.0") << url;
    ExpectFile(patch->file());
    EXPECT_EQ(DeclaredTree(url), patch->to_manifest_sha256()) << url;
  }

  ASSERT_EQ(p.hotfixes_size(), 1);
  EXPECT_EQ(p.hotfixes(0).version(), "3.0");
  ASSERT_EQ(p.hotfixes(0).files_size(), 1);
  EXPECT_EQ(p.hotfixes(0).files(0).name(), "readme.txt");
  ExpectFile(p.hotfixes(0).files(0).file());

  auto ini = ReadFileToString(Channel() + "/version.ini");
  ASSERT_TRUE(ini.ok());
  EXPECT_EQ(*ini, "[game]\nVersion=3.0\nMOTD=have fun\n");
  auto html = ReadFileToString(Channel() + "/download.html");
  ASSERT_TRUE(html.ok());
  EXPECT_NE(html->find("href=\"full_linux-x64_3.0\""), std::string::npos) << *html;
  EXPECT_NE(html->find("(test build)"), std::string::npos) << *html;
}

// A worker's package whose tables bind it to its releases but whose blocks
// do not rebuild the new one is not published: every updater would download
// it, fail, and download the full package too. The rest is.
TEST_F(PublisherTest, APackageThatDoesNotRebuildItsReleaseIsRefused) {
  tamper_ = BreakPackage("1.0", "3.0");
  SubmitAndComplete("1.0");
  SubmitAndComplete("2.0");
  SubmitAndComplete("3.0");
  auto report = Publish();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->checked, 3);  // 1.0 -> 3.0, 2.0 -> 3.0 and the chain 1.0 -> 2.0.
  ASSERT_EQ(report->refused.size(), 1u);
  EXPECT_EQ(report->refused[0].name, "from_linux-x64_1.0_to_3.0");
  EXPECT_EQ(report->refused[0].from_version, "1.0");
  EXPECT_FALSE(report->refused[0].reason.empty());
  EXPECT_EQ(List(Channel()).count("from_linux-x64_1.0_to_3.0"), 0u);
  EXPECT_EQ(List(Channel()).count("from_linux-x64_2.0_to_3.0"), 1u);
  v1::UpdateIndex index = LiveIndex();
  ASSERT_EQ(index.platforms_size(), 1);
  for (const v1::SitePatch& patch : index.platforms(0).patches()) {
    EXPECT_NE(patch.file().url(), "from_linux-x64_1.0_to_3.0");
  }
  // Its job runs again: the coordinator checked the package too. 3.0 stays
  // the newest meanwhile, its other packages published.
  EXPECT_EQ(report->refused[0].rerun, "queued again (attempt 2)");
  const std::string job_id = report->refused[0].job_id;
  report = Publish();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->refused.empty());
  EXPECT_EQ(LiveIndex().platforms(0).newest(), "3.0");
  EXPECT_EQ(List(Channel()).count("from_linux-x64_2.0_to_3.0"), 1u);
  EXPECT_EQ(List(Channel()).count("from_linux-x64_1.0_to_3.0"), 0u);
  v1::StatusRequest status_request;
  status_request.set_product("game");
  auto job_of = [&](const std::string& id) {
    grpc::ClientContext context;
    v1::StatusResponse status;
    EXPECT_TRUE(coordinator_->Status(&context, status_request, &status).ok());
    for (const v1::ReleaseStatus& r : status.releases()) {
      for (const v1::JobStatus& job : r.jobs()) {
        if (job.job_id() == id) return job;
      }
    }
    return v1::JobStatus();
  };
  v1::JobStatus job = job_of(job_id);
  EXPECT_EQ(job.state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(job.attempts(), 1u);
  EXPECT_NE(job.error().find("did not rebuild"), std::string::npos) << job.error();
  EXPECT_TRUE(job.package_digest().empty());
  // The same broken package again: packages the live site signed are not
  // checked again; this one is, and refused again.
  CompleteJobs();
  report = Publish();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->checked, 1);
  ASSERT_EQ(report->refused.size(), 1u);
  EXPECT_EQ(report->refused[0].rerun, "queued again (attempt 3)");
  // A good package is published, and stays done when rejected.
  tamper_ = nullptr;
  CompleteJobs();
  report = Publish();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->checked, 1);
  EXPECT_TRUE(report->refused.empty());
  EXPECT_EQ(List(Channel()).count("from_linux-x64_1.0_to_3.0"), 1u);
  job = job_of(job_id);
  ASSERT_EQ(job.state(), v1::JOB_STATE_DONE);
  v1::RejectResultRequest reject;
  reject.set_job_id(job_id);
  reject.set_package_digest(job.package_digest());
  {
    grpc::ClientContext context;
    v1::RejectResultResponse response;
    grpc::Status status = coordinator_->RejectResult(&context, reject, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
    EXPECT_NE(status.error_message().find("rebuilds its target"), std::string::npos);
  }
  reject.set_package_digest(std::string(32, 'x'));  // Not its result.
  {
    grpc::ClientContext context;
    v1::RejectResultResponse response;
    grpc::Status status = coordinator_->RejectResult(&context, reject, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  }
  EXPECT_EQ(job_of(job_id).state(), v1::JOB_STATE_DONE);
  // An index this key did not sign (changed on the server) vouches for none.
  const std::string json = Channel() + "/index.json";
  auto text = ReadFileToString(json);
  ASSERT_TRUE(text.ok());
  ASSERT_TRUE(WriteFileAtomically(json, *text + " ").ok());
  report = Publish();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->checked, 3);
}

// Releases with the same trees share a job: a rejected one keeps only the
// releases it had finished published (another line's release of the same
// trees, submitted later, waits for it).
TEST_F(PublisherTest, ARejectedJobKeepsOnlyItsFinishedReleasesPublished) {
  tamper_ = BreakPackage("1.0", "2.0");
  SubmitAndComplete("1.0");
  SubmitAndComplete("2.0");
  auto report = Publish();
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->refused.size(), 1u);
  for (const char* version : {"1.0", "2.0"}) {  // The same trees on beta.
    v1::SubmitRequest request;
    request.mutable_release()->set_product("game");
    request.mutable_release()->set_platform("linux-x64");
    request.mutable_release()->set_channel("beta");
    request.mutable_release()->set_version(version);
    request.set_kind(v1::RELEASE_KIND_TREE);
    ToProto(ScanOrDie(Dir(version)), request.mutable_manifest());
    grpc::ClientContext context;
    v1::SubmitResponse response;
    ASSERT_TRUE(coordinator_->Submit(&context, request, &response).ok());
  }
  std::map<std::string, bool> rerun;  // By channel: 2.0's job.
  const v1::StatusResponse status = server_->coordinator()->Status("game");
  for (const v1::ReleaseStatus& r : status.releases()) {
    if (r.release().version() != "2.0") continue;
    ASSERT_EQ(r.jobs_size(), 1);
    EXPECT_EQ(r.jobs(0).state(), v1::JOB_STATE_QUEUED);
    rerun[r.release().channel()] = r.jobs(0).rerun();
  }
  EXPECT_EQ(rerun, (std::map<std::string, bool>{{"beta", false}, {"stable", true}}));
  report = Publish();
  ASSERT_TRUE(report.ok()) << report.status();
  v1::UpdateIndex stable = LiveIndex();
  EXPECT_EQ(stable.platforms(0).newest(), "2.0");
  auto json = ReadFileToString(Site() + "/game/beta/index.json");
  ASSERT_TRUE(json.ok());
  v1::UpdateIndex beta;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &beta).ok());
  ASSERT_EQ(beta.platforms_size(), 1);
  EXPECT_EQ(beta.platforms(0).newest(), "1.0");  // Its 2.0 waits for the job.
}

// A package refused three times fails its job for good: publishes stop
// checking it, 2.0 stays the newest, and updaters from 1.0 take its full
// package.
TEST_F(PublisherTest, ARefusedPackagesJobFailsAfterItsAttempts) {
  tamper_ = BreakPackage("1.0", "2.0");
  SubmitAndComplete("1.0");
  SubmitAndComplete("2.0");
  for (const char* rerun : {"queued again (attempt 2)", "queued again (attempt 3)",
                            "failed for good after 3 attempts"}) {
    auto report = Publish();
    ASSERT_TRUE(report.ok()) << report.status();
    ASSERT_EQ(report->refused.size(), 1u);
    EXPECT_EQ(report->refused[0].rerun, rerun);
    CompleteJobs();
  }
  auto report = Publish();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->refused.empty());
  EXPECT_EQ(report->checked, 0);
  EXPECT_EQ(List(Channel()).count("from_linux-x64_1.0_to_2.0"), 0u);
  EXPECT_EQ(LiveIndex().platforms(0).newest(), "2.0");
  EXPECT_EQ(List(Channel()).count("full_linux-x64_2.0"), 1u);
}

TEST_F(PublisherTest, SecondPublishSwitchesTheSymlinkAndKeepsOnlyThePrevious) {
  SubmitAndComplete("1.0");
  SubmitAndComplete("2.0");
  auto first = Publish();
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string first_tree = absl::StrCat("game.", first->serial);
  EXPECT_EQ(LiveTarget(), ".published/" + first_tree);
  std::map<std::string, struct timespec> written;  // The packages' mtimes.
  for (const std::string& name : List(Site() + "/.published/" + first_tree + "/stable")) {
    struct stat st;
    ASSERT_EQ(stat((Site() + "/.published/" + first_tree + "/stable/" + name).c_str(), &st), 0);
    if (name.rfind("from_", 0) == 0 || name.rfind("full_", 0) == 0) written[name] = st.st_mtim;
  }
  ASSERT_FALSE(written.empty());

  auto second = Publish();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_GT(second->serial, first->serial);
  // Republished, a package keeps its mtime (HTTP caches go by it).
  for (const auto& [name, mtime] : written) {
    struct stat st;
    ASSERT_EQ(stat((Site() + "/.published/" + first_tree + "/stable/" + name).c_str(), &st), 0);
    EXPECT_EQ(st.st_mtim.tv_sec, mtime.tv_sec) << name;
    EXPECT_EQ(st.st_mtim.tv_nsec, mtime.tv_nsec) << name;
  }
  const std::string second_tree = absl::StrCat("game.", second->serial);
  struct stat st;
  ASSERT_EQ(lstat((Site() + "/game").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(LiveTarget(), ".published/" + second_tree);
  EXPECT_EQ(LiveIndex().serial(), second->serial);
  // The previous tree stays whole for readers still fetching from it.
  EXPECT_EQ(List(Site() + "/.published"),
            (std::set<std::string>{first_tree, second_tree}));
  auto old_index =
      ReadFileToString(Site() + "/.published/" + first_tree + "/stable/index.json");
  ASSERT_TRUE(old_index.ok());
  EXPECT_NE(old_index->find(absl::StrCat("\"", first->serial, "\"")), std::string::npos);
  EXPECT_EQ(List(Site()), (std::set<std::string>{".cache", ".cache.lock", ".publish-game.lock",
                                                  ".published", "game"}));
  // Packages are hard links (to the site's cache), not copies: the second
  // publish wrote none of their bytes again.
  int packages = 0;
  for (const std::string& name : List(Site() + "/.published/" + second_tree + "/stable")) {
    if (name.rfind("full_", 0) != 0 && name.rfind("from_", 0) != 0) continue;
    struct stat before, after;
    ASSERT_EQ(stat((Site() + "/.published/" + first_tree + "/stable/" + name).c_str(), &before),
              0);
    ASSERT_EQ(stat((Site() + "/.published/" + second_tree + "/stable/" + name).c_str(), &after),
              0);
    EXPECT_EQ(before.st_ino, after.st_ino) << name;
    EXPECT_EQ(after.st_mode & 07777, 0644) << name;
    ++packages;
  }
  EXPECT_GE(packages, 2);

  auto third = Publish();
  ASSERT_TRUE(third.ok()) << third.status();
  const std::string third_tree = absl::StrCat("game.", third->serial);
  EXPECT_EQ(LiveTarget(), ".published/" + third_tree);
  EXPECT_EQ(List(Site() + "/.published"),
            (std::set<std::string>{second_tree, third_tree}));
}

// Publishes of one product run one at a time (a CI job's and the
// coordinator's): a publish waits while another holds the product's lock,
// then reads the live serial the other left.
TEST_F(PublisherTest, APublishWaitsForAnotherOfTheProduct) {
  SubmitAndComplete("1.0");
  auto first = Publish();
  ASSERT_TRUE(first.ok()) << first.status();
  const int held = open((Site() + "/.publish-game.lock").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(held, 0);
  ASSERT_EQ(flock(held, LOCK_EX), 0);  // Another publish, as far as this one knows.
  SubmitAndComplete("2.0");
  std::atomic<bool> done{false};
  absl::StatusOr<PublishReport> second;
  std::thread publishing([&] {
    second = Publish();
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(done) << "published while another publish of the product held the lock";
  EXPECT_EQ(LiveTarget(), absl::StrCat(".published/game.", first->serial));
  // A daemon's publish does not wait: it tries again later.
  auto given_up = Publish("", false, 0, absl::Hours(24), /*wait_for_others=*/false);
  EXPECT_EQ(given_up.status().code(), absl::StatusCode::kAborted) << given_up.status();
  close(held);
  publishing.join();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_GT(second->serial, first->serial);
  EXPECT_EQ(LiveIndex().platforms(0).newest(), "2.0");
  EXPECT_NE(std::find(second->notes.begin(), second->notes.end(),
                      "waited for another publish of this product to end"),
            second->notes.end());
}

// The lines an AutoPublisher logs, from its thread.
class LogLines {
 public:
  std::function<void(const std::string&)> Sink() {
    return [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.push_back(line);
    };
  }
  bool Has(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    return std::any_of(lines_.begin(), lines_.end(),
                       [&](const std::string& l) { return l.find(what) != std::string::npos; });
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

// The coordinator's publisher does not wait for another publish of a
// product (a CLI's), which would hold up its other products: it says so,
// and publishes the product at a pass after that publish ended.
TEST_F(PublisherTest, TheCoordinatorsPublisherComesBackToABusyProduct) {
  SubmitAndComplete("1.0");
  ASSERT_EQ(mkdir(Site().c_str(), 0755), 0);
  const int held =
      open((Site() + "/.publish-game.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(held, 0);
  ASSERT_EQ(flock(held, LOCK_EX), 0);
  LogLines lines;
  auto logged = [&](const std::string& what) { return lines.Has(what); };
  PublishOptions options;
  options.private_key_pem = keys_.private_pem;
  options.out_dir = Site();
  AutoPublisher publisher(server_->coordinator(), server_->blobs(), options,
                          lines.Sink());
  for (int i = 0; i < 200 && !logged("publishing game later"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(logged("publishing game later"));
  EXPECT_EQ(LiveTarget(), "");
  close(held);
  for (int i = 0; i < 200 && LiveTarget().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(LiveTarget(), "") << "not published once the other publish ended";
  EXPECT_EQ(LiveIndex().platforms(0).newest(), "1.0");
}

// The coordinator's publisher tries a failed publish again (after a minute,
// then longer), and signs a product's index again once half its validity
// has passed: a game may go a month without a release, and updaters refuse
// an expired index.
TEST_F(PublisherTest, TheCoordinatorsPublisherRetriesAndSignsAgainBeforeExpiry) {
  SubmitAndComplete("1.0");
  ASSERT_TRUE(WriteFileAtomically(Site(), "not a directory").ok());  // Publishes fail.
  FakeClock clock;
  LogLines lines;
  auto logged = [&](const std::string& what) { return lines.Has(what); };
  auto wait_for = [](const std::function<bool()>& done) {
    for (int i = 0; i < 200 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return done();
  };
  PublishOptions options;
  options.private_key_pem = keys_.private_pem;
  options.out_dir = Site();
  options.clock = &clock;
  AutoPublisher publisher(server_->coordinator(), server_->blobs(), options,
                          lines.Sink());
  ASSERT_TRUE(wait_for([&] { return logged("publishing game failed"); }));
  ASSERT_EQ(unlink(Site().c_str()), 0);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // Passes within the wait.
  EXPECT_EQ(LiveTarget(), "");
  clock.Advance(absl::Minutes(1));
  ASSERT_TRUE(wait_for([&] { return !LiveTarget().empty(); })) << "not tried again";
  const uint64_t first = LiveIndex().serial();

  clock.Advance(absl::Hours(24 * 14));  // The index is valid for 30 days.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(LiveIndex().serial(), first);
  clock.Advance(absl::Hours(25));
  ASSERT_TRUE(wait_for([&] { return logged("signed again before the index expires"); }));
  const uint64_t second = LiveIndex().serial();
  EXPECT_GT(second, first);
  EXPECT_GT(LiveIndex().expires(), absl::ToUnixSeconds(clock.Now() + absl::Hours(24 * 29)));

  // A release whose jobs still run does not hold the signing back.
  Submit("2.0", Dir("2.0"));
  clock.Advance(absl::Hours(24 * 15));
  ASSERT_TRUE(wait_for([&] { return LiveIndex().serial() > second; })) << "not signed while 2.0 runs";
  EXPECT_EQ(LiveIndex().platforms(0).newest(), "1.0");
}

// A publish that failed is tried again at once when something changed,
// not after its wait.
TEST_F(PublisherTest, TheCoordinatorsPublisherTriesAChangeAtOnce) {
  SubmitAndComplete("1.0");
  ASSERT_TRUE(WriteFileAtomically(Site(), "not a directory").ok());  // Publishes fail.
  FakeClock clock;
  LogLines lines;
  PublishOptions options;
  options.private_key_pem = keys_.private_pem;
  options.out_dir = Site();
  options.clock = &clock;
  AutoPublisher publisher(server_->coordinator(), server_->blobs(), options, lines.Sink());
  for (int i = 0; i < 200 && !lines.Has("publishing game failed"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(lines.Has("publishing game failed"));
  ASSERT_EQ(unlink(Site().c_str()), 0);
  SubmitAndComplete("2.0");  // The fake clock stays: the wait after the failure runs.
  auto newest = [&] { return LiveTarget().empty() ? "" : LiveIndex().platforms(0).newest(); };
  for (int i = 0; i < 200 && newest() != "2.0"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(newest(), "2.0") << "a change waited out the failure's wait";
}

// Two files of a release replaced by the same new bytes are one site file.
TEST_F(PublisherTest, ReplacementsWithTheSameBytesShareTheirSiteFile) {
  SubmitAndComplete("1.0");
  ASSERT_TRUE(WriteTree(Dir("fix"), {{"patched", {EntryType::kFile, 0644, "patched bytes"}}}).ok());
  Upload(Dir("fix"));
  const ManifestEntry patched = ScanOrDie(Dir("fix")).back();
  v1::HotfixRequest request;
  request.mutable_release()->set_product("game");
  request.mutable_release()->set_platform("linux-x64");
  request.mutable_release()->set_version("1.0");
  Manifest replaced;
  for (const char* path : {"data/level.pak", "readme.txt"}) {
    ManifestEntry e = patched;
    e.path = path;
    replaced.push_back(e);
  }
  ToProto(replaced, request.mutable_replacements());
  grpc::ClientContext context;
  v1::HotfixResponse response;
  grpc::Status status = coordinator_->AddHotfix(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  auto report = Publish();
  ASSERT_TRUE(report.ok()) << report.status();
  const v1::SitePlatform p = LiveIndex().platforms(0);
  ASSERT_EQ(p.hotfixes_size(), 1);
  ASSERT_EQ(p.hotfixes(0).replacements_size(), 2);
  EXPECT_EQ(p.hotfixes(0).replacements(0).file().url(), p.hotfixes(0).replacements(1).file().url());
  EXPECT_EQ(*ReadFileToString(Channel() + "/" + p.hotfixes(0).replacements(0).file().url()),
            "patched bytes");
}

TEST_F(PublisherTest, TheTreeLiveBeforeIsKeptNotTheHighestSerial) {
  SubmitAndComplete("1.0");
  auto first = Publish();
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string first_tree = absl::StrCat("game.", first->serial);
  // Trees that never went live (a publish that died before its switch), one
  // with a higher serial and one whose name sorts after the others.
  for (const std::string& orphan :
       {absl::StrCat("game.", first->serial + 1000000), std::string("game.99")}) {
    ASSERT_EQ(mkdir((Site() + "/.published/" + orphan).c_str(), 0755), 0);
  }
  auto second = Publish();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(List(Site() + "/.published"),
            (std::set<std::string>{first_tree, absl::StrCat("game.", second->serial)}));
}

TEST_F(PublisherTest, FilesThatLeftTheWindowAreGone) {
  SubmitAndComplete("1.0");
  SubmitAndComplete("2.0");
  SubmitAndComplete("3.0");
  ASSERT_TRUE(Publish().ok());
  const std::set<std::string> meta = {"index.json", "index.json.sig", "version.ini",
                                      "download.html"};
  std::set<std::string> expected = meta;
  expected.insert({"from_linux-x64_1.0_to_3.0", "from_linux-x64_2.0_to_3.0",
                   "chain_linux-x64_1.0_to_2.0", "full_linux-x64_3.0"});
  EXPECT_EQ(List(Channel()), expected);

  // With a window of 2, 4.0 has no package from 1.0.
  SubmitAndComplete("4.0");
  ASSERT_TRUE(Publish().ok());
  expected = meta;
  expected.insert({"from_linux-x64_2.0_to_4.0", "from_linux-x64_3.0_to_4.0",
                   "chain_linux-x64_2.0_to_3.0", "full_linux-x64_4.0"});
  EXPECT_EQ(List(Channel()), expected);
  v1::UpdateIndex index = LiveIndex();
  ASSERT_EQ(index.platforms_size(), 1);
  EXPECT_EQ(index.platforms(0).newest(), "4.0");
  for (const v1::SitePatch& patch : index.platforms(0).patches()) {
    EXPECT_NE(patch.from_version(), "1.0") << patch.file().url();
  }
}

// After a publish the site's cache keeps what the live and previous trees
// name (packages, full packages), and drops the rest once it is older than
// the grace: the files of releases read to build full packages, full
// packages of releases no tree offers.
bool IsFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

TEST_F(PublisherTest, TheCacheDropsWhatNoPublishedTreeNames) {
  SubmitAndComplete("1.0");
  SubmitAndComplete("2.0");
  auto first = Publish();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->indexes[0].platforms(0).releases_size(), 1);
  const std::string full_2 = Site() + "/.cache/" +
      FullPackageCacheName(absl::HexStringToBytes(
          first->indexes[0].platforms(0).releases(0).manifest_sha256()));
  ASSERT_TRUE(IsFile(full_2));
  SubmitAndComplete("3.0");
  SubmitAndComplete("4.0");
  ASSERT_TRUE(Publish().ok());
  ASSERT_TRUE(Publish().ok());  // Neither tree offers 2.0's full package now,
  EXPECT_TRUE(IsFile(full_2));  // which is too young to go.
  {
    // Another publish holds the site's cache: nothing is pruned.
    auto other = SiteCacheLock::Shared(Site(), /*create=*/false);
    ASSERT_TRUE(other.ok()) << other.status();
    auto held = Publish("", false, 0, absl::ZeroDuration());
    ASSERT_TRUE(held.ok()) << held.status();
    EXPECT_TRUE(IsFile(full_2));
    bool noted = false;
    for (const std::string& note : held->notes) noted |= note.find("not pruned") != std::string::npos;
    EXPECT_TRUE(noted);
  }
  // A tree left by a publish killed before its switch goes with the prune,
  // as do the cache files such a publish was writing and its downloads.
  const std::string killed = Site() + "/.published/game.5.partial";
  ASSERT_EQ(mkdir(killed.c_str(), 0755), 0);
  const std::string hex(64, 'a');
  const std::vector<std::string> left = {"/.cache/full-" + hex + ".tmp-x1Y2z3",
                                         "/.cache/partial/" + hex};
  for (const std::string& file : left) {
    ASSERT_TRUE(WriteFileAtomically(Site() + file, "half").ok()) << file;
  }
  ASSERT_TRUE(WriteFileAtomically(Site() + "/.cache/notes.txt", "an operator's").ok());
  auto last = Publish("", false, 0, absl::ZeroDuration());
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_FALSE(IsFile(full_2));
  EXPECT_EQ(List(Site() + "/.published").count("game.5.partial"), 0u);
  for (const std::string& file : left) EXPECT_FALSE(IsFile(Site() + file)) << file;
  EXPECT_TRUE(IsFile(Site() + "/.cache/notes.txt"));
  bool noted = false;
  for (const std::string& note : last->notes) noted |= note.rfind("pruned ", 0) == 0;
  EXPECT_TRUE(noted);
  // What is left is what the two trees name, and every published file is whole.
  std::set<std::string> named;
  for (const std::string& tree : List(Site() + "/.published")) {
    auto index = ParseIndexFile(Site() + "/.published/" + tree + "/stable/index.json");
    ASSERT_TRUE(index.ok()) << index.status();
    for (const v1::SitePlatform& p : index->platforms()) {
      ForEachSiteFile(p, [&](const v1::SiteFile& f) {
        named.insert(f.sha256());
        uint64_t size = 0;
        auto digest = HashFile(Site() + "/.published/" + tree + "/stable/" + f.url(), &size);
        EXPECT_TRUE(digest.ok() && DigestToHex(*digest) == f.sha256()) << f.url();
      });
    }
  }
  int blobs = 0;
  for (const std::string& shard : List(Site() + "/.cache")) {
    if (shard.size() != 2) continue;
    for (const std::string& blob : List(Site() + "/.cache/" + shard)) {
      EXPECT_EQ(named.count(blob), 1u) << blob;
      ++blobs;
    }
  }
  EXPECT_GT(blobs, 0);
}

TEST_F(PublisherTest, NoFinishedFormalReleaseIsFailedPrecondition) {
  auto nothing = Publish();  // Nothing submitted.
  ASSERT_FALSE(nothing.ok());
  EXPECT_EQ(nothing.status().code(), absl::StatusCode::kFailedPrecondition)
      << nothing.status();

  Submit("1.0", Dir("1.0"), /*intermediate=*/true);  // A test build only.
  ASSERT_TRUE(
      WriteTree(Dir("file-release"), {{"tool.bin", {EntryType::kFile, 0755, "one file"}}})
          .ok());
  Submit("0.5", Dir("file-release"), /*intermediate=*/false,
         v1::RELEASE_KIND_FILE);  // Not published.
  auto refused = Publish();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition)
      << refused.status();
  struct stat st;
  EXPECT_NE(lstat((Site() + "/game").c_str(), &st), 0) << "no site was switched in";
  EXPECT_TRUE(List(Site() + "/.published").empty());
}

TEST_F(PublisherTest, FailedPublishLeavesTheLiveSiteAndNoTree) {
  SubmitAndComplete("1.0");
  auto first = Publish();
  ASSERT_TRUE(first.ok()) << first.status();
  const std::set<std::string> before = List(Site() + "/.published");
  SubmitAndComplete("2.0");
  auto failed = Publish("not a key");  // Fails at signing, after the tree was built.
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInvalidArgument)
      << failed.status();
  EXPECT_EQ(LiveTarget(), absl::StrCat(".published/game.", first->serial));
  EXPECT_EQ(LiveIndex().platforms(0).newest(), "1.0");
  EXPECT_EQ(List(Site() + "/.published"), before) << "a .partial tree was left behind";
  // 2.0's full package, built before the failure, is recorded all the same.
  bool recorded = false;
  const v1::StatusResponse status = server_->coordinator()->Status("game");
  for (const v1::ReleaseStatus& r : status.releases()) {
    if (r.release().version() == "2.0") recorded = r.full_package_size() > 0;
  }
  EXPECT_TRUE(recorded);
}

// A product's site is the symlink <site>/<product>: a publish never
// replaces anything else under that name (an operator's index.html, when a
// product was submitted as "index.html"), nor a link to another site.
TEST_F(PublisherTest, APublishReplacesOnlyItsOwnSiteLink) {
  SubmitAndComplete("1.0");
  ASSERT_TRUE(mkdir(Site().c_str(), 0755) == 0 || errno == EEXIST);
  ASSERT_TRUE(WriteFileAtomically(Site() + "/game", "the operator's page").ok());
  auto refused = Publish();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_EQ(*ReadFileToString(Site() + "/game"), "the operator's page");
  ASSERT_EQ(unlink((Site() + "/game").c_str()), 0);
  ASSERT_EQ(symlink(".published/other.7", (Site() + "/game").c_str()), 0);
  EXPECT_EQ(Publish().status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_EQ(unlink((Site() + "/game").c_str()), 0);
  auto published = Publish();
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_TRUE(Publish().ok());  // Its own link, replaced.
}

// Full packages are built within PublishOptions::max_memory: past it (a
// multi-GB asset pack), their files are compressed in bounded memory
// (DiffBounded) instead of read whole.
TEST_F(PublisherTest, FullPackagesKeepToTheMemoryBudget) {
  SubmitAndComplete("1.0");
  auto report = Publish("", false, /*max_memory=*/1);  // Below any whole-file diff.
  ASSERT_TRUE(report.ok()) << report.status();
  const v1::UpdateIndex index = LiveIndex();
  ASSERT_EQ(index.platforms_size(), 1);
  ASSERT_EQ(index.platforms(0).releases_size(), 1);
  const v1::SiteFile& full = index.platforms(0).releases(0).full();
  ExpectFile(full);
  auto published = ReadFileToString(Channel() + "/" + full.url());
  ASSERT_TRUE(published.ok());

  ASSERT_EQ(mkdir(Dir("nothing").c_str(), 0755), 0);
  auto package_from_nothing = [&](uint64_t max_memory, TreeDiffStats* stats) {
    std::string bytes;
    StringSink sink(&bytes);
    TreeDiffOptions options;
    options.delta.max_memory = max_memory;
    options.scratch_dir = root_;
    EXPECT_TRUE(MakePackage(Dir("nothing"), Dir("1.0"), options, &sink, stats).ok());
    return bytes;
  };
  TreeDiffStats bounded_stats, whole_stats;
  const std::string bounded = package_from_nothing(1, &bounded_stats);
  EXPECT_GT(bounded_stats.blocks, 0u);
  EXPECT_EQ(bounded_stats.bounded_blocks, bounded_stats.blocks);
  EXPECT_EQ(*published, bounded);
  // Without a budget the same files are diffed whole: other bytes.
  EXPECT_NE(package_from_nothing(0, &whole_stats), bounded);
  EXPECT_EQ(whole_stats.bounded_blocks, 0u);
}

}  // namespace
}  // namespace patchfarm
