// The rungs of the LP solver ladder (engine/lp.hpp) and how many LPs each answered: counted
// per block by the engine, merged exactly with the statistics, written by io.
#pragma once

#include <array>
#include <cstdint>

namespace chokepoint {

/// The rungs of the solver ladder, in the order they are tried.
enum class Rung : std::uint8_t { Warm, Cold, Bland, Library };
inline constexpr int kRungs = 4;
/// "warm", "cold", "bland", "clp".
inline const char *rung_name(Rung r) {
    switch (r) {
    case Rung::Warm:
        return "warm";
    case Rung::Cold:
        return "cold";
    case Rung::Bland:
        return "bland";
    case Rung::Library:
        return "clp";
    }
    return "?";
}
/// LPs answered per rung; those among them answered only after the allocator relaxed their fixed
/// lower bounds by the certificate tolerance (allocation.cpp); LPs no rung answered (they end the
/// run).
struct RungCounts {
    std::array<std::uint64_t, kRungs> solved{};
    std::uint64_t relaxed = 0, failed = 0;
    void merge(const RungCounts &o) {
        for (int i = 0; i < kRungs; ++i)
            solved[static_cast<std::size_t>(i)] += o.solved[static_cast<std::size_t>(i)];
        relaxed += o.relaxed;
        failed += o.failed;
    }
    std::uint64_t total() const {
        std::uint64_t t = failed;
        for (auto v : solved)
            t += v;
        return t;
    }
    bool operator==(const RungCounts &) const = default;
};

} // namespace chokepoint
