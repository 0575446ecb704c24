// SHA-256 (FIPS 180-4): fingerprints of the config a result came from, and the integrity digests
// of checkpoints and shards (docs/output-format.md).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace chokepoint {

/// Whether SHA-256 runs on the CPU's SHA extensions (x86-64 SHA-NI), about 8 times faster than
/// the portable code; the digests are the same.
bool sha256_uses_cpu_extensions();

/// Incremental SHA-256: update() with the data in pieces, then digest() (once). `portable`
/// forces the portable code (tests compare both).
class Sha256 {
public:
    explicit Sha256(bool portable = false);
    void update(const void *data, std::size_t size);
    void update(std::string_view s) { update(s.data(), s.size()); }
    /// The digest of everything given; the object is spent afterwards.
    std::array<std::uint8_t, 32> digest();

private:
    void blocks(const std::uint8_t *p, std::size_t n);
    void block(const std::uint8_t *p);
    bool portable_ = false;
    std::array<std::uint32_t, 8> h_;
    std::array<std::uint8_t, 64> buf_{};
    std::size_t used_ = 0;
    std::uint64_t bytes_ = 0;
};

/// Lower-case hex of `d`.
std::string hex(const std::array<std::uint8_t, 32> &d);

/// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);
} // namespace chokepoint
