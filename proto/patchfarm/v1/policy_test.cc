// The policy's ranges and its wire form (core/release/policy.h,
// proto/patchfarm/v1/policy_proto_convert.h).
#include "core/release/policy.h"

#include <cmath>
#include <limits>

#include "proto/patchfarm/v1/policy_proto_convert.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

TEST(PolicyTest, DefaultsAreValid) {
  Policy p;
  EXPECT_EQ(p.cumulative_window, 10);
  EXPECT_EQ(p.keep_chain, 100);
  EXPECT_EQ(p.keep_days, 365);
  EXPECT_DOUBLE_EQ(p.max_patch_ratio, 0.9);
  EXPECT_TRUE(ValidatePolicy(p).ok());
}

TEST(PolicyTest, EachFieldIsCheckedAtItsBounds) {
  auto with = [](auto set) {
    Policy p;
    set(&p);
    return ValidatePolicy(p).ok();
  };
  EXPECT_TRUE(with([](Policy* p) { p->cumulative_window = 1; }));
  EXPECT_TRUE(with([](Policy* p) { p->cumulative_window = 1000; }));
  EXPECT_FALSE(with([](Policy* p) { p->cumulative_window = 0; }));
  EXPECT_FALSE(with([](Policy* p) { p->cumulative_window = 1001; }));
  EXPECT_TRUE(with([](Policy* p) { p->keep_chain = 1; }));
  EXPECT_TRUE(with([](Policy* p) { p->keep_chain = 100000; }));
  EXPECT_FALSE(with([](Policy* p) { p->keep_chain = 0; }));
  EXPECT_FALSE(with([](Policy* p) { p->keep_chain = 100001; }));
  EXPECT_TRUE(with([](Policy* p) { p->keep_days = 0; }));
  EXPECT_TRUE(with([](Policy* p) { p->keep_days = 36500; }));
  EXPECT_FALSE(with([](Policy* p) { p->keep_days = -1; }));
  EXPECT_FALSE(with([](Policy* p) { p->keep_days = 36501; }));
  EXPECT_TRUE(with([](Policy* p) { p->max_patch_ratio = 1.0; }));
  EXPECT_TRUE(with([](Policy* p) { p->max_patch_ratio = 0.001; }));
  EXPECT_FALSE(with([](Policy* p) { p->max_patch_ratio = 0; }));
  EXPECT_FALSE(with([](Policy* p) { p->max_patch_ratio = -0.5; }));
  EXPECT_FALSE(with([](Policy* p) { p->max_patch_ratio = 1.0001; }));
  EXPECT_FALSE(with([](Policy* p) { p->max_patch_ratio = std::nan(""); }));
  EXPECT_FALSE(with([](Policy* p) { p->max_patch_ratio = std::numeric_limits<double>::infinity(); }));
}

TEST(PolicyTest, MergeChangesOnlyTheFieldsSet) {
  Policy base;
  base.cumulative_window = 4;
  v1::PolicyRequest request;
  request.set_keep_days(0);  // 0 is a value, not "unset".
  auto merged = MergePolicy(base, request);
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ(merged->cumulative_window, 4);
  EXPECT_EQ(merged->keep_chain, 100);
  EXPECT_EQ(merged->keep_days, 0);
  request.set_keep_chain(7);
  request.set_max_patch_ratio(0.5);
  merged = MergePolicy(*merged, request);
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(merged->keep_chain, 7);
  EXPECT_DOUBLE_EQ(merged->max_patch_ratio, 0.5);
}

TEST(PolicyTest, MergeRefusesOutOfRangeWithoutWrapping) {
  v1::PolicyRequest request;
  request.set_keep_chain(0xffffffffu);  // Must not wrap into range.
  EXPECT_EQ(MergePolicy(Policy(), request).status().code(), absl::StatusCode::kInvalidArgument);
  request.Clear();
  request.set_cumulative_window(0);
  EXPECT_EQ(MergePolicy(Policy(), request).status().code(), absl::StatusCode::kInvalidArgument);
  request.Clear();
  request.set_max_patch_ratio(2);
  auto refused = MergePolicy(Policy(), request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("ratio"), absl::string_view::npos) << refused.status();
}

TEST(PolicyTest, RoundTripsThroughItsRecordAndResponse) {
  Policy p;
  p.cumulative_window = 3;
  p.keep_chain = 12;
  p.keep_days = 0;
  p.max_patch_ratio = 0.25;
  v1::PolicyRequest record = PolicyToRequest("game", p);
  EXPECT_EQ(record.product(), "game");
  auto back = MergePolicy(Policy(), record);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->keep_chain, 12);
  EXPECT_EQ(back->keep_days, 0);
  Policy from_response = PolicyFromProto(PolicyToProto(p));
  EXPECT_EQ(from_response.cumulative_window, 3);
  EXPECT_EQ(from_response.keep_chain, 12);
  EXPECT_EQ(from_response.keep_days, 0);
  EXPECT_DOUBLE_EQ(from_response.max_patch_ratio, 0.25);
  // A response from a coordinator that knew only the window.
  v1::PolicyResponse old;
  old.set_cumulative_window(5);
  Policy defaults = PolicyFromProto(old);
  EXPECT_EQ(defaults.cumulative_window, 5);
  EXPECT_EQ(defaults.keep_chain, 100);
  EXPECT_EQ(defaults.keep_days, 365);
}

}  // namespace
}  // namespace patchfarm
