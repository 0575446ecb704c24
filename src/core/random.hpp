// Counter-based random streams: every random quantity of every trial has its own stream,
// keyed by (seed, trial index, quantity identity), so that results do not depend on the
// order in which trials are simulated, on the thread count, or on unrelated quantities.
//
// The generator is Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3", SC'11). Counter words: [0] = block index within the stream, [1],[2] = the
// 64-bit quantity id, [3] = trial index; key = the 64-bit seed. Distinct (trial, quantity,
// block) triples therefore never share a counter: streams cannot overlap by construction.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

namespace chokepoint {

using Philox4x32 = std::array<std::uint32_t, 4>;

/// Philox4x32-10 block function (ten rounds).
Philox4x32 philox4x32_10(Philox4x32 ctr, std::array<std::uint32_t, 2> key) noexcept;

/// philox4x32_10 of the counters {c0 + i (mod 2^32), c1, c2, c3}, i < n, into out[i]: the same
/// bits, several blocks side by side (AVX2 or SSE2 lanes on x86-64; their rounds are
/// independent, where one block's ten rounds are a chain of dependent multiplications).
void philox4x32_10_blocks(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3,
                          std::array<std::uint32_t, 2> key, std::size_t n,
                          Philox4x32 *out) noexcept;

/// Whether philox4x32_10_blocks computes its blocks in AVX2 registers (8 at a time; x86-64 CPUs
/// that have AVX2, found at run time), else in SSE2 registers (4 at a time): the same bits.
bool philox_uses_avx2();

/// philox4x32_10_blocks with at most `lanes` blocks side by side: 8 (AVX2 where the CPU has
/// it, else as 4), 4 (SSE2) or 1 (the block function alone). For tests, which compare them.
void philox4x32_10_blocks_lanes(int lanes, std::uint32_t c0, std::uint32_t c1, std::uint32_t c2,
                                std::uint32_t c3, std::array<std::uint32_t, 2> key, std::size_t n,
                                Philox4x32 *out) noexcept;

/// 64-bit identity of a named quantity ("facility/cn_ga_1/capacity"): FNV-1a followed by
/// a SplitMix64 finaliser. Collisions are checked when the model is built.
std::uint64_t quantity_id(std::string_view name) noexcept;

/// A uniform random bit generator (satisfies std::uniform_random_bit_generator and the
/// Boost.Random engine concept) producing the stream of one quantity in one trial.
class Stream {
public:
    using result_type = std::uint64_t;

    Stream(std::uint64_t seed, std::uint64_t trial, std::uint64_t qid) noexcept
        : key_{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}, qid_(qid),
          trial_(static_cast<std::uint32_t>(trial)) {}

    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }

    result_type operator()() noexcept {
        if (avail_ == 0)
            refill();
        return buf_[--avail_];
    }

    /// Uniform double in the open interval (0, 1), 53 random bits.
    double uniform01() noexcept { return (static_cast<double>((*this)() >> 11) + 0.5) * 0x1.0p-53; }

    /// The next n outputs into out[0, n): exactly the values, and the state after, of n calls
    /// of operator(). Whole blocks are computed several at a time (philox4x32_10_blocks), for
    /// the streams that serve thousands of values (the bootstrap's resampling).
    void fill(std::uint64_t *out, std::size_t n) noexcept;

private:
    void refill() noexcept {
        const Philox4x32 ctr{block_++, static_cast<std::uint32_t>(qid_),
                             static_cast<std::uint32_t>(qid_ >> 32), trial_};
        const auto r = philox4x32_10(ctr, key_);
        // Served from the back: buf_[1] first, then buf_[0].
        buf_[0] = (static_cast<std::uint64_t>(r[3]) << 32) | r[2];
        buf_[1] = (static_cast<std::uint64_t>(r[1]) << 32) | r[0];
        avail_ = 2;
    }

    std::array<std::uint32_t, 2> key_;
    std::uint64_t qid_;
    std::uint32_t trial_;
    std::uint32_t block_ = 0;
    std::array<std::uint64_t, 2> buf_{};
    int avail_ = 0;
};

inline Philox4x32 philox4x32_10(Philox4x32 c, std::array<std::uint32_t, 2> k) noexcept {
    constexpr std::uint64_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
    constexpr std::uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k[0] += W0;
            k[1] += W1;
        }
        const std::uint64_t p0 = M0 * c[0];
        const std::uint64_t p1 = M1 * c[2];
        c = {static_cast<std::uint32_t>(p1 >> 32) ^ c[1] ^ k[0], static_cast<std::uint32_t>(p1),
             static_cast<std::uint32_t>(p0 >> 32) ^ c[3] ^ k[1], static_cast<std::uint32_t>(p0)};
    }
    return c;
}

inline std::uint64_t quantity_id(std::string_view name) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char ch : name) {
        h ^= ch;
        h *= 0x100000001b3ull;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

/// x mod d for a fixed divisor d >= 1, the value of `x % d` for every 64-bit x, without a
/// division per call (a 64-bit `div` is tens of cycles; the bootstrap's resampling draws one
/// index per trial per replicate). With m = floor((2^64 - 1) / d), write m d = 2^64 - 1 - e,
/// 0 <= e < d: then x m / 2^64 = x / d - x (1 + e) / (d 2^64) lies in (x / d - 1, x / d], so
/// q = floor(x m / 2^64) is floor(x / d) or one less, and x - q d lies in [0, 2 d): one
/// subtraction of d at most gives the remainder.
class ExactMod {
    __extension__ using Wide = unsigned __int128; // GCC and Clang on 64-bit targets

public:
    explicit ExactMod(std::uint64_t d) noexcept
        : d_(d), m_(d ? std::numeric_limits<std::uint64_t>::max() / d : 0) {}
    std::uint64_t operator()(std::uint64_t x) const noexcept {
        const auto q = static_cast<std::uint64_t>((static_cast<Wide>(x) * m_) >> 64);
        const std::uint64_t r = x - q * d_;
        return r >= d_ ? r - d_ : r;
    }

private:
    std::uint64_t d_, m_;
};

} // namespace chokepoint
