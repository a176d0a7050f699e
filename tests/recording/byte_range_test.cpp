// The recording audio route's Range header (plugins/recording/byte_range.hpp), RFC 9110 §14.
#include "byte_range.hpp"

#include <gtest/gtest.h>

using gramothi::recording::byte_range;

namespace {

constexpr int64_t kChunk = 64 * 1024 * 1024;

}  // namespace

TEST(ByteRange, OneRangeOfEachFormIsAPartOfTheFile) {
  auto r = byte_range("bytes=100-199", 1000, kChunk);
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.from, 100);
  EXPECT_EQ(r.to, 199);
  r = byte_range("bytes=100-", 1000, kChunk);
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.from, 100);
  EXPECT_EQ(r.to, 999);
  r = byte_range("bytes=-300", 1000, kChunk);
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.from, 700);
  EXPECT_EQ(r.to, 999);
  r = byte_range("bytes=900-5000", 1000, kChunk);  // a last position past the end is the end
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.to, 999);
  r = byte_range("bytes=-5000", 1000, kChunk);  // a suffix longer than the file is all of it
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.from, 0);
  EXPECT_EQ(r.to, 999);
  r = byte_range("Bytes = 1-2 ", 1000, kChunk);  // the unit is case-insensitive; spaces allowed
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.from, 1);
  EXPECT_EQ(r.to, 2);
}

TEST(ByteRange, NoHeaderIsTheWholeFileAndALongFileIsSentInChunks) {
  auto r = byte_range("", 1000, kChunk);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.from, 0);
  EXPECT_EQ(r.to, 999);
  r = byte_range("", 1000, 100);
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.to, 99);
  r = byte_range("bytes=950-", 1000, 10);
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.from, 950);
  EXPECT_EQ(r.to, 959);
  r = byte_range("", 0, kChunk);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.to - r.from + 1, 0);
}

TEST(ByteRange, RangesPastTheEndAreNotSatisfiable) {
  EXPECT_EQ(byte_range("bytes=1000-", 1000, kChunk).status, 416);
  EXPECT_EQ(byte_range("bytes=1000-1001", 1000, kChunk).status, 416);
  EXPECT_EQ(byte_range("bytes=99999999999999999999999-", 1000, kChunk).status, 416);
  EXPECT_EQ(byte_range("bytes=0-", 0, kChunk).status, 416);
  EXPECT_EQ(byte_range("bytes=-1", 0, kChunk).status, 416);
  EXPECT_EQ(byte_range("bytes=5-3", 1000, kChunk).status, 416);
}

// Found while writing fuzz/range_fuzz: "bytes=-0" was served as "bytes=0-" (the whole file as a
// part), several ranges as their first one alone, and trailing garbage was ignored.
TEST(ByteRange, AnEmptySuffixIsNotSatisfiable) {
  EXPECT_EQ(byte_range("bytes=-0", 1000, kChunk).status, 416);
}

TEST(ByteRange, SeveralRangesOrAMalformedHeaderGetTheWholeFile) {
  for (const char *h : {"bytes=0-5,7-9", "bytes=0-5, 7-", "bytes=5-x", "bytes=+5-9", "bytes=5",
                        "bytes=--5", "bytes=-", "bytes=", "items=0-5", "bytes=0x10-", "bytes 0-5",
                        "bytes=1-2-3", "bytes=-5-6", "bytes=0-5,"}) {
    auto r = byte_range(h, 1000, kChunk);
    EXPECT_EQ(r.status, 200) << h;
    EXPECT_EQ(r.from, 0) << h;
    EXPECT_EQ(r.to, 999) << h;
  }
}
