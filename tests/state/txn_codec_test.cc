// The Raft log encoding of transactions and results: exact round trips, and
// hostile or damaged bytes refused with an error (never a crash, never a huge
// allocation). The suite is named StoreTxnCodec so `ctest -R Store` runs it.
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "state/store.h"
#include "tests/state/store_test_util.h"

namespace bosun::state {
namespace {

using ::testing::HasSubstr;
using testing::Str;

Txn SampleTxn() {
  Txn t;
  t.preconditions = {{"/registry/pods/default/web", Precondition::Kind::kModRevisionEquals, 1234567890123},
                     {"/a", Precondition::Kind::kMustExist, 0},
                     {std::string("bin\0key", 7), Precondition::Kind::kMustNotExist, -5}};
  t.ops = {{Op::Kind::kPut, "/registry/pods/default/web", std::string(3000, 'x') + std::string("\0\xff", 2)},
           {Op::Kind::kDelete, "/gone", ""},
           {Op::Kind::kPut, "/empty-value", ""}};
  return t;
}

std::string Render(const Txn& t) {
  std::string out;
  for (const Precondition& p : t.preconditions) {
    out +=
        "pre " + std::to_string(static_cast<int>(p.kind)) + " " + p.key + " " + std::to_string(p.mod_revision) + "\n";
  }
  for (const Op& op : t.ops)
    out += "op " + std::to_string(static_cast<int>(op.kind)) + " " + op.key + "=" + op.value + "\n";
  return out;
}

TxnResult SampleResult() {
  TxnResult r;
  r.succeeded = false;
  r.revision = 42;
  r.failed_key = "/registry/pods/default/web";
  r.current = KeyValue{"/registry/pods/default/web", std::string("v\0alue", 6), 3, 41, 7};
  r.prev = {std::nullopt, KeyValue{"/b", "", 1, 2, 1}, std::nullopt};
  return r;
}

std::string Render(const TxnResult& r) {
  std::string out =
      (r.succeeded ? "ok " : "failed ") + std::to_string(r.revision) + " " + r.failed_key + " " + Str(r.current) + "\n";
  for (const auto& p : r.prev) out += Str(p) + "\n";
  return out;
}

TEST(StoreTxnCodec, TxnRoundTripsExactly) {
  for (const Txn& t : {SampleTxn(), Txn{}}) {
    std::string bytes = EncodeTxn(t);
    auto back = DecodeTxn(bytes);
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(Render(*back), Render(t));
    EXPECT_EQ(EncodeTxn(*back), bytes);
  }
  // Compact: a one-put transaction costs a few bytes beyond its key and value.
  EXPECT_LE(EncodeTxn(testing::Put("/k", "v")).size(), 12u);
}

TEST(StoreTxnCodec, ResultRoundTripsExactly) {
  TxnResult ok;
  ok.succeeded = true;
  ok.revision = 7;
  ok.prev = {KeyValue{"/a", "1", 1, 6, 3}};
  for (const TxnResult& r : {SampleResult(), ok, TxnResult{}}) {
    std::string bytes = EncodeTxnResult(r);
    auto back = DecodeTxnResult(bytes);
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(Render(*back), Render(r));
    EXPECT_EQ(EncodeTxnResult(*back), bytes);
  }
}

TEST(StoreTxnCodec, EveryTruncationIsRefused) {
  const std::string txn = EncodeTxn(SampleTxn());
  for (size_t n = 0; n < txn.size(); ++n) {
    auto r = DecodeTxn(std::string_view(txn).substr(0, n));
    ASSERT_FALSE(r.ok()) << "a transaction cut to " << n << " bytes decoded";
    EXPECT_EQ(r.error().code(), Code::kInvalid);
  }
  const std::string res = EncodeTxnResult(SampleResult());
  for (size_t n = 0; n < res.size(); ++n) {
    auto r = DecodeTxnResult(std::string_view(res).substr(0, n));
    ASSERT_FALSE(r.ok()) << "a result cut to " << n << " bytes decoded";
    EXPECT_EQ(r.error().code(), Code::kInvalid);
  }
}

TEST(StoreTxnCodec, HugeLengthsAndCountsAreRefusedBeforeAllocating) {
  // 'T' 1, no preconditions, one op: a put whose key claims 2^62 bytes.
  std::string huge_key = std::string("T\x01\x00\x01\x00", 5) + "\x80\x80\x80\x80\x80\x80\x80\x80\x40" + "abc";
  auto r = DecodeTxn(huge_key);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("op key"));
  EXPECT_THAT(r.error().message(), HasSubstr("past the end"));

