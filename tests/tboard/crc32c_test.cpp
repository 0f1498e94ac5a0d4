#include "sinks/crc32c.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace trainscope::detail {
namespace {

using CrcFn = uint32_t (*)(uint32_t, const void*, size_t);

struct Path {
  const char* name;
  CrcFn fn;
  bool available;
};

std::vector<Path> paths() {
  return {{"portable", crc32c_portable, true},
          {"hardware", crc32c_hardware, crc32c_hardware_available()},
          {"dispatch", crc32c_extend, true}};
}

std::string le64(uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}

// The test vectors of docs/tensorboard.md (the ones TensorBoard's own CRC tests use), on every path.
TEST(Crc32c, SpecVectorsOnEveryPath) {
  for (const Path& path : paths()) {
    if (!path.available) {
      std::cout << "[ INFO ] " << path.name << " path: this CPU has no CRC-32C instruction\n";
      continue;
    }
    SCOPED_TRACE(path.name);
    const std::string text = "\x1a\x11" "CRC test, one two";
    EXPECT_EQ(mask_crc32c(path.fn(0, text.data(), text.size())), 0x5794d08au);
    const std::string length = le64(24);
    EXPECT_EQ(mask_crc32c(path.fn(0, length.data(), length.size())), 0x224b7fa3u);
    const std::vector<uint8_t> zeros(32, 0);
    EXPECT_EQ(path.fn(0, zeros.data(), zeros.size()), 0x8a9136aau);
    // The catalogued check value of CRC-32C (iSCSI): "123456789" -> 0xe3069283.
    EXPECT_EQ(path.fn(0, "123456789", 9), 0xe3069283u);
    EXPECT_EQ(path.fn(0, "", 0), 0u);
  }
}

TEST(Crc32c, HardwarePathIsUsedWhereTheCpuHasIt) {
#if defined(__x86_64__)
  EXPECT_EQ(crc32c_hardware_available(), static_cast<bool>(__builtin_cpu_supports("sse4.2")));
#endif
  if (!crc32c_hardware_available()) GTEST_SKIP() << "this CPU has no CRC-32C instruction";
}

// Every length and alignment exercises the unaligned heads and byte tails of both paths.
TEST(Crc32c, PathsAgreeOnEveryLengthAndAlignment) {
  if (!crc32c_hardware_available()) GTEST_SKIP() << "this CPU has no CRC-32C instruction";
  std::mt19937 rng(7);
  std::vector<uint8_t> data(600);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  for (size_t offset = 0; offset < 8; ++offset)
    for (size_t size = 0; size + offset <= data.size(); size += (size < 80 ? 1 : 37))
      ASSERT_EQ(crc32c_portable(0, data.data() + offset, size),
                crc32c_hardware(0, data.data() + offset, size))
          << "offset " << offset << " size " << size;
}

TEST(Crc32c, ExtendingEqualsOneCall) {
  const std::string a = "TensorBoard records ", b = "are framed with CRC-32C";
  const std::string ab = a + b;
  for (const Path& path : paths()) {
    if (!path.available) continue;
    SCOPED_TRACE(path.name);
    EXPECT_EQ(path.fn(path.fn(0, a.data(), a.size()), b.data(), b.size()),
              path.fn(0, ab.data(), ab.size()));
  }
}

TEST(Crc32c, MaskIsTheSpecifiedRotationAndItsInverse) {
  // ((c >> 15) | (c << 17)) + 0xa282ead8, by hand for c = 1: (1 << 17) + 0xa282ead8.
  EXPECT_EQ(mask_crc32c(1u), 0x00020000u + 0xa282ead8u);
  EXPECT_EQ(mask_crc32c(0u), 0xa282ead8u);
  std::mt19937 rng(3);
  for (int i = 0; i < 1000; ++i) {
    const uint32_t c = rng();
    EXPECT_EQ(unmask_crc32c(mask_crc32c(c)), c);
  }
}

}  // namespace
}  // namespace trainscope::detail
