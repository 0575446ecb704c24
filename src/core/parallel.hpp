// Work split by index over a fixed number of threads, for passes whose result must not depend
// on that number: each index is one task's alone.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

namespace chokepoint {

/// Runs fn(i) for i in [0, count) on up to `threads` threads (at most the machine's cores: more
/// gain nothing and make TBB warn), in order on the calling thread when that is one or count < 2.
/// Work that keeps to its own index gives the same result on any number of threads. One object
/// keeps its arena across calls (a pass that hands on many small slabs starts it once).
class IndexTasks {
public:
    explicit IndexTasks(int threads) {
        threads = std::min(threads, tbb::info::default_concurrency());
        if (threads > 1)
            arena_.emplace(threads);
    }

    template <class Fn> void operator()(std::size_t count, const Fn &fn) {
        if (!arena_ || count < 2) {
            for (std::size_t i = 0; i < count; ++i)
                fn(i);
            return;
        }
        arena_->execute(
            [&] { tbb::parallel_for(std::size_t(0), count, [&](std::size_t i) { fn(i); }); });
    }

private:
    std::optional<tbb::task_arena> arena_;
};

} // namespace chokepoint
