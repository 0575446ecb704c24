#include "core/random.hpp"

#include <algorithm>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace chokepoint {

namespace {

#if defined(__SSE2__)
/// 4 x G blocks, counters c0 + i in word 0 (lane i % 4 of group i / 4): each lane runs the
/// rounds of philox4x32_10 exactly (32 x 32 -> 64-bit products, their halves, xors with the
/// round key), G groups interleaved so that their multiplications overlap.
template <int G>
void philox_sse2(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3,
                 std::array<std::uint32_t, 2> key, Philox4x32 *out) noexcept {
    __m128i a[G], b[G], c[G], d[G];
    for (int g = 0; g < G; ++g) {
        a[g] = _mm_add_epi32(_mm_set1_epi32(static_cast<int>(c0 + 4u * static_cast<unsigned>(g))),
                             _mm_set_epi32(3, 2, 1, 0));
        b[g] = _mm_set1_epi32(static_cast<int>(c1));
        c[g] = _mm_set1_epi32(static_cast<int>(c2));
        d[g] = _mm_set1_epi32(static_cast<int>(c3));
    }
    const __m128i m0 = _mm_set1_epi32(static_cast<int>(0xD2511F53u));
    const __m128i m1 = _mm_set1_epi32(static_cast<int>(0xCD9E8D57u));
    std::uint32_t k0 = key[0], k1 = key[1];
    // The high and low halves of x * m per lane: the products of lanes 0, 2 and of 1, 3
    // (_mm_mul_epu32 multiplies the even lanes), each's [lo, hi] pairs then regrouped.
    auto mul = [](__m128i x, __m128i m, __m128i &hi, __m128i &lo) {
        const __m128i even = _mm_shuffle_epi32(_mm_mul_epu32(x, m), _MM_SHUFFLE(3, 1, 2, 0));
        const __m128i odd =
            _mm_shuffle_epi32(_mm_mul_epu32(_mm_srli_epi64(x, 32), m), _MM_SHUFFLE(3, 1, 2, 0));
        lo = _mm_unpacklo_epi32(even, odd);
        hi = _mm_unpackhi_epi32(even, odd);
    };
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        const __m128i vk0 = _mm_set1_epi32(static_cast<int>(k0));
        const __m128i vk1 = _mm_set1_epi32(static_cast<int>(k1));
        for (int g = 0; g < G; ++g) {
            __m128i hi0, lo0, hi1, lo1;
            mul(a[g], m0, hi0, lo0);
            mul(c[g], m1, hi1, lo1);
            a[g] = _mm_xor_si128(_mm_xor_si128(hi1, b[g]), vk0);
            c[g] = _mm_xor_si128(_mm_xor_si128(hi0, d[g]), vk1);
            b[g] = lo1;
            d[g] = lo0;
        }
    }
    for (int g = 0; g < G; ++g) { // lanes back to blocks: a 4 x 4 transpose
        const __m128i ab_lo = _mm_unpacklo_epi32(a[g], b[g]),
                      cd_lo = _mm_unpacklo_epi32(c[g], d[g]);
        const __m128i ab_hi = _mm_unpackhi_epi32(a[g], b[g]),
                      cd_hi = _mm_unpackhi_epi32(c[g], d[g]);
        auto *o = reinterpret_cast<__m128i *>(out + 4 * g);
        _mm_storeu_si128(o + 0, _mm_unpacklo_epi64(ab_lo, cd_lo));
        _mm_storeu_si128(o + 1, _mm_unpackhi_epi64(ab_lo, cd_lo));
        _mm_storeu_si128(o + 2, _mm_unpacklo_epi64(ab_hi, cd_hi));
        _mm_storeu_si128(o + 3, _mm_unpackhi_epi64(ab_hi, cd_hi));
    }
}
#endif

#if defined(__x86_64__)
/// Whether the CPU and the operating system give AVX2 (the 256-bit registers' state saved).
bool have_avx2() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return false;
    const bool osxsave = c & (1u << 27), avx = c & (1u << 28);
    if (!osxsave || !avx)
        return false;
    unsigned xlo = 0, xhi = 0;
    __asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    if ((xlo & 0x6u) != 0x6u) // XMM and YMM state enabled
        return false;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return false;
    return b & (1u << 5);
}

/// The high and low halves of x * m per lane, as philox_sse2's `mul` in each 128-bit half.
__attribute__((target("avx2"), always_inline)) inline void
mul_avx2(const __m256i &x, const __m256i &m, __m256i &hi, __m256i &lo) noexcept {
    const __m256i even = _mm256_shuffle_epi32(_mm256_mul_epu32(x, m), _MM_SHUFFLE(3, 1, 2, 0));
    const __m256i odd = _mm256_shuffle_epi32(_mm256_mul_epu32(_mm256_srli_epi64(x, 32), m),
                                             _MM_SHUFFLE(3, 1, 2, 0));
    lo = _mm256_unpacklo_epi32(even, odd);
    hi = _mm256_unpackhi_epi32(even, odd);
}