  // A precondition count of 2^56 in a 12-byte input.
  std::string huge_count = std::string("T\x01", 2) + "\x80\x80\x80\x80\x80\x80\x80\x80\x01" + "x";
  r = DecodeTxn(huge_count);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("precondition count"));

  // A result with 2^63 previous values.
  std::string huge_prev = std::string("R\x01\x01\x02\x00", 5) + "\xff\xff\xff\xff\xff\xff\xff\xff\x7f";
  auto rr = DecodeTxnResult(huge_prev);
  ASSERT_FALSE(rr.ok());
  EXPECT_THAT(rr.error().message(), HasSubstr("prev count"));

  // A varint longer than 64 bits.
  std::string overlong = std::string("T\x01", 2) + std::string(11, '\xff');
  EXPECT_FALSE(DecodeTxn(overlong).ok());
}

TEST(StoreTxnCodec, RefusesWrongTagVersionKindsAndTrailingBytes) {
  const std::string txn = EncodeTxn(SampleTxn());
  const std::string res = EncodeTxnResult(SampleResult());
  EXPECT_FALSE(DecodeTxn(res).ok()) << "a result is not a transaction";
  EXPECT_FALSE(DecodeTxnResult(txn).ok()) << "a transaction is not a result";

  std::string future = txn;
  future[1] = 2;
  auto r = DecodeTxn(future);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("format version 2"));

  EXPECT_THAT(DecodeTxn(txn + "x").error().message(), HasSubstr("trailing"));
  EXPECT_FALSE(DecodeTxnResult(res + std::string(1, '\0')).ok());

  std::string bad_kind = EncodeTxn(testing::Put("/k", "v"));
  bad_kind[4] = 7;  // after the tag, the version, zero preconditions and one op: the op kind
  r = DecodeTxn(bad_kind);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("unknown kind 7"));
  EXPECT_FALSE(DecodeTxn("").ok());
}

// Random damage to valid encodings: each decode either succeeds or reports an
// error; it never crashes (run under ASan/UBSan in tests/fuzz for more).
TEST(StoreTxnCodec, RandomDamageNeverCrashes) {
  std::mt19937 rng(20261121);
  const std::string txn = EncodeTxn(SampleTxn());
  const std::string res = EncodeTxnResult(SampleResult());
  int refused = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string t = txn, r = res;
    for (std::string* s : {&t, &r}) {
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !s->empty(); ++e) {
        size_t at = rng() % s->size();
        switch (rng() % 3) {
          case 0:
            (*s)[at] = static_cast<char>(rng());
            break;
          case 1:
            s->erase(at, 1 + rng() % 8);
            break;
          case 2:
            s->insert(at, 1, static_cast<char>(rng()));
            break;
        }
      }
    }
    auto dt = DecodeTxn(t);
    auto dr = DecodeTxnResult(r);
    if (!dt.ok()) ++refused;
    if (!dr.ok()) ++refused;
    if (dt.ok()) {
      EXPECT_TRUE(DecodeTxn(EncodeTxn(*dt)).ok());
    }
  }
  EXPECT_GT(refused, 1000) << "damage should mostly be caught";
}

}  // namespace
}  // namespace bosun::state
