// Micro-benchmarks (Google Benchmark) of the engine's hot paths; run by scripts/bench.sh.
// Not a test: it prints figures and asserts nothing.
#include "config/config.hpp"
#include "core/random.hpp"
#include "engine/allocation.hpp"
#include "engine/simulate.hpp"

#include <benchmark/benchmark.h>
#include <map>
#include <string>

#ifndef CHOKEPOINT_SOURCE_DIR
#error "CHOKEPOINT_SOURCE_DIR must be defined"
#endif

namespace {
using namespace chokepoint;

const Model &model(const std::string &name) {
    static std::map<std::string, Model> cache;
    auto it = cache.find(name);
    if (it == cache.end())
        it =
            cache.emplace(name, load_model(std::string(CHOKEPOINT_SOURCE_DIR) + "/configs/" + name))
                .first;
    return it->second;
}

void BM_Philox(benchmark::State &state) {
    Stream s(42, 7, quantity_id("bench"));
    double acc = 0;
    for (auto _ : state)
        acc += s.uniform01();
    benchmark::DoNotOptimize(acc);
}
BENCHMARK(BM_Philox);

// Trials per second of one thread on a shipped config (a block of 100 trials per iteration).
void BM_Trials(benchmark::State &state, const char *config) {
    const Model &m = model(config);
    Simulator sim(m);
    BlockResult block;
    std::uint64_t first = 0;
    for (auto _ : state) {
        sim.run_block(first, 100, block);
        first += 100;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(first));
    const auto &st = sim.allocator_stats();
    state.counters["LPs/trial"] = static_cast<double>(st.lps) / static_cast<double>(first);
    state.counters["cold/trial"] =
        static_cast<double>(st.cold_first + st.cold_changed + st.cold_failed) /
        static_cast<double>(first);
    state.counters["pivots/trial"] = static_cast<double>(st.pivots) / static_cast<double>(first);
}
BENCHMARK_CAPTURE(BM_Trials, tiny, "examples/tiny.yaml")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Trials, gallium, "gallium.yaml")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Trials, samarium_cobalt, "samarium_cobalt.yaml")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Trials, ndfeb, "ndfeb.yaml")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Trials, critical_materials, "critical_materials.yaml")
    ->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