/// philox_sse2 in AVX2 registers: 8 x G blocks, counters c0 + i in word 0 (lane i % 8 of group
/// i / 8). Every operation works within each 128-bit half as the SSE2 code does on its four
/// lanes (the products of the even lanes, the shuffles and unpacks), so each half is that
/// code's arithmetic on four blocks: the low half blocks 0-3 of the group, the high half 4-7.
template <int G>
__attribute__((target("avx2"))) void
philox_avx2(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3,
            std::array<std::uint32_t, 2> key, Philox4x32 *out) noexcept {
    __m256i a[G], b[G], c[G], d[G];
    for (int g = 0; g < G; ++g) {
        a[g] = _mm256_add_epi32(
            _mm256_set1_epi32(static_cast<int>(c0 + 8u * static_cast<unsigned>(g))),
            _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0));
        b[g] = _mm256_set1_epi32(static_cast<int>(c1));
        c[g] = _mm256_set1_epi32(static_cast<int>(c2));
        d[g] = _mm256_set1_epi32(static_cast<int>(c3));
    }
    const __m256i m0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u));
    const __m256i m1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
    std::uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        const __m256i vk0 = _mm256_set1_epi32(static_cast<int>(k0));
        const __m256i vk1 = _mm256_set1_epi32(static_cast<int>(k1));
        for (int g = 0; g < G; ++g) {
            __m256i hi0, lo0, hi1, lo1;
            mul_avx2(a[g], m0, hi0, lo0);
            mul_avx2(c[g], m1, hi1, lo1);
            a[g] = _mm256_xor_si256(_mm256_xor_si256(hi1, b[g]), vk0);
            c[g] = _mm256_xor_si256(_mm256_xor_si256(hi0, d[g]), vk1);
            b[g] = lo1;
            d[g] = lo0;
        }
    }
    for (int g = 0; g < G; ++g) { // a 4 x 4 transpose in each half, then the halves in order
        const __m256i ab_lo = _mm256_unpacklo_epi32(a[g], b[g]),
                      cd_lo = _mm256_unpacklo_epi32(c[g], d[g]);
        const __m256i ab_hi = _mm256_unpackhi_epi32(a[g], b[g]),
                      cd_hi = _mm256_unpackhi_epi32(c[g], d[g]);
        const __m256i r0 = _mm256_unpacklo_epi64(ab_lo, cd_lo), // blocks 0 | 4
            r1 = _mm256_unpackhi_epi64(ab_lo, cd_lo),           // blocks 1 | 5
            r2 = _mm256_unpacklo_epi64(ab_hi, cd_hi),           // blocks 2 | 6
            r3 = _mm256_unpackhi_epi64(ab_hi, cd_hi);           // blocks 3 | 7
        auto *o = reinterpret_cast<__m256i *>(out + 8 * g);
        _mm256_storeu_si256(o + 0, _mm256_permute2x128_si256(r0, r1, 0x20));
        _mm256_storeu_si256(o + 1, _mm256_permute2x128_si256(r2, r3, 0x20));
        _mm256_storeu_si256(o + 2, _mm256_permute2x128_si256(r0, r1, 0x31));
        _mm256_storeu_si256(o + 3, _mm256_permute2x128_si256(r2, r3, 0x31));
    }
}
#endif

} // namespace

bool philox_uses_avx2() {
#if defined(__x86_64__)
    static const bool yes = have_avx2();
    return yes;
#else
    return false;
#endif
}

void philox4x32_10_blocks_lanes(int lanes, std::uint32_t c0, std::uint32_t c1, std::uint32_t c2,
                                std::uint32_t c3, std::array<std::uint32_t, 2> key, std::size_t n,
                                Philox4x32 *out) noexcept {
    static_assert(sizeof(Philox4x32) == 16, "a block is four 32-bit words, packed");
    std::size_t i = 0;
#if defined(__x86_64__)
    if (lanes >= 8 && philox_uses_avx2())
        for (; i + 16 <= n; i += 16)
            philox_avx2<2>(c0 + static_cast<std::uint32_t>(i), c1, c2, c3, key, out + i);
#endif
#if defined(__SSE2__)
    if (lanes >= 4) {
        for (; i + 12 <= n; i += 12)
            philox_sse2<3>(c0 + static_cast<std::uint32_t>(i), c1, c2, c3, key, out + i);
        for (; i + 4 <= n; i += 4)
            philox_sse2<1>(c0 + static_cast<std::uint32_t>(i), c1, c2, c3, key, out + i);
    }
#endif
    for (; i < n; ++i)
        out[i] = philox4x32_10({c0 + static_cast<std::uint32_t>(i), c1, c2, c3}, key);
}

void philox4x32_10_blocks(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3,
                          std::array<std::uint32_t, 2> key, std::size_t n,
                          Philox4x32 *out) noexcept {
    philox4x32_10_blocks_lanes(8, c0, c1, c2, c3, key, n, out);
}

void Stream::fill(std::uint64_t *out, std::size_t n) noexcept {
    std::size_t k = 0;
    for (; k < n && avail_ > 0; ++k) // what the last block has left, as operator() serves it
        out[k] = buf_[static_cast<std::size_t>(--avail_)];
    // Whole blocks, (r1 << 32 | r0) then (r3 << 32 | r2) from each (refill's order), a batch
    // at a time.
    constexpr std::size_t kBatch = 48;
    Philox4x32 blocks[kBatch];
    while (n - k >= 2) {
        const std::size_t nb = std::min(kBatch, (n - k) / 2);
        philox4x32_10_blocks(block_, static_cast<std::uint32_t>(qid_),
                             static_cast<std::uint32_t>(qid_ >> 32), trial_, key_, nb, blocks);
        block_ += static_cast<std::uint32_t>(nb);
        for (std::size_t b = 0; b < nb; ++b, k += 2) {
            const Philox4x32 &r = blocks[b];
            out[k] = (static_cast<std::uint64_t>(r[1]) << 32) | r[0];
            out[k + 1] = (static_cast<std::uint64_t>(r[3]) << 32) | r[2];
        }
    }
    if (k < n) // one value left: a block as operator() takes it, its second value kept
        out[k] = (*this)();
}

} // namespace chokepoint
